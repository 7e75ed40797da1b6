"""The `halo` generator: synthetic patients (visit sequences) from a saved HALO model folder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field

from biosynth.core import (
    ConfigError,
    Draft,
    GenerationError,
    Generator,
    GeneratorParams,
    InputFile,
    Modality,
    ModelRef,
    Record,
    SampleRequest,
    StepContext,
    Strategy,
    sha256_file,
)
from biosynth.tabular._balance import BalanceTarget, balance_report, target_value

Category = str | int | bool


class HaloParams(GeneratorParams):
    model: InputFile = Field(description="folder written by Halo.save or `biosynth tabular fit-halo`")
    conditions: dict[str, Category] = Field(default_factory=dict, description="static values to fix, e.g. sex")
    max_visits: int | None = Field(None, ge=1, description="stop a history here (default: the model's context)")
    target: BalanceTarget | None = Field(None, description="a target distribution of one static field (a label, "
                                                           "sex, ...): each patient is conditioned on its share")


class HaloGenerator(Generator[HaloParams]):
    """Samples one patient per request from HALO; each patient depends only on its request's seed."""

    name = "halo"
    Params = HaloParams

    def summarize(self, records: Sequence[Record]) -> dict[str, Any] | None:
        """With a `target`, the achieved distribution beside it (stored in the manifest's step summary)."""
        if self.params.target is None:
            return None
        return {"balance": balance_report(records, self.params.target.column).model_dump()}

    def _setup(self, ctx: StepContext) -> None:
        from biosynth.tabular._ehr.halo import Halo

        path = self.params.model.path
        self.params.model.check("model")
        self._halo = Halo.load(path)
        self._halo.vocabulary.condition_positions(self.params.conditions)  # unknown field/value fails here
        self._targets: dict[Category, float] | None = None
        if self.params.target is not None:
            self._targets = _resolve_target(self.params.target, self._halo.vocabulary.static_positions(),
                                            self.params.conditions)
        self._model_ref = ModelRef(name=f"halo:{path.name}", backend="torch", sha256=sha256_file(path))

    def _generate(self, requests: list[SampleRequest], ctx: StepContext) -> list[Draft | GenerationError]:
        # one group per set of conditions (a target value each, when balancing); a patient still depends
        # only on its own seed and conditions, and its target value only on the step seed and its index
        groups: dict[str, tuple[dict[str, Category], list[int]]] = {}
        for position, request in enumerate(requests):
            conditions = dict(self.params.conditions)
            if self.params.target is not None and self._targets is not None:
                conditions[self.params.target.column] = target_value(self._targets, ctx.seed, request.index)
            groups.setdefault(repr(sorted(conditions.items())), (conditions, []))[1].append(position)
        sampled: dict[int, tuple[Any, dict[str, Category]]] = {}
        for conditions, positions in groups.values():
            patients = self._halo.sample_seeded([requests[p].seed for p in positions], conditions=conditions,
                                                max_visits=self.params.max_visits)
            sampled.update({p: (patient, conditions) for p, patient in zip(positions, patients, strict=True)})
        drafts: list[Draft | GenerationError] = []
        for position in range(len(requests)):
            patient, conditions = sampled[position]
            extra: dict[str, Any] = {"ended": patient.ended, "empty_visits_dropped": patient.empty_visits_dropped,
                                     "end_logit_offset": self._halo.config.end_logit_offset}
            if conditions:
                extra["conditions"] = conditions
            if self.params.target is not None and self._targets is not None:
                extra["balance"] = {"column": self.params.target.column,
                                    "value": conditions[self.params.target.column],
                                    "distribution": {str(k): v for k, v in self._targets.items()}}
            if patient.static_missing:
                extra["static_missing"] = list(patient.static_missing)
            drafts.append(Draft(
                payload=patient.payload, modality=Modality.EHR, model=self._model_ref,
                labels={k: v for k, v in patient.payload.static.items() if v is not None},
                strategy=(Strategy.LEARNED_GENERATOR,), extra=extra,
            ))
        return drafts


def _resolve_target(target: BalanceTarget, positions: dict[str, dict[Category, int]],
                    conditions: dict[str, Category]) -> dict[Category, float]:
    if target.column not in positions:
        raise ConfigError(f"target field {target.column!r} is not a static field of the model; it knows "
                          f"{sorted(positions)}")
    if target.column in conditions:
        raise ConfigError(f"target field {target.column!r} is also fixed by `conditions`; give one or the other")
    return target.resolve(tuple(positions[target.column]))
