"""Column kinds (SDMetrics' sdtypes) and the checks that real and synthetic tables line up."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from biosynth.core import InputDataError


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


_KIND_VALUES = {kind.value for kind in ColumnKind}
_SDTYPE_ALIASES = {"ordinal": "categorical"}  # SDMetrics scores ordinal columns as categorical ones


class TableMetadata(BaseModel):
    """Column name -> kind. Also accepts SDMetrics/SDV metadata: `{"columns": {"age": {"sdtype": "numerical"}}}`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    columns: dict[str, ColumnKind]

    @classmethod
    def coerce(cls, metadata: TableMetadata | Mapping[str, Any] | None, frame: pd.DataFrame) -> TableMetadata:
        if metadata is None:
            return infer_metadata(frame)
        if isinstance(metadata, TableMetadata):
            return metadata
        columns = metadata.get("columns", metadata)
        kinds: dict[str, ColumnKind] = {}
        for name, spec in columns.items():
            raw = spec.get("sdtype") if isinstance(spec, Mapping) else spec
            raw = _SDTYPE_ALIASES.get(str(raw), str(raw))
            kinds[name] = ColumnKind(raw) if raw in _KIND_VALUES else ColumnKind.OTHER
        return cls(columns=kinds)

    def of(self, *kinds: ColumnKind) -> list[str]:
        return [name for name, kind in self.columns.items() if kind in kinds]

    @property
    def scored(self) -> list[str]:
        return [name for name, kind in self.columns.items() if kind is not ColumnKind.OTHER]


def infer_metadata(frame: pd.DataFrame) -> TableMetadata:
    """Kinds from dtypes: bool -> boolean, datetime64 -> datetime, numbers -> numerical, else categorical."""
    kinds: dict[str, ColumnKind] = {}
    for name in frame.columns:
        dtype = frame[name].dtype
        if pd.api.types.is_bool_dtype(dtype):
            kinds[str(name)] = ColumnKind.BOOLEAN
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            kinds[str(name)] = ColumnKind.DATETIME
        elif pd.api.types.is_numeric_dtype(dtype):
            kinds[str(name)] = ColumnKind.NUMERICAL
        else:
            kinds[str(name)] = ColumnKind.CATEGORICAL
    return TableMetadata(columns=kinds)


def check_tables(metadata: TableMetadata, **frames: pd.DataFrame | None) -> None:
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
