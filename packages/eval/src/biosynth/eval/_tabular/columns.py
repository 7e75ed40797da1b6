"""Column kinds (SDMetrics' sdtypes) mapped from core's table schema, and the checks that real and synthetic
tables line up."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Union

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from biosynth.core import ColumnType, InputDataError, TableMetadata, column_types_from
from biosynth.core._table_schema import detect_column


class ColumnKind(StrEnum):
    NUMERICAL = "numerical"
    DATETIME = "datetime"
    CATEGORICAL = "categorical"
    BOOLEAN = "boolean"
    OTHER = "other"  # ids, free text: ignored by the tabular metrics (as SDMetrics ignores 'id', 'pii')

    @property
    def continuous(self) -> bool:
        return self in (ColumnKind.NUMERICAL, ColumnKind.DATETIME)

    @property
    def discrete(self) -> bool:
        return self in (ColumnKind.CATEGORICAL, ColumnKind.BOOLEAN)


# core's column types -> the kinds eval scores; identifiers and free text are never scored
_KIND_OF_TYPE = {ColumnType.NUMERICAL: ColumnKind.NUMERICAL, ColumnType.DATETIME: ColumnKind.DATETIME,
                 ColumnType.CATEGORICAL: ColumnKind.CATEGORICAL, ColumnType.BOOLEAN: ColumnKind.BOOLEAN,
                 ColumnType.ID: ColumnKind.OTHER, ColumnType.TEXT: ColumnKind.OTHER}
_KIND_VALUES = {kind.value: kind for kind in ColumnKind}

MetadataLike = Union["ColumnKinds", TableMetadata, Mapping[str, Any], None]


class ColumnKinds(BaseModel):
    """Column name -> the kind eval scores it as, mapped from core's one table schema (`TableMetadata`).

    `coerce` takes core `TableMetadata` (a biosynth metadata file, as `biosynth tabular` writes), an SDV-style
    mapping (`{"columns": {"age": {"sdtype": "numerical"}}}`), `{name: kind}`, or None (detected from the real
    table with core's `detect_metadata`, the same detection biosynth-tabular uses).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    columns: dict[str, ColumnKind]

    @classmethod
    def coerce(cls, metadata: MetadataLike, frame: pd.DataFrame) -> ColumnKinds:
        if metadata is None:
            return infer_metadata(frame)
        if isinstance(metadata, ColumnKinds):
            return metadata
        if isinstance(metadata, TableMetadata):
            return cls.from_schema(metadata)
        if isinstance(metadata, Mapping):
            plain = metadata.get("columns", metadata)
            if isinstance(plain, Mapping) and all(str(v) in _KIND_VALUES for v in plain.values()):
                return cls(columns={str(k): _KIND_VALUES[str(v)] for k, v in plain.items()})
        types = column_types_from(metadata, what="metadata")
        return cls(columns={name: _KIND_OF_TYPE[kind] for name, kind in types.items()})

    @classmethod
    def from_schema(cls, metadata: TableMetadata) -> ColumnKinds:
        return cls(columns={c.name: _KIND_OF_TYPE[c.type] for c in metadata.columns})

    def of(self, *kinds: ColumnKind) -> list[str]:
        return [name for name, kind in self.columns.items() if kind in kinds]

    @property
    def scored(self) -> list[str]:
        return [name for name, kind in self.columns.items() if kind is not ColumnKind.OTHER]


def infer_metadata(frame: pd.DataFrame) -> ColumnKinds:
    """Kinds detected by core's `detect_metadata` (as biosynth-tabular detects them): an `id`/`*_id` column of
    unique values is an identifier and free text is not scored. A column the detector cannot type (entirely
    missing, or mixing numbers and strings) is scored by its dtype, as before: numbers numerical, else categorical.
    """
    kinds: dict[str, ColumnKind] = {}
    for name in frame.columns:
        try:
            kinds[str(name)] = _KIND_OF_TYPE[detect_column(frame[name]).type]
        except InputDataError:
            kinds[str(name)] = _dtype_kind(frame[name].dtype)
    return ColumnKinds(columns=kinds)


def _dtype_kind(dtype: Any) -> ColumnKind:
    if pd.api.types.is_bool_dtype(dtype):
        return ColumnKind.BOOLEAN
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return ColumnKind.DATETIME
    if pd.api.types.is_numeric_dtype(dtype):
        return ColumnKind.NUMERICAL
    return ColumnKind.CATEGORICAL


def check_tables(metadata: ColumnKinds, **frames: pd.DataFrame | None) -> None:
    """Every frame given is a DataFrame holding every scored column, with compatible dtypes."""
    for role, frame in frames.items():
        if frame is None:
            continue
        if not isinstance(frame, pd.DataFrame):
            raise InputDataError(f"{role} must be a pandas DataFrame, got {type(frame).__name__}")
        missing = [c for c in metadata.scored if c not in frame.columns]
        if missing:
            raise InputDataError(
                f"{role} table lacks column(s) {missing}; expected the columns {metadata.scored} "
                f"(it has {list(map(str, frame.columns))})"
            )
        if len(frame) == 0:
            raise InputDataError(f"{role} table has no rows")
        for name in metadata.of(ColumnKind.NUMERICAL):
            if not (pd.api.types.is_numeric_dtype(frame[name]) or frame[name].isna().all()):
                raise InputDataError(f"column {name!r} of the {role} table is numerical in the metadata "
                                     f"but holds {frame[name].dtype} values")
        for name in metadata.of(ColumnKind.DATETIME):
            if not (pd.api.types.is_datetime64_any_dtype(frame[name]) or frame[name].isna().all()):
                raise InputDataError(f"column {name!r} of the {role} table is datetime in the metadata but "
                                     f"holds {frame[name].dtype} values; convert it with pandas.to_datetime")


def present_values(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(non-missing values, presence mask): numbers as float64, datetimes as int64 nanoseconds."""
    if pd.api.types.is_datetime64_any_dtype(series):
        stamps = series.to_numpy(dtype="datetime64[ns]")
        mask = ~np.isnat(stamps)
        return stamps[mask].astype(np.int64), mask
    values = pd.to_numeric(series).to_numpy(dtype=np.float64, na_value=np.nan)
    mask = ~np.isnan(values)
    return values[mask], mask


def continuous_with_nan(series: pd.Series) -> np.ndarray:
    """A numerical or datetime (nanoseconds) column as float64 with NaN for missing values."""
    if pd.api.types.is_datetime64_any_dtype(series):
        out = np.full(len(series), np.nan)
        mask = series.notna().to_numpy()
        out[mask] = series[mask].to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(np.float64)
        return out
    return pd.to_numeric(series).to_numpy(dtype=np.float64, na_value=np.nan)


class ColumnArrays:
    """The per-column arrays that several metrics read from one real/synthetic pair, each made once.

    `floats(c)`: both sides as float64 with NaN for missing (`continuous_with_nan`); `codes(c)`: both sides
    factorised together (missing values -1) and the number of categories. Column Shapes and Column Pair Trends
    computed through one instance share their factorisations (see `quality_report`). The frames must not change
    while an instance is in use.
    """

    def __init__(self, real: pd.DataFrame, synthetic: pd.DataFrame) -> None:
        self.real, self.synthetic = real, synthetic
        self._floats: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._codes: dict[str, tuple[np.ndarray, int]] = {}

    def floats(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        if column not in self._floats:
            self._floats[column] = (continuous_with_nan(self.real[column]), continuous_with_nan(self.synthetic[column]))
        return self._floats[column]

    def codes(self, column: str) -> tuple[np.ndarray, int]:
        """pandas.factorize of both sides end to end (real first; missing values -1) and the category count.

        Two columns of the same numpy dtype (bool, int) are factorised as they are, ~20x faster than through
        Python objects; anything else goes through `object`, where `True == 1` as in pandas' own grouping.
        """
        if column not in self._codes:
            real, synthetic = self.real[column], self.synthetic[column]
            if real.dtype == synthetic.dtype and isinstance(real.dtype, np.dtype) and real.dtype != object:
                values = np.concatenate([real.to_numpy(), synthetic.to_numpy()])
            else:
                values = np.concatenate([real.to_numpy(dtype=object), synthetic.to_numpy(dtype=object)])
            codes, uniques = pd.factorize(values)
            self._codes[column] = (codes.astype(np.int64, copy=False), len(uniques))
        return self._codes[column]
