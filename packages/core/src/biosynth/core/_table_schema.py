"""The one table schema: column types, ranges, categories, missingness and constraints between columns.

Owned by core so that every package reads the same metadata file: biosynth-tabular fits and samples
with it, biosynth-eval maps its types to the column kinds it scores (an identifier or free-text column
is never KS-scored). Version "2" adds `constraints` (inequalities between columns, fixed combinations);
a version "1" document loads as version "2" with no constraints. `read_table_metadata` also accepts
SDV-style metadata (`{"columns": {"age": {"sdtype": "numerical"}}}`, single- or multi-table), filling
ranges and categories from the data it describes.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from biosynth.core._errors import ConfigError, InputDataError

if TYPE_CHECKING:
    import pandas as pd

METADATA_VERSION: Literal["2"] = "2"
SUPPORTED_VERSIONS = ("1", "2")
Category = str | int | bool
_OPS: dict[str, Callable[[Any, Any], bool]] = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_EXPRESSION = re.compile(r"^\s*(?P<left>[^<>=\s]+)\s*(?P<op><=|>=|<|>)\s*(?P<right>[^<>=\s]+)\s*$")


InequalityOp = Literal["<", "<=", ">", ">="]


class Inequality(BaseModel):
    """`left op right` for two numerical or two datetime columns; a row missing either value passes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["inequality"] = "inequality"
    left: str = Field(min_length=1)
    op: InequalityOp
    right: str = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _from_expression(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_inequality(value)
        return value

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        if self.left == self.right:
            raise ValueError(f"inequality {self} compares column {self.left!r} with itself")
        return self

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.left, self.right)

    def __str__(self) -> str:
        return f"{self.left} {self.op} {self.right}"

    def violation(self, row: Mapping[str, Any]) -> str | None:
        a, b = _comparable(row.get(self.left)), _comparable(row.get(self.right))
        if a is None or b is None:
            return None
        try:
            holds = _OPS[self.op](a, b)
        except TypeError:
            return f"{self} cannot compare {row.get(self.left)!r} with {row.get(self.right)!r}"
        return None if holds else f"{self} is violated ({self.left}={_show(row.get(self.left))}, " \
                                  f"{self.right}={_show(row.get(self.right))})"


class FixedCombinations(BaseModel):
    """Only these combinations of values of `columns` may occur (those seen in the real data, typically)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["fixed_combinations"] = "fixed_combinations"
    columns: tuple[str, ...] = Field(min_length=2)
    combinations: tuple[tuple[Category, ...], ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if len(set(self.columns)) != len(self.columns):
            raise ValueError(f"fixed combinations list a column twice: {list(self.columns)}")
        for combo in self.combinations:
            if len(combo) != len(self.columns):
                raise ValueError(f"combination {list(combo)} has {len(combo)} values for {len(self.columns)} "
                                 f"columns {list(self.columns)}")
        return self

    def __str__(self) -> str:
        return f"fixed combinations of {', '.join(self.columns)}"

    def violation(self, row: Mapping[str, Any]) -> str | None:
        values = tuple(row.get(c) for c in self.columns)
        if any(v is None for v in values):
            return None
        if values in set(self.combinations):
            return None
        shown = ", ".join(f"{c}={_show(v)}" for c, v in zip(self.columns, values, strict=True))
        return f"{shown} is not an allowed combination of {', '.join(self.columns)}"


Constraint = Annotated[Inequality | FixedCombinations, Field(discriminator="type")]


def parse_inequality(expression: str) -> dict[str, str]:
    """`"admit_date <= discharge_date"` as Inequality fields; ValueError for anything else."""
    match = _EXPRESSION.match(expression)
    if match is None:
        raise ValueError(f"{expression!r} is not an inequality like 'admit_date <= discharge_date' "
                         "(operators <, <=, >, >=)")
    return {"type": "inequality", **match.groupdict()}


class ColumnType(StrEnum):
    NUMERICAL = "numerical"
    CATEGORICAL = "categorical"
    DATETIME = "datetime"
    BOOLEAN = "boolean"
    ID = "id"
    TEXT = "text"


class ColumnSpec(BaseModel):
    """One column: its type, what values it holds, and how often it is missing."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    type: ColumnType
    missing_fraction: float = Field(0.0, ge=0.0, le=1.0)
    minimum: float | None = Field(None, description="numerical columns")
    maximum: float | None = None
    integer: bool = Field(False, description="numerical columns holding whole numbers only")
    earliest: dt.datetime | None = Field(None, description="datetime columns")
    latest: dt.datetime | None = None
    categories: tuple[Category, ...] | None = Field(None, description="categorical columns: the allowed values")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.type is not ColumnType.NUMERICAL and (self.minimum is not None or self.maximum is not None):
            raise ValueError(f"column {self.name!r}: minimum/maximum apply to numerical columns, not {self.type}")
        if self.minimum is not None and self.maximum is not None and self.maximum < self.minimum:
            raise ValueError(f"column {self.name!r}: maximum {self.maximum} is below minimum {self.minimum}")
        if self.type is not ColumnType.DATETIME and (self.earliest is not None or self.latest is not None):
            raise ValueError(f"column {self.name!r}: earliest/latest apply to datetime columns, not {self.type}")
        if self.earliest is not None and self.latest is not None and self.latest < self.earliest:
            raise ValueError(f"column {self.name!r}: latest {self.latest} is before earliest {self.earliest}")
        if self.type is ColumnType.CATEGORICAL:
            if not self.categories:
                raise ValueError(f"categorical column {self.name!r} needs at least one category")
            if len(set(self.categories)) != len(self.categories):
                raise ValueError(f"categorical column {self.name!r} lists a category twice")
        elif self.categories is not None:
            raise ValueError(f"column {self.name!r}: categories apply to categorical columns, not {self.type}")
        return self


class TableMetadata(BaseModel):
    """Metadata of one table (spec version "2"): its columns in order and constraints between them.

    Edit with `with_column` / `with_constraint`. Constraints may be written as expressions
    (`"admit_date <= discharge_date"`) or as objects (`{type: fixed_combinations, columns: [...], ...}`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal["2"] = METADATA_VERSION
    table: str = "main"
    columns: tuple[ColumnSpec, ...] = Field(min_length=1)
    constraints: tuple[Constraint, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        if isinstance(data, dict):
            version = data.get("version", METADATA_VERSION)
            if version not in SUPPORTED_VERSIONS:
                raise ValueError(f"metadata version {version!r} is not supported (expected one of "
                                 f"{list(SUPPORTED_VERSIONS)})")
            if version == "1" and "constraints" in data:
                raise ValueError("metadata version '1' has no constraints; set version: '2'")
            data = {**data, "version": METADATA_VERSION}
        return data

    @model_validator(mode="after")
    def _unique(self) -> Self:
        names = [c.name for c in self.columns]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"column names must be unique; repeated: {repeated}")
        for constraint in self.constraints:
            _check_constraint(constraint, {c.name: c for c in self.columns})
        return self

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnSpec:
        for spec in self.columns:
            if spec.name == name:
                return spec
        raise ConfigError(f"table {self.table!r} has no column {name!r}; columns: {list(self.names)}")

    def with_column(self, spec: ColumnSpec) -> TableMetadata:
        """A copy with `spec` replacing the column of the same name (or appended)."""
        columns = [spec if c.name == spec.name else c for c in self.columns]
        if spec.name not in self.names:
            columns.append(spec)
        return self.model_copy(update={"columns": tuple(columns)})

    def with_constraint(self, constraint: Inequality | FixedCombinations | str) -> TableMetadata:
        """A copy with `constraint` added (an Inequality, FixedCombinations, or `"a <= b"`)."""
        if isinstance(constraint, str):
            try:
                constraint = Inequality.model_validate(constraint)
            except ValidationError as err:
                raise ConfigError(f"constraint {_first(err)}") from None
        try:
            return TableMetadata.model_validate({**self.model_dump(), "constraints": (*self.constraints, constraint)})
        except ValidationError as err:
            raise ConfigError(f"constraint {constraint} does not fit table {self.table!r}: {_first(err)}") from None

    def save(self, path: str | Path) -> None:
        from biosynth.core._atomic import atomic_write_text

        atomic_write_text(path, self.model_dump_json(indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path, data: pd.DataFrame | None = None, *, what: str = "metadata file") -> TableMetadata:
        """Read a metadata file: biosynth's own format, or SDV-style (then `data` fills ranges and categories)."""
        return read_table_metadata(path, data, what=what)


def _check_constraint(constraint: Inequality | FixedCombinations, columns: dict[str, ColumnSpec]) -> None:
    unknown = [c for c in constraint.columns if c not in columns]
    if unknown:
        raise ValueError(f"constraint {constraint} names unknown column(s) {unknown}; columns: {list(columns)}")
    if isinstance(constraint, Inequality):
        kinds = {columns[c].type for c in constraint.columns}
        if len(kinds) != 1 or not kinds <= {ColumnType.NUMERICAL, ColumnType.DATETIME}:
            shown = {c: str(columns[c].type) for c in constraint.columns}
            raise ValueError(f"inequality {constraint} needs two numerical or two datetime columns, got {shown}")
        return
    for position, name in enumerate(constraint.columns):
        spec = columns[name]
        if spec.type not in (ColumnType.CATEGORICAL, ColumnType.BOOLEAN):
            raise ValueError(f"{constraint}: column {name!r} is {spec.type}, expected categorical or boolean")
        allowed: tuple[object, ...] = (True, False) if spec.type is ColumnType.BOOLEAN else (spec.categories or ())
        unseen = sorted({str(combo[position]) for combo in constraint.combinations if combo[position] not in allowed})
        if unseen:
            raise ValueError(f"{constraint}: value(s) {unseen} of column {name!r} are not among its categories")


def _first(err: ValidationError) -> str:
    first = err.errors()[0]
    return str(first.get("msg", err)).removeprefix("Value error, ")


def _family(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, (dt.date, dt.datetime)):
        return "datetime"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


def detect_metadata(df: pd.DataFrame, *, table: str = "main", max_categories: int = 20,
                    fixed_combinations: Sequence[Sequence[str]] = (),
                    constraints: Sequence[Inequality | FixedCombinations | str] = ()) -> TableMetadata:
    """Detect column types, ranges, categories and missingness.

    `fixed_combinations`: sets of categorical/boolean columns whose combinations seen in `df` become the
    only ones allowed. `constraints`: inequalities (`"systolic > diastolic"`) to add; each must hold in
    `df`. Raises InputDataError for a table with fewer than two rows, a column that is entirely missing,
    or a column mixing kinds of values (numbers and strings, say), naming the column.
    """

    if len(df.columns) == 0:
        raise InputDataError(f"table {table!r} has no columns")
    if len(df) < 2:
        raise InputDataError(
            f"table {table!r} has {len(df)} row(s) (first column {str(df.columns[0])!r}); "
            "at least 2 rows are needed to detect metadata"
        )
    specs = [detect_column(df[raw_name], table=table, max_categories=max_categories) for raw_name in df.columns]
    metadata = TableMetadata(table=table, columns=tuple(specs))
    for group in fixed_combinations:
        metadata = metadata.with_constraint(_seen_combinations(df, metadata, group))
    for constraint in constraints:
        metadata = metadata.with_constraint(constraint)
    _check_data_fits(df, metadata)
    return metadata


def detect_column(series: pd.Series, *, table: str = "main", max_categories: int = 20,
                  as_type: ColumnType | None = None) -> ColumnSpec:
    """One column's spec, detected from its values; `as_type` fixes the type and detects only its details.

    An `id` or `*_id` column of unique whole numbers or strings is an identifier; strings of several words
    are free text; other strings with at most `max_categories` values are categories.
    """
    import pandas as pd
    from pandas.api import types as pdt

    name = str(series.name)
    present = series.dropna()
    if present.empty:
        raise InputDataError(f"column {name!r} of table {table!r} is entirely missing; drop it or fill it")
    missing = round(float(series.isna().mean()), 6)
    families = sorted({_family(v) for v in present.tolist()})
    if len(families) > 1 and as_type not in (ColumnType.TEXT, ColumnType.ID, ColumnType.CATEGORICAL):
        examples = {f: next(repr(v) for v in present.tolist() if _family(v) == f) for f in families}
        raise InputDataError(
            f"column {name!r} of table {table!r} mixes kinds of values ({', '.join(families)}; e.g. "
            f"{', '.join(examples.values())}); make it one type"
        )
    if as_type is None:
        as_type = _detect_type(series, present, families, max_categories)
    base = {"name": name, "type": as_type, "missing_fraction": missing}
    try:
        if as_type is ColumnType.NUMERICAL:
            values = pd.to_numeric(present)
            integer = bool((values == values.round()).all())
            return ColumnSpec(**base, minimum=float(values.min()), maximum=float(values.max()), integer=integer)
        if as_type is ColumnType.DATETIME:
            stamps = pd.to_datetime(present)
            return ColumnSpec(**base, earliest=stamps.min().to_pydatetime(), latest=stamps.max().to_pydatetime())
        if as_type is ColumnType.CATEGORICAL:
            if isinstance(series.dtype, pd.CategoricalDtype):
                return ColumnSpec(**base, categories=tuple(_scalar(v) for v in series.cat.categories))
            values = present.unique()
            if families == ["string"] or len(families) > 1:
                return ColumnSpec(**base, categories=tuple(sorted(str(v) for v in values)))
            return ColumnSpec(**base, categories=tuple(sorted((_scalar(v) for v in values), key=str)))
        if as_type is ColumnType.BOOLEAN and not (pdt.is_bool_dtype(series) or families == ["boolean"]):
            raise InputDataError(f"column {name!r} of table {table!r} is boolean in the metadata but holds "
                                 f"{families[0]} values")
    except (ValueError, TypeError) as err:
        raise InputDataError(f"column {name!r} of table {table!r} is {as_type} in the metadata but its values do not "
                             f"convert: {err}") from None
    return ColumnSpec(**base)


def _detect_type(series: pd.Series, present: pd.Series, families: list[str], max_categories: int) -> ColumnType:
    import pandas as pd
    from pandas.api import types as pdt

    name = str(series.name)
    id_like = name.lower() == "id" or name.lower().endswith("_id")
    unique = present.nunique() == len(present)
    if pdt.is_bool_dtype(series) or families == ["boolean"]:
        return ColumnType.BOOLEAN
    if pdt.is_datetime64_any_dtype(series) or families == ["datetime"]:
        return ColumnType.DATETIME
    if isinstance(series.dtype, pd.CategoricalDtype):
        return ColumnType.CATEGORICAL
    if families == ["number"]:
        values = pd.to_numeric(present)
        integer = bool((values == values.round()).all())
        return ColumnType.ID if id_like and integer and unique else ColumnType.NUMERICAL
    if families == ["string"]:
        if _wordy(present):
            return ColumnType.TEXT
        if unique and (id_like or len(present) > max_categories):
            return ColumnType.ID
        return ColumnType.CATEGORICAL if present.nunique() <= max_categories else ColumnType.TEXT
    raise InputDataError(f"column {name!r} holds values of an unsupported kind: {families[0]} (expected numbers, "
                         "strings, booleans or dates)")


# SDV sdtypes -> biosynth column types; every other sdtype (pii, email, phone_number, ...) is free text
_SDTYPES = {"numerical": ColumnType.NUMERICAL, "datetime": ColumnType.DATETIME, "categorical": ColumnType.CATEGORICAL,
            "ordinal": ColumnType.CATEGORICAL, "boolean": ColumnType.BOOLEAN, "id": ColumnType.ID,
            "text": ColumnType.TEXT, "other": ColumnType.TEXT}


def read_table_metadata(path: str | Path, data: pd.DataFrame | None = None, *,
                        what: str = "metadata file") -> TableMetadata:
    """A metadata file as `TableMetadata`: biosynth's own (version 1 or 2), or SDV-style, whose column
    types are kept and whose ranges and categories are read from `data` (the table it describes).

    Errors name the file: missing, a folder, unreadable, not UTF-8 JSON, or not metadata.
    """
    path = Path(path)
    if not path.exists():
        raise InputDataError(f"{what} {str(path)!r} does not exist")
    if not path.is_file():
        raise InputDataError(f"{what} {str(path)!r} is not a file (expected a JSON metadata file)")
    try:
        document = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as err:
        raise InputDataError(f"{what} {str(path)!r} cannot be read: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise InputDataError(f"{what} {str(path)!r} is not UTF-8 text (expected a JSON metadata file)") from None
    except json.JSONDecodeError as err:
        raise InputDataError(f"{what} {str(path)!r} is not JSON: {err}") from None
    return table_metadata_from(document, data, what=f"{what} {str(path)!r}")


def table_metadata_from(document: Any, data: pd.DataFrame | None = None, *, what: str = "metadata") -> TableMetadata:
    """`TableMetadata` from a parsed document: biosynth's format (`columns` a list of column specs), or SDV's
    (`columns` a mapping of name to `{"sdtype": ...}`, possibly under `tables`), or `{name: sdtype}`."""
    if isinstance(document, TableMetadata):
        return document
    if not isinstance(document, Mapping):
        raise InputDataError(f"{what} must hold a JSON object, got {type(document).__name__}")
    if isinstance(document.get("columns"), list):
        try:
            return TableMetadata.model_validate(document)
        except ValidationError as err:
            raise InputDataError(f"{what} is not valid table metadata: {err}") from None
    table, columns = _sdv_columns(document, what)
    if data is None:
        raise ConfigError(f"{what} is SDV-style (column sdtypes only): its ranges and categories are read from the "
                          "table it describes, so give the data with it")
    frame = data.rename(columns=str)
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise InputDataError(f"{what} names column(s) {missing} that the data lacks; it has {list(frame.columns)}")
    specs = []
    for name, sdtype in columns.items():
        if sdtype not in _SDTYPES and not isinstance(sdtype, str):
            raise InputDataError(f"{what}: column {name!r} has sdtype {sdtype!r}; expected a string such as "
                                 f"{sorted(_SDTYPES)}")
        specs.append(detect_column(frame[name], table=table, as_type=_SDTYPES.get(sdtype, ColumnType.TEXT)))
    return TableMetadata(table=table, columns=tuple(specs))


def column_types_from(document: Any, *, what: str = "metadata") -> dict[str, ColumnType]:
    """Column name -> type from a parsed metadata document (biosynth's, SDV's or `{name: sdtype}`) without the
    data: for consumers that need only the types (evaluation), not ranges or categories."""
    if isinstance(document, TableMetadata):
        return {c.name: c.type for c in document.columns}
    if not isinstance(document, Mapping):
        raise InputDataError(f"{what} must hold a JSON object, got {type(document).__name__}")
    if isinstance(document.get("columns"), list):
        return column_types_from(table_metadata_from(document, what=what), what=what)
    _, columns = _sdv_columns(document, what)
    types: dict[str, ColumnType] = {}
    for name, sdtype in columns.items():
        if not isinstance(sdtype, str):
            raise InputDataError(f"{what}: column {name!r} has sdtype {sdtype!r}; expected a string such as "
                                 f"{sorted(_SDTYPES)}")
        types[name] = _SDTYPES.get(sdtype, ColumnType.TEXT)
    return types


def _sdv_columns(document: Mapping[str, Any], what: str) -> tuple[str, dict[str, Any]]:
    table = "main"
    if isinstance(document.get("tables"), Mapping):  # SDV multi-table / METADATA_SPEC_VERSION V1
        tables = document["tables"]
        if len(tables) != 1:
            raise InputDataError(f"{what} describes {len(tables)} tables {sorted(tables)}; give one table's metadata")
        table, document = next(iter(tables.items()))
        if not isinstance(document, Mapping):
            raise InputDataError(f"{what}: table {table!r} must be a JSON object")
    raw = document.get("columns", document)
    if not isinstance(raw, Mapping) or not raw:
        raise InputDataError(f"{what} has no columns: expected biosynth metadata (`columns`: a list) or SDV metadata "
                             "(`columns`: name -> {\"sdtype\": ...})")
    columns: dict[str, Any] = {}
    for name, spec in raw.items():
        if name in ("METADATA_SPEC_VERSION", "primary_key", "relationships", "alternate_keys", "sequence_key",
                    "sequence_index") and not isinstance(spec, Mapping):
            continue
        columns[str(name)] = spec.get("sdtype") if isinstance(spec, Mapping) else spec
        if columns[str(name)] is None:
            raise InputDataError(f"{what}: column {name!r} has no sdtype")
    return table, columns


def _seen_combinations(df: pd.DataFrame, metadata: TableMetadata, group: Sequence[str]) -> FixedCombinations:
    columns = tuple(str(c) for c in group)
    for name in columns:
        metadata.column(name)  # unknown -> ConfigError naming it
    frame = df.rename(columns=str)[list(columns)].dropna()
    if frame.empty:
        raise InputDataError(f"no row of table {metadata.table!r} has all of {list(columns)}; cannot detect "
                             "their fixed combinations")
    combos = sorted({tuple(_scalar(v) for v in row) for row in frame.itertuples(index=False)}, key=str)
    return FixedCombinations(columns=columns, combinations=tuple(combos))


def _check_data_fits(df: pd.DataFrame, metadata: TableMetadata) -> None:
    """The table must satisfy the constraints detected or given for it (rows missing a value pass)."""
    if not metadata.constraints:
        return
    bad: list[str] = []
    for index, row in enumerate(df.rename(columns=str).to_dict("records")):
        values = {name: plain_value(value) for name, value in row.items()}
        for constraint in metadata.constraints:
            message = constraint.violation(values)
            if message is not None:
                bad.append(f"row {index}, columns {', '.join(repr(c) for c in constraint.columns)}: {message}")
    if bad:
        raise InputDataError(f"table {metadata.table!r} breaks its own constraint ({len(bad)} row(s)); first: {bad[0]}")


def _wordy(values: pd.Series) -> bool:
    """Free text rather than identifiers: several words on average."""
    return float(values.astype(str).str.count(" ").mean()) >= 2


def _scalar(value: object) -> Category:
    item = getattr(value, "item", None)
    value = item() if callable(item) else value  # numpy scalars to Python scalars
    return value if isinstance(value, (bool, int, str)) else str(value)


def plain_value(value: Any) -> Any:
    """numpy / pandas scalars as Python values; NaN, NaT and NA as None."""
    import pandas as pd

    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        return None if pd.isna(value) else value.to_pydatetime()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, (str, bytes)):
        value = item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _comparable(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    return value


def _show(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return repr(value)


