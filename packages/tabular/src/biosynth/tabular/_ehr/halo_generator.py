"""The `halo` generator: synthetic patients (visit sequences) from a saved HALO model folder.

The folder is a component (kind `ehr_model`, backend `halo`, registered under `biosynth.ehr_models`): the
generator resolves it with `ctx.component(spec)`, so its `ModelRef` (fingerprinted by core's
`weights_sha256`) lands in every record, and `biosynth validate` and the policy see it. It runs locally.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, field_validator

from biosynth.core import (
    Component,
    ComponentKind,
    ComponentSpec,
    ConfigError,
    Draft,
    GenerationError,
    Generator,
    GeneratorParams,
    Modality,
    ModelRef,
    Record,
    SampleRequest,
    StepContext,
    Strategy,
    TargetDistribution,
    achieved_distribution,
    balance_facts,
    target_value,
    weights_sha256,
)
from biosynth.tabular._synthesizer import check_folder_params, check_model_spec, saved_model_spec

if TYPE_CHECKING:
    from biosynth.tabular._ehr.halo import Halo

Category = str | int | bool


BACKEND = "halo"


class HaloModel(Component):
    """A saved HALO folder as a component: `{kind: ehr_model, backend: halo, params: {path: FOLDER}}`."""

    kind: ClassVar[ComponentKind] = ComponentKind.EHR_MODEL
    remote: ClassVar[bool | None] = False  # torch on this machine

    def __init__(self, path: str | Path) -> None:
        from biosynth.tabular._ehr.halo import Halo

        self.path = Path(path)
        self.halo: Halo = Halo.load(self.path)
        self._model_ref = ModelRef(name=f"halo:{self.path.name}", backend=BACKEND, sha256=weights_sha256(self.path))

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> object:
        return check_folder_params(params, BACKEND, f"{ComponentKind.EHR_MODEL.value} {BACKEND!r}")

    @property
    def model_ref(self) -> ModelRef:
        return self._model_ref


class HaloParams(GeneratorParams):
    model: ComponentSpec = Field(description="folder written by Halo.save or `biosynth tabular fit-halo` (a path, or "
                                             "the spec {kind: ehr_model, backend: halo, params: {path: ...}})")
    conditions: dict[str, Category] = Field(default_factory=dict, description="static values to fix, e.g. sex")
    max_visits: int | None = Field(None, ge=1, description="stop a history here (default: the model's context)")
    target: TargetDistribution | None = Field(None, description="a target distribution of one static field (a "
                                                                "label, sex, ...): each patient is conditioned on its share")

    @field_validator("model", mode="before")
    @classmethod
    def _path_shorthand(cls, value: Any) -> Any:
        return saved_model_spec(value, ComponentKind.EHR_MODEL, BACKEND)

    @field_validator("model")
    @classmethod
    def _model_kind(cls, spec: ComponentSpec) -> ComponentSpec | None:
        return check_model_spec(spec, ComponentKind.EHR_MODEL)


class HaloGenerator(Generator[HaloParams]):
    """Samples one patient per request from HALO; each patient depends only on its request's seed."""

    name = "halo"

    def summarize(self, records: Sequence[Record]) -> dict[str, Any] | None:
        """With a `target`, the achieved distribution beside it (stored in the manifest's step summary)."""
        if self.params.target is None:
            return None
        return {"balance": achieved_distribution(records, self.params.target.column).model_dump()}

    def _setup(self, ctx: StepContext) -> None:
        resolved = ctx.component(self.params.model)
        self._halo = resolved.component.halo
        self._model_ref = resolved.model_ref
        self._halo.vocabulary.condition_positions(self.params.conditions)  # unknown field/value fails here
        self._targets: dict[Category, float] | None = None
        if self.params.target is not None:
            self._targets = _resolve_target(self.params.target, self._halo.vocabulary.static_positions(),
                                            self.params.conditions)

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
                extra["balance"] = balance_facts(self.params.target.column, conditions[self.params.target.column],
                                                 self._targets)
            if patient.static_missing:
                extra["static_missing"] = list(patient.static_missing)
            drafts.append(Draft(
                payload=patient.payload, modality=Modality.EHR, model=self._model_ref,
                labels={k: v for k, v in patient.payload.static.items() if v is not None},
                strategy=(Strategy.LEARNED_GENERATOR,), extra=extra,
            ))
        return drafts


def _resolve_target(target: TargetDistribution, positions: dict[str, dict[Category, int]],
                    conditions: dict[str, Category]) -> dict[Category, float]:
    if target.column not in positions:
        raise ConfigError(f"target field {target.column!r} is not a static field of the model; it knows "
                          f"{sorted(positions)}")
    if target.column in conditions:
        raise ConfigError(f"target field {target.column!r} is also fixed by `conditions`; give one or the other")
    return target.resolve(tuple(positions[target.column]))
