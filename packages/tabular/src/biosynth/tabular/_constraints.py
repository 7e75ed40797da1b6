"""Constraints between columns (part of the metadata spec) and `check_rows`, which names row and column.

Per-column ranges live on `ColumnSpec` (minimum/maximum, earliest/latest); the constraints here relate
several columns: an `Inequality` (`admit_date <= discharge_date`, `systolic > diastolic`) and
`FixedCombinations` (only the listed category combinations of a set of columns are allowed).
"""

from __future__ import annotations

import datetime as dt
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from biosynth.core import InputDataError

if TYPE_CHECKING:
    import pandas as pd

    from biosynth.tabular._metadata import TableMetadata

Category = str | int | bool
InequalityOp = Literal["<", "<=", ">", ">="]
_OPS: dict[str, Callable[[Any, Any], bool]] = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_EXPRESSION = re.compile(r"^\s*(?P<left>[^<>=\s]+)\s*(?P<op><=|>=|<|>)\s*(?P<right>[^<>=\s]+)\s*$")


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


@dataclass(frozen=True)
class Violation:
    """One problem of one row: its position, the column(s) at fault, what is wrong."""

    row: int
    columns: tuple[str, ...]
    message: str

    @property
    def column(self) -> str:
        return self.columns[0] if self.columns else ""

    def __str__(self) -> str:
        where = ", ".join(repr(c) for c in self.columns)
        label = "column" if len(self.columns) == 1 else "columns"
        return f"row {self.row}, {label} {where}: {self.message}" if self.columns else f"row {self.row}: {self.message}"


def check_rows(rows: pd.DataFrame | Iterable[Mapping[str, Any]], metadata: TableMetadata) -> list[Violation]:
    """Every violation of the metadata in `rows`: missing or extra columns, types, ranges, categories,
    missing values where none are allowed, and the constraints. An empty list means every row is valid.
    """
    from biosynth.tabular._llm.row_model import row_model

    model = row_model(metadata)
    found: list[Violation] = []
    for index, row in enumerate(_records(rows)):
        found += row_violations(row, metadata, index=index, model=model)
    return found


def row_violations(row: Mapping[str, Any], metadata: TableMetadata, *, index: int = 0,
                   model: type[BaseModel] | None = None) -> list[Violation]:
    """The violations of one row (a mapping of column name to value)."""
    from biosynth.tabular._llm.row_model import field_errors, row_model, validate_row

    model = model or row_model(metadata)
    clean = {str(k): _plain(v) for k, v in row.items()}
    errors = field_errors(model, clean)  # type: ignore[arg-type]
    found = [Violation(index, (column,) if column else (), message) for column, message in errors]
    if errors:
        return found
    values = validate_row(model, clean, constraints=False).model_dump(by_alias=True)  # type: ignore[arg-type]
    for constraint in metadata.constraints:
        message = constraint.violation(values)
        if message is not None:
            found.append(Violation(index, constraint.columns, message))
    return found


def _records(rows: pd.DataFrame | Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    import pandas as pd

    if isinstance(rows, pd.DataFrame):
        return rows.rename(columns=str).to_dict("records")
    out = list(rows)
    for i, row in enumerate(out):
        if not isinstance(row, Mapping):
            raise InputDataError(f"row {i} is a {type(row).__name__}, expected a mapping of column to value")
    return out


def _plain(value: Any) -> Any:
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


