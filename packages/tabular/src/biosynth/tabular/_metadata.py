"""A versioned table-metadata spec (SDV's idea as frozen pydantic models) and its detection from a DataFrame.

Version "2" adds `constraints` (inequalities between columns, fixed combinations); a version "1" document
loads as version "2" with no constraints.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from biosynth.core import ConfigError, InputDataError
from biosynth.tabular._constraints import Constraint, FixedCombinations, Inequality

if TYPE_CHECKING:
    import pandas as pd

METADATA_VERSION: Literal["2"] = "2"
SUPPORTED_VERSIONS = ("1", "2")
Category = str | int | bool


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
            constraint = Inequality.model_validate(constraint)
        try:
            return TableMetadata.model_validate({**self.model_dump(), "constraints": (*self.constraints, constraint)})
        except ValidationError as err:
            raise ConfigError(f"constraint {constraint} does not fit table {self.table!r}: {_first(err)}") from None

    def save(self, path: str | Path) -> None:
        from biosynth.core._atomic import atomic_write_text

        atomic_write_text(path, self.model_dump_json(indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> TableMetadata:
        path = Path(path)
        try:
            return cls.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            raise InputDataError(f"metadata file {str(path)!r} does not exist") from None
        except ValidationError as err:
            raise InputDataError(f"metadata file {str(path)!r} is not valid table metadata: {err}") from None


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
    import pandas as pd
    from pandas.api import types as pdt

    if len(df.columns) == 0:
        raise InputDataError(f"table {table!r} has no columns")
    if len(df) < 2:
        raise InputDataError(
            f"table {table!r} has {len(df)} row(s) (first column {str(df.columns[0])!r}); "
            "at least 2 rows are needed to detect metadata"
        )
    specs: list[ColumnSpec] = []
    for raw_name in df.columns:
        name = str(raw_name)
        series = df[raw_name]
        present = series.dropna()
        if present.empty:
            raise InputDataError(f"column {name!r} of table {table!r} is entirely missing; drop it or fill it")
        missing = round(float(series.isna().mean()), 6)
        families = sorted({_family(v) for v in present.tolist()})
        if len(families) > 1:
            examples = {f: next(repr(v) for v in present.tolist() if _family(v) == f) for f in families}
            raise InputDataError(
                f"column {name!r} of table {table!r} mixes kinds of values ({', '.join(families)}; e.g. "
                f"{', '.join(examples.values())}); make it one type"
            )
        id_like = name.lower() == "id" or name.lower().endswith("_id")
        unique = present.nunique() == len(present)
        if pdt.is_bool_dtype(series) or families == ["boolean"]:
            spec = ColumnSpec(name=name, type=ColumnType.BOOLEAN, missing_fraction=missing)
        elif pdt.is_datetime64_any_dtype(series) or families == ["datetime"]:
            stamps = pd.to_datetime(present)
            spec = ColumnSpec(name=name, type=ColumnType.DATETIME, missing_fraction=missing,
                              earliest=stamps.min().to_pydatetime(), latest=stamps.max().to_pydatetime())
        elif isinstance(series.dtype, pd.CategoricalDtype):
            spec = ColumnSpec(name=name, type=ColumnType.CATEGORICAL, missing_fraction=missing,
                              categories=tuple(_scalar(v) for v in series.cat.categories))
        elif families == ["number"]:
            values = pd.to_numeric(present)
            integer = bool((values == values.round()).all())
            if id_like and integer and unique:
                spec = ColumnSpec(name=name, type=ColumnType.ID, missing_fraction=missing)
            else:
                spec = ColumnSpec(name=name, type=ColumnType.NUMERICAL, missing_fraction=missing,
                                  minimum=float(values.min()), maximum=float(values.max()), integer=integer)
        elif families == ["string"]:
            n_unique = present.nunique()
            if _wordy(present):
                spec = ColumnSpec(name=name, type=ColumnType.TEXT, missing_fraction=missing)
            elif unique and (id_like or len(present) > max_categories):
                spec = ColumnSpec(name=name, type=ColumnType.ID, missing_fraction=missing)
            elif n_unique <= max_categories:
                spec = ColumnSpec(name=name, type=ColumnType.CATEGORICAL, missing_fraction=missing,
                                  categories=tuple(sorted(str(v) for v in present.unique())))
            else:
                spec = ColumnSpec(name=name, type=ColumnType.TEXT, missing_fraction=missing)
        else:
            raise InputDataError(f"column {name!r} of table {table!r} holds values of an unsupported kind: "
                                 f"{families[0]} (expected numbers, strings, booleans or dates)")
        specs.append(spec)
    metadata = TableMetadata(table=table, columns=tuple(specs))
    for group in fixed_combinations:
        metadata = metadata.with_constraint(_seen_combinations(df, metadata, group))
    for constraint in constraints:
        metadata = metadata.with_constraint(constraint)
    _check_data_fits(df, metadata)
    return metadata


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
    if not metadata.constraints:
        return
    from biosynth.tabular._constraints import check_rows

    bad = [v for v in check_rows(df, metadata) if len(v.columns) > 1]
    if bad:
        raise InputDataError(f"table {metadata.table!r} breaks its own constraint ({len(bad)} row(s)); first: {bad[0]}")


def _wordy(values: pd.Series) -> bool:
    """Free text rather than identifiers: several words on average."""
    return float(values.astype(str).str.count(" ").mean()) >= 2


def _scalar(value: object) -> Category:
    item = getattr(value, "item", None)
    value = item() if callable(item) else value  # numpy scalars to Python scalars
    return value if isinstance(value, (bool, int, str)) else str(value)
