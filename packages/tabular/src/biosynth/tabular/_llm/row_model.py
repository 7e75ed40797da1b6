"""`row_model(metadata)`: a pydantic model of one row (types, ranges, categories, nullability, constraints).

Validation is strict on types (a number is not accepted as a string nor the reverse) and goes through
JSON, so a row from a language model's JSON and a row from a DataFrame are judged alike. Its
`model_json_schema()` is the schema handed to backends that can constrain their output.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    model_validator,
)

from biosynth.tabular._constraints import FixedCombinations, Inequality
from biosynth.tabular._metadata import ColumnSpec, ColumnType, TableMetadata


class TableRow(BaseModel):
    """Base of generated row models: fields are aliased by column name (any string works as a name)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, populate_by_name=False)

    __biosynth_metadata__: ClassVar[TableMetadata | None] = None
    __biosynth_constraints__: ClassVar[tuple[Inequality | FixedCombinations, ...]] = ()

    @model_validator(mode="after")
    def _constraints(self, info: ValidationInfo) -> TableRow:
        if info.context and info.context.get("skip_constraints"):
            return self
        values = self.model_dump(by_alias=True)
        problems = [m for c in type(self).__biosynth_constraints__ if (m := c.violation(values)) is not None]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def values(self) -> dict[str, Any]:
        """The row as column -> value (datetimes as ISO strings: JSON-ready scalars)."""
        return self.model_dump(by_alias=True, mode="json")


def row_model(metadata: TableMetadata) -> type[TableRow]:
    """A pydantic model of one row of `metadata`'s table (cached per metadata)."""
    return _build(metadata.model_dump_json())


@functools.lru_cache(maxsize=64)
def _build(metadata_json: str) -> type[TableRow]:
    metadata = TableMetadata.model_validate_json(metadata_json)
    fields: dict[str, Any] = {}
    for i, spec in enumerate(metadata.columns):
        fields[f"c{i}"] = (_annotation(spec), Field(alias=spec.name, description=_describe(spec)))
    model = create_model(  # type: ignore[call-overload]
        f"{_camel(metadata.table)}Row", __base__=TableRow, __doc__=f"One row of table {metadata.table!r}.", **fields)
    model.__biosynth_constraints__ = tuple(metadata.constraints)
    model.__biosynth_metadata__ = metadata
    return model  # type: ignore[no-any-return]


def validate_row(model: type[TableRow], row: Mapping[str, Any], *, constraints: bool = True) -> TableRow:
    """Validate one row (a mapping) strictly, as JSON; raises pydantic's ValidationError."""
    metadata = model.__biosynth_metadata__
    assert metadata is not None, "validate_row takes a model made by row_model()"
    whole = {c.name for c in metadata.columns if c.type is ColumnType.NUMERICAL and c.integer}
    values = {k: int(v) if k in whole and isinstance(v, float) and v.is_integer() else v for k, v in row.items()}
    payload = json.dumps(values, default=_json_default, allow_nan=False)
    return model.model_validate_json(payload, context={"skip_constraints": not constraints})


def field_errors(model: type[TableRow], row: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(column, message) for each column of `row` that breaks its type, range, category or nullability."""
    try:
        validate_row(model, row, constraints=False)
    except ValidationError as err:
        return [(str(e["loc"][0]) if e["loc"] else "", _message(e)) for e in err.errors()]
    except ValueError as err:  # NaN / infinity cannot be written as JSON
        return [("", f"row holds a value JSON cannot carry: {err}")]
    return []


def _message(error: Any) -> str:
    msg = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        return "value missing (the column is required)"
    if error["type"] == "extra_forbidden":
        return "column not in the metadata"
    return f"{msg} (got {error['input']!r})"


def _annotation(spec: ColumnSpec) -> Any:
    base: Any
    if spec.type is ColumnType.NUMERICAL:
        number = int if spec.integer else float
        base = Annotated[number, Field(ge=spec.minimum, le=spec.maximum)]
    elif spec.type is ColumnType.CATEGORICAL:
        base = Literal[tuple(spec.categories or ())]  # type: ignore[misc]
    elif spec.type is ColumnType.BOOLEAN:
        base = bool
    elif spec.type is ColumnType.DATETIME:
        base = Annotated[dt.datetime, BeforeValidator(_iso_datetime), AfterValidator(functools.partial(_within, spec=spec))]
    elif spec.type is ColumnType.ID:
        base = str | int
    else:
        base = str
    return base | None if spec.missing_fraction > 0 else base


def _iso_datetime(value: Any) -> Any:
    """ISO 8601 text as a datetime (a plain date is midnight); other values go on to strict validation."""
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def _within(value: dt.datetime, spec: ColumnSpec) -> dt.datetime:
    naive = value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
    if spec.earliest is not None and naive < spec.earliest.replace(tzinfo=None):
        raise ValueError(f"{value.isoformat()} is before the earliest allowed {spec.earliest.isoformat()}")
    if spec.latest is not None and naive > spec.latest.replace(tzinfo=None):
        raise ValueError(f"{value.isoformat()} is after the latest allowed {spec.latest.isoformat()}")
    return value


def _describe(spec: ColumnSpec) -> str | None:
    parts: list[str] = []
    if spec.type is ColumnType.DATETIME:
        parts.append("ISO 8601 date-time")
        if spec.earliest is not None:
            parts.append(f"from {spec.earliest.isoformat()}")
        if spec.latest is not None:
            parts.append(f"to {spec.latest.isoformat()}")
    if spec.type is ColumnType.ID:
        parts.append("identifier")
    if spec.type is ColumnType.TEXT:
        parts.append("free text")
    if spec.missing_fraction > 0:
        parts.append(f"null in {spec.missing_fraction:.0%} of rows")
    return ", ".join(parts) or None


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    raise TypeError(f"{type(value).__name__} is not a table value")


def _camel(name: str) -> str:
    words = "".join(ch if ch.isalnum() else " " for ch in name).split()
    return "".join(w[:1].upper() + w[1:] for w in words) or "Table"
