"""The `halo` generator: synthetic patients (visit sequences) from a saved HALO model folder."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from biosynth.core import (
    Draft,
    GenerationError,
    Generator,
    GeneratorParams,
    InputFile,
    Modality,
    ModelRef,
    SampleRequest,
    StepContext,
    Strategy,
    sha256_file,
)

Category = str | int | bool


class HaloParams(GeneratorParams):
    model: InputFile = Field(description="folder written by Halo.save or `biosynth tabular fit-halo`")
    conditions: dict[str, Category] = Field(default_factory=dict, description="static values to fix, e.g. sex")
    max_visits: int | None = Field(None, ge=1, description="stop a history here (default: the model's context)")


class HaloGenerator(Generator[HaloParams]):
    """Samples one patient per request from HALO; each patient depends only on its request's seed."""

    name = "halo"
    Params = HaloParams

    def _setup(self, ctx: StepContext) -> None:
        from biosynth.tabular._halo import Halo

        path = self.params.model.path
        self.params.model.check("model")
        self._halo = Halo.load(path)
        self._halo.vocabulary.condition_positions(self.params.conditions)  # unknown field/value fails here
        self._model_ref = ModelRef(name=f"halo:{path.name}", backend="torch", sha256=sha256_file(path))

    def _generate(self, requests: list[SampleRequest], ctx: StepContext) -> list[Draft | GenerationError]:
        sampled = self._halo.sample_seeded([r.seed for r in requests], conditions=self.params.conditions,
                                           max_visits=self.params.max_visits)
        drafts: list[Draft | GenerationError] = []
        for patient in sampled:
            extra: dict[str, Any] = {"ended": patient.ended, "empty_visits_dropped": patient.empty_visits_dropped}
            if self.params.conditions:
                extra["conditions"] = dict(self.params.conditions)
            if patient.static_missing:
                extra["static_missing"] = list(patient.static_missing)
            drafts.append(Draft(
                payload=patient.payload, modality=Modality.EHR, model=self._model_ref,
                labels={k: v for k, v in patient.payload.static.items() if v is not None},
                strategy=(Strategy.LEARNED_GENERATOR,), extra=extra,
            ))
        return drafts
