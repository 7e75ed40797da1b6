"""`check_rows` and `row_violations`: every problem of a row against the table schema, naming row and column.

The schema itself (column specs, and the constraints `Inequality` and `FixedCombinations` between
columns) is core's (`biosynth.core._table_schema`); the checks here validate through tabular's row
model, the same pydantic model constrained decoding uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from biosynth.core import InputDataError
from biosynth.core._table_schema import (
    Constraint,
    FixedCombinations,
    Inequality,
    TableMetadata,
    parse_inequality,
    plain_value,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Constraint", "FixedCombinations", "Inequality", "Violation", "check_rows", "parse_inequality",
           "row_violations"]
_plain = plain_value


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
