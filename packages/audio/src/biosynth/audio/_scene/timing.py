"""Turn timing: where each utterance starts in the scene (seeded gaps and overlaps)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator


class TimingParams(BaseModel):
    """Silence before the first and after the last turn, gaps between turns, and how often and how much a turn
    starts before the previous one ends."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lead_in_s: float = Field(0.5, ge=0, le=10)
    tail_s: float = Field(0.5, ge=0, le=10)
    gap_s: tuple[float, float] = Field((0.2, 0.7), description="uniform range of the silence between turns")
    overlap_probability: float = Field(0.1, ge=0, le=1)
    overlap_s: tuple[float, float] = Field((0.1, 0.4), description="uniform range of an overlap")

    @model_validator(mode="after")
    def _ranges(self) -> TimingParams:
        for name in ("gap_s", "overlap_s"):
            low, high = getattr(self, name)
            if not 0 <= low <= high <= 10:
                raise ValueError(f"{name} must be a range 0 <= low <= high <= 10 seconds, got {(low, high)}")
        return self


def place(durations: Sequence[int], rate: int, timing: TimingParams, rng: np.random.Generator) -> list[int]:
    """Start sample of each turn. An overlap never starts a turn before the middle of the previous one."""
    starts: list[int] = []
    cursor = round(timing.lead_in_s * rate)
    for i, length in enumerate(durations):
        if i == 0:
            start = cursor
        elif rng.random() < timing.overlap_probability:
            overlap = round(rng.uniform(*timing.overlap_s) * rate)
            previous = starts[-1]
            start = max(previous + durations[i - 1] // 2, previous + durations[i - 1] - overlap)
        else:
            start = starts[-1] + durations[i - 1] + round(rng.uniform(*timing.gap_s) * rate)
        starts.append(start)
        cursor = max(cursor, start + length)
    return starts
