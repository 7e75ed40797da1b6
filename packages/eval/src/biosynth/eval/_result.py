"""MetricResult: the one result schema every metric of every modality returns (DESIGN.md, "Evaluation shape")."""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Family(StrEnum):
    FIDELITY = "fidelity"
    DIVERSITY = "diversity"
    UTILITY = "utility"
    PRIVACY = "privacy"
    MEMORISATION = "memorisation"
    FACTUALITY = "factuality"
    JUDGE = "judge"
    HUMAN = "human"


class Direction(StrEnum):
    HIGHER = "higher_is_better"
    LOWER = "lower_is_better"


Status = Literal["ok", "failed", "not_applicable"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="null")


class ConfidenceInterval(_Frozen):
    """An interval for the metric's value; `method` says how it was obtained (e.g. 'basic bootstrap over rows, B=200')."""

    low: float
    high: float
    level: float = Field(0.95, gt=0, lt=1)
    method: str

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError(f"interval bounds must be finite, got [{self.low}, {self.high}]")
        if self.low > self.high:
            raise ValueError(f"interval low {self.low} exceeds high {self.high}")
        return self


class MetricResult(_Frozen):
    """One metric's outcome.

    NaN convention: a value is a finite float or `None`. `None` comes only with status "failed" (with
    the reason in `error`) or "not_applicable" (with the reason in `error`, e.g. a constant column) —
    never 0 and never a silent NaN. Per-column breakdowns in `details` follow the same rule.
    """

    name: str
    family: Family
    modality: str = "tabular"
    value: float | None
    status: Status = "ok"
    error: str | None = None
    direction: Direction
    ci: ConfidenceInterval | None = None
    n_real: int | None = Field(None, ge=0)
    n_synthetic: int | None = Field(None, ge=0)
    n_holdout: int | None = Field(None, ge=0)
    seed: int | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    threat_model: str | None = None
    warnings: tuple[str, ...] = ()
    duration_s: float = Field(0.0, ge=0)
    details: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.status == "ok":
            if self.value is None or not math.isfinite(self.value):
                raise ValueError(f"metric {self.name!r} has status 'ok' but value {self.value!r}; "
                                 "report it as failed or not_applicable with the reason")
            if self.error is not None:
                raise ValueError(f"metric {self.name!r} has status 'ok' and an error {self.error!r}")
        else:
            if self.value is not None:
                raise ValueError(f"metric {self.name!r} has status {self.status!r} but a value {self.value!r}")
            if not self.error:
                raise ValueError(f"metric {self.name!r} has status {self.status!r} without the reason in `error`")
        if self.family is Family.PRIVACY and not self.threat_model:
            raise ValueError(f"privacy metric {self.name!r} must state its threat model")
        return self

    @property
    def ok(self) -> bool:
        return self.status == "ok"
