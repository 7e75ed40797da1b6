"""Seeded train/holdout split of a real table, so privacy and utility can be measured on rows the generator never saw."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from biosynth.core import (
    PACKAGE_PREFIX,
    ConfigError,
    InputDataError,
    atomic_path,
    atomic_write_text,
    read_table,
    resolve_package_path,
    sha256_file,
)

SPLIT_FILE = "split.json"
TRAIN_FILE = "train.csv"
HOLDOUT_FILE = "holdout.csv"


class SplitRecord(BaseModel):
    """What `split.json` keeps: the source's sha256 and the split's parameters and sizes (never the data)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    source_sha256: str
    holdout_fraction: float = Field(gt=0.0, lt=1.0)
    seed: int = Field(ge=0)
    stratify: str | None = None
    train_rows: int
    holdout_rows: int
    train_sha256: str = ""
    holdout_sha256: str = ""

    def same_split(self, other: SplitRecord) -> bool:
        keys = ("source_sha256", "holdout_fraction", "seed", "stratify")
        return all(getattr(self, k) == getattr(other, k) for k in keys)


def split_table(source: str | Path, out: str | Path, *, holdout_fraction: float = 0.2, seed: int = 0,
                stratify: str | None = None, overwrite: bool = False) -> SplitRecord:
    """Write `out/train.csv`, `out/holdout.csv` and `out/split.json`; rerunning the same split is a no-op."""
    if not 0.0 < holdout_fraction < 1.0:
        raise ConfigError(f"holdout fraction must be between 0 and 1 (exclusive), got {holdout_fraction}")
    out = Path(out)
    frame = read_table(source, "data")
    if len(frame) < 2:
        raise InputDataError(f"data {str(source)!r} has {len(frame)} row; a split needs at least 2")
    source_path = resolve_package_path(str(source)) if str(source).startswith(PACKAGE_PREFIX) else Path(source)
    holdout_index = _holdout_rows(frame, holdout_fraction, seed, stratify, str(source))
    record = SplitRecord(source=str(source), source_sha256=sha256_file(source_path), holdout_fraction=holdout_fraction,
                         seed=seed, stratify=stratify, train_rows=len(frame) - len(holdout_index),
                         holdout_rows=len(holdout_index))
    existing = _existing(out)
    if existing is not None and existing.same_split(record) and _intact(out, existing):
        return existing
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise ConfigError(f"{str(out)!r} already holds other files or a different split; choose a new folder or "
                              "pass --overwrite")
        if existing is None:  # --overwrite replaces only a split biosynth wrote (its marker: split.json)
            raise ConfigError(f"refusing to overwrite {str(out)!r}: it holds no {SPLIT_FILE}, so biosynth did not "
                              "write a split there; choose a new folder (nothing was changed)")
    out.mkdir(parents=True, exist_ok=True)
    mask = np.zeros(len(frame), dtype=bool)
    mask[holdout_index] = True
    (out / SPLIT_FILE).unlink(missing_ok=True)  # the marker goes last: a half-written split is never taken as done
    for name, part in ((TRAIN_FILE, frame[~mask]), (HOLDOUT_FILE, frame[mask])):
        with atomic_path(out / name) as tmp:
            part.to_csv(tmp, index=False)
    record = record.model_copy(update={"train_sha256": sha256_file(out / TRAIN_FILE),
                                       "holdout_sha256": sha256_file(out / HOLDOUT_FILE)})
    atomic_write_text(out / SPLIT_FILE, record.model_dump_json(indent=2) + "\n")
    return record


def _holdout_rows(frame: pd.DataFrame, fraction: float, seed: int, stratify: str | None, source: str) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if stratify is None:
        n = max(1, round(len(frame) * fraction))
        return np.sort(rng.permutation(len(frame))[:n])
    if stratify not in frame.columns:
        raise ConfigError(f"stratify column {stratify!r} is not in {source!r} (columns: {list(frame.columns)})")
    if frame[stratify].isna().all():
        raise ConfigError(f"stratify column {stratify!r} of {source!r} has no values (every row is missing); choose a "
                          "column with values to stratify by")
    chosen: list[np.ndarray] = []
    groups = frame.groupby(frame[stratify].astype("string").fillna("<missing>"), sort=True).indices
    for _, rows in sorted(groups.items()):
        n = round(len(rows) * fraction)
        chosen.append(rng.permutation(rows)[:n])
    holdout = np.sort(np.concatenate(chosen)) if chosen else np.array([], dtype=int)
    if len(holdout) == 0 or len(holdout) == len(frame):
        raise ConfigError(f"a {fraction} holdout stratified by {stratify!r} leaves one side empty; use more rows "
                          "or another fraction")
    return holdout


def _existing(out: Path) -> SplitRecord | None:
    path = out / SPLIT_FILE
    if not path.is_file():
        return None
    try:
        return SplitRecord.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except ValueError as err:
        raise InputDataError(f"{str(path)!r} is not a biosynth split record ({err})") from None


def _intact(out: Path, record: SplitRecord) -> bool:
    return all((out / name).is_file() and sha256_file(out / name) == sha
               for name, sha in ((TRAIN_FILE, record.train_sha256), (HOLDOUT_FILE, record.holdout_sha256)))
