"""Target distributions for balanced / subgroup generation, and what was achieved (shared by every package).

A generator that conditions on one column or label (a table row's sex, a patient's static field, a text's
class label) takes a `TargetDistribution`:

    target: {column: sex, distribution: {female: 0.5, male: 0.5}}
    target: {column: sex, distribution: balanced}            # uniform over the column's values

Each sample's target value is assigned deterministically from the step seed and the sample's index
(`target_value`): indices are cut into blocks whose size makes the proportions whole numbers (at most
100; largest-remainder rounding beyond), and each block is a seeded shuffle of its quota. So any run of
whole blocks hits the target exactly, and a sample's value never depends on the batching. The generator
then conditions on that value and records `balance_facts(...)` as `provenance.extra["balance"]`;
`achieved_distribution` counts what was produced (a failed sample is missing
from the achieved counts, so compare `total` with what was requested).
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from biosynth.core._dataset import SyntheticDataset
from biosynth.core._errors import ConfigError
from biosynth.core._records import Record, TableRowPayload, VisitSequencePayload
from biosynth.core._seeding import derive_seed, rng

Category = str | int | bool
MAX_BLOCK = 100


class TargetDistribution(BaseModel):
    """The distribution one column (or label) should have among the generated samples."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str = Field(min_length=1)
    distribution: Literal["balanced"] | dict[Category, float] = "balanced"

    @model_validator(mode="after")
    def _weights(self) -> Self:
        if isinstance(self.distribution, dict):
            if not self.distribution:
                raise ValueError(f"target of column {self.column!r}: the distribution is empty")
            bad = {k: w for k, w in self.distribution.items() if not (w >= 0 and math.isfinite(w))}
            if bad:
                raise ValueError(f"target of column {self.column!r}: weights must be finite and >= 0, got {bad}")
            if sum(self.distribution.values()) <= 0:
                raise ValueError(f"target of column {self.column!r}: the weights sum to 0")
        return self

    def resolve(self, values: Sequence[Category]) -> dict[Category, float]:
        """The target as probabilities over `values` (the column's categories), which it must use."""
        if self.distribution == "balanced":
            return {v: 1 / len(values) for v in values}
        assert isinstance(self.distribution, dict)
        by_text = {str(v): v for v in values}
        out: dict[Category, float] = {}
        for key, weight in self.distribution.items():
            value = key if key in values and any(type(key) is type(v) for v in values) else by_text.get(str(key))
            if value is None:
                raise ConfigError(f"target of column {self.column!r}: {key!r} is an unseen category; "
                                  f"categories: {list(values)}")
            out[value] = out.get(value, 0.0) + weight
        total = sum(out.values())
        return {v: w / total for v, w in out.items() if w > 0}


def target_value(probabilities: Mapping[Category, float], seed: int, index: int) -> Category:
    """The target value of sample `index` of a step with seed `seed` (see the module docstring)."""
    quota = _quota(tuple(probabilities.items()))
    block, position = divmod(index, len(quota))
    order = rng(derive_seed(seed, "balance", block)).permutation(len(quota))
    return quota[int(order[position])]


@functools.lru_cache(maxsize=32)
def _quota(items: tuple[tuple[Category, float], ...]) -> tuple[Category, ...]:
    """One block: each value repeated by its share of the smallest block size making shares whole."""
    fractions = [Fraction(w).limit_denominator(MAX_BLOCK) for _, w in items]
    size = math.lcm(*(f.denominator for f in fractions))
    exact = size <= MAX_BLOCK and all(abs(float(f) - w) < 1e-9 for f, (_, w) in zip(fractions, items, strict=True))
    if not exact:
        size = MAX_BLOCK
    raw = [w * size for _, w in items]
    counts = [math.floor(r) for r in raw]
    for i in sorted(range(len(items)), key=lambda i: raw[i] - counts[i], reverse=True)[: size - sum(counts)]:
        counts[i] += 1
    return tuple(v for (v, _), c in zip(items, counts, strict=True) for _ in range(c))


def balance_facts(column: str, value: Category, probabilities: Mapping[Category, float]) -> dict[str, Any]:
    """What a sample records of its target (`provenance.extra["balance"]`); read back by `achieved_distribution`."""
    return {"column": column, "value": value, "distribution": {str(k): v for k, v in probabilities.items()}}


class AchievedDistribution(BaseModel):
    """Target vs achieved distribution of one column among produced samples."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str
    total: int
    counts: dict[str, int]
    achieved: dict[str, float]
    target: dict[str, float] | None = None
    max_abs_error: float | None = Field(None, description="largest |achieved - target| over the target's values")
    missing: int = Field(0, description="produced samples without a value in this column")


def achieved_distribution(source: SyntheticDataset | str | Path | Iterable[Record], column: str, *,
                   target: Mapping[Any, float] | None = None, step: str | None = None) -> AchievedDistribution:
    """Count `column` among the produced records (a row value, a patient's static value, or a label).

    `source`: a dataset folder / SyntheticDataset (optionally one `step`) or records. `target`, when given,
    is compared value by value; by default the target recorded in the records' provenance is used.
    """
    if isinstance(source, (str, Path)):
        source = SyntheticDataset(source)
    records = source.records(step) if isinstance(source, SyntheticDataset) else [
        r for r in source if step is None or r.provenance.step == step]
    counts: Counter[str] = Counter()
    missing = 0
    recorded: dict[str, float] | None = None
    for record in records:
        value = _value(record, column)
        if value is None:
            missing += 1
        else:
            counts[str(value)] += 1
        balance = record.provenance.extra.get("balance")
        if recorded is None and isinstance(balance, dict) and balance.get("column") == column:
            recorded = {str(k): float(v) for k, v in balance.get("distribution", {}).items()}
    total = sum(counts.values())
    achieved = {k: c / total for k, c in sorted(counts.items())} if total else {}
    wanted = {str(k): float(v) for k, v in target.items()} if target is not None else recorded
    error = None
    if wanted is not None:
        keys = set(wanted) | set(achieved)
        error = round(max(abs(achieved.get(k, 0.0) - wanted.get(k, 0.0)) for k in keys), 6) if total else None
    return AchievedDistribution(column=column, total=total, counts=dict(sorted(counts.items())), achieved=achieved,
                         target=wanted, max_abs_error=error, missing=missing)


def _value(record: Record, column: str) -> Any:
    payload = record.payload
    if isinstance(payload, TableRowPayload) and column in payload.values:
        return payload.values[column]
    if isinstance(payload, VisitSequencePayload) and column in payload.static:
        return payload.static[column]
    return record.labels.get(column)
