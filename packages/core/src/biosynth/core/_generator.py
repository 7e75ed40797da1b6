"""The Generator contract: public `generate` validates and stamps; protected `_generate` works."""

from __future__ import annotations

import functools
import importlib.metadata as md
import logging
from abc import ABC
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from biosynth.core._atomic import atomic_write_bytes
from biosynth.core._components import (
    ComponentKind,
    ComponentSpec,
    ResolvedComponent,
    check_component,
    find_components,
    load_component,
)
from biosynth.core._errors import ConfigError, GenerationError, RegistryError
from biosynth.core._hashing import sha256_bytes
from biosynth.core._llm import LanguageModel
from biosynth.core._manifest import RemovedEntry
from biosynth.core._policy import Policy, PolicyDecision
from biosynth.core._provenance import GenerationFacts, ModelRef, Provenance
from biosynth.core._records import MediaRef, Modality, Payload, Record, Relation, Scalar, Span
from biosynth.core._registry import Group, Registry, default_registry
from biosynth.core._validation import describe_validation_error

log = logging.getLogger("biosynth")


class GeneratorParams(BaseModel):
    """Base for a generator's parameters: frozen, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


ParamsT = TypeVar("ParamsT", bound=GeneratorParams)

_DEFAULT_MODALITY = {
    "text": Modality.TEXT, "table_row": Modality.TABULAR, "visit_sequence": Modality.EHR,
    "image": Modality.IMAGE, "audio": Modality.AUDIO, "dialogue": Modality.DIALOGUE, "qa": Modality.TEXT,
}


@dataclass(frozen=True)
class SampleRequest:
    """Make sample number `index` of a step, with its own seed, optionally from an input record."""

    index: int
    seed: int
    input: Record | None = None


@dataclass(frozen=True)
class SampleFailure:
    """A sample that could not be made; the runner counts it and keeps its reason in the manifest."""

    index: int
    reason: str
    attempts: int = 1


@dataclass(frozen=True)
class Drop:
    """A generator's decision to remove a sample (e.g. a critic's low score): counted as removed, not as failed, and
    kept in the manifest with its reason, the id of what was removed, the score, the rationale's sha256 and the judge."""

    reason: str
    id: str | None = None
    score: float | None = None
    rationale_sha256: str | None = None
    judge: ModelRef | None = None


class Draft(GenerationFacts):
    """What a generator returns for one sample; `generate` turns it into a stamped Record."""

    payload: Payload
    modality: Modality | None = None
    labels: dict[str, Scalar] = Field(default_factory=dict)
    spans: tuple[Span, ...] = ()
    relations: tuple[Relation, ...] = ()
    case_id: str | None = None
    parents: tuple[str, ...] = ()


@dataclass
class StepContext:
    """What a step's generator may use: its seed, the policy, backends, and the media folder."""

    step: str
    seed: int
    root: Path
    policy: Policy = field(default_factory=Policy)
    registry: Registry = field(default_factory=default_registry)
    real_data: bool = False
    decisions: list[PolicyDecision] = field(default_factory=list)
    _components: dict[str, ResolvedComponent] = field(default_factory=dict)

    @property
    def redact_prompts(self) -> bool:
        return self.policy.redact_prompts(self.real_data)

    def component(self, spec: ComponentSpec) -> ResolvedComponent:
        """Load (once per step) the component `spec` names, after the policy has allowed it.

        Returns the loaded object and its `ModelRef` (weights fingerprinted by `weights_sha256`).
        """
        if spec.key not in self._components:
            remote = check_component(self.registry, spec)
            self.decisions.append(self.policy.check(step=self.step, backend=spec.backend, remote=remote,
                                                    real_data=self.real_data, kind=spec.kind.value))
            self._components[spec.key] = load_component(self.registry, spec, where=f"step {self.step!r}")
        return self._components[spec.key]

    def language_model(self, spec: ComponentSpec) -> LanguageModel:
        """The language model `spec` names (a `component` of kind `language_model`)."""
        if spec.kind is not ComponentKind.LANGUAGE_MODEL:
            raise ConfigError(f"step {self.step!r}: expected a language model, got a {spec.describe()}")
        model: LanguageModel = self.component(spec).component
        return model

    def media_path(self, index: int, suffix: str) -> str:
        """Relative path for a sample's media file, e.g. `media/xray/xray-000012.png`."""
        return f"media/{self.step}/{self.step}-{index:06d}{suffix}"

    def write_media(self, index: int, suffix: str, data: bytes, mime_type: str) -> MediaRef:
        """Write a media file atomically under the dataset root and return its reference."""
        relative = self.media_path(index, suffix)
        atomic_write_bytes(self.root / relative, data)
        return MediaRef(path=relative, sha256=sha256_bytes(data), mime_type=mime_type, bytes=len(data))


class Generator(ABC, Generic[ParamsT]):
    """Base class for every generator.

    Subclasses set `name`, `Params` (a GeneratorParams model) and implement `_generate_one` (or
    `_generate` for real batching). `_generate` returns, per request, a `Draft`, a
    `GenerationError`, or a `Drop` (the generator removes the sample on purpose); `generate` turns them
    into Records with ids, lineage and provenance, SampleFailures, or RemovedEntry (the runner counts
    them as removed, like deduplication's). Set `input_required` for generators that need `from:` records.
    """

    name: ClassVar[str]
    Params: ClassVar[type[GeneratorParams]]
    input_required: ClassVar[bool] = False
    input_modalities: ClassVar[tuple[Modality, ...] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """`Params` comes from the generic argument (`class X(Generator[XParams])`): declare it once."""
        super().__init_subclass__(**kwargs)
        from_generic = _params_of(cls)
        if from_generic is None:
            return
        if "Params" in cls.__dict__:
            raise TypeError(f"{cls.__name__} declares `Params` and also gives it as the generic argument; "
                            f"declare it once, as {cls.__name__}(...[{from_generic.__name__}])")
        cls.Params = from_generic

    def __init__(self, params: ParamsT | Mapping[str, Any] | None = None, *, base_dir: Path | None = None) -> None:
        self.params: ParamsT = self.parse_params(params or {}, base_dir=base_dir)
        self._ready = False

    @classmethod
    def parse_params(cls, params: Any, *, base_dir: Path | None = None, where: str | None = None) -> ParamsT:
        if isinstance(params, cls.Params):
            return params  # type: ignore[return-value]
        try:
            return cls.Params.model_validate(dict(params), context={"base_dir": base_dir})  # type: ignore[return-value]
        except ValidationError as err:
            raise ConfigError(describe_validation_error(err, what=where or f"parameters of generator {cls.name!r}")) from None

    @classmethod
    def version(cls) -> str:
        return _module_version(cls.__module__)

    def components(self) -> list[tuple[str, ComponentSpec]]:
        """Every component (model) this generator declares in its params, nested ones included, by parameter path."""
        return find_components(self.params)

    def backends(self) -> list[tuple[str, ComponentSpec]]:
        """The language models among `components()`."""
        return [(n, s) for n, s in self.components() if s.kind is ComponentKind.LANGUAGE_MODEL]

    def summarize(self, records: Sequence[Record]) -> dict[str, Any] | None:
        """Override to report a step-level summary (e.g. an achieved label distribution) from the step's
        records; the runner stores it in the manifest as the step's `summary`. The default reports nothing."""
        return None

    def setup(self, ctx: StepContext) -> None:
        """Prepare once per step (load models, index corpora)."""
        self._setup(ctx)
        self._ready = True

    def generate(self, requests: Sequence[SampleRequest], ctx: StepContext
                 ) -> list[Record | SampleFailure | RemovedEntry]:
        requests = list(requests)
        if not self._ready:
            self.setup(ctx)
        self._check_inputs(requests)
        outcomes = self._generate(requests, ctx)
        if len(outcomes) != len(requests):
            raise RuntimeError(f"generator {self.name!r} returned {len(outcomes)} outcomes for {len(requests)} requests")
        results: list[Record | SampleFailure | RemovedEntry] = []
        for request, outcome in zip(requests, outcomes, strict=True):
            if isinstance(outcome, GenerationError):
                results.append(SampleFailure(request.index, outcome.reason, outcome.attempts))
                continue
            if isinstance(outcome, Drop):
                results.append(RemovedEntry(index=request.index, reason=outcome.reason, id=outcome.id,
                                            score=outcome.score, rationale_sha256=outcome.rationale_sha256,
                                            judge=outcome.judge))
                continue
            try:
                results.append(self._stamp(request, outcome, ctx))
            except ValidationError as err:
                reason = describe_validation_error(err, what=f"output of generator {self.name!r}")
                results.append(SampleFailure(request.index, reason, outcome.attempts))
        return results

    def _setup(self, ctx: StepContext) -> None:
        """Override to load models or data once per step."""

    def _generate(self, requests: list[SampleRequest], ctx: StepContext) -> Sequence[Draft | GenerationError | Drop]:
        outcomes: list[Draft | GenerationError | Drop] = []
        for request in requests:
            try:
                outcomes.append(self._generate_one(request, ctx))
            except GenerationError as err:
                outcomes.append(err)
        return outcomes

    def _generate_one(self, request: SampleRequest, ctx: StepContext) -> Draft:
        raise NotImplementedError(f"{type(self).__name__} must implement _generate_one or _generate")

    def _check_inputs(self, requests: list[SampleRequest]) -> None:
        for request in requests:
            if self.input_required and request.input is None:
                raise ConfigError(f"generator {self.name!r} derives samples from other records: give its step `from:`")
            if (request.input is not None and self.input_modalities is not None
                    and request.input.modality not in self.input_modalities):
                raise ConfigError(
                    f"generator {self.name!r} takes {[m.value for m in self.input_modalities]} records, "
                    f"got a {request.input.modality.value!r} record ({request.input.id})"
                )

    def _stamp(self, request: SampleRequest, draft: Draft, ctx: StepContext) -> Record:
        source = request.input
        parents = tuple(dict.fromkeys(((source.id,) if source else ()) + draft.parents))
        case_id = draft.case_id or (source.case_id if source else f"case-{ctx.step}-{request.index:06d}")
        provenance = Provenance(generator=self.name, generator_version=self.version(), step=ctx.step,
                                seed=request.seed, **draft.facts())
        return Record(
            id=f"{ctx.step}-{request.index:06d}", case_id=case_id,
            modality=draft.modality or _DEFAULT_MODALITY[draft.payload.kind], payload=draft.payload,
            labels=draft.labels, spans=draft.spans, relations=draft.relations, parents=parents,
            provenance=provenance,
        )


@functools.cache
def _module_version(module: str) -> str:
    parts = module.split(".")
    candidates = [f"{parts[0]}-{parts[1]}"] if parts[0] == "biosynth" and len(parts) > 1 else []
    candidates += md.packages_distributions().get(parts[0], [])
    for dist in candidates:
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            continue
    return "unknown"


def _params_of(cls: type) -> type[GeneratorParams] | None:
    """The GeneratorParams subclass given as a generic argument in `cls`'s own bases, if any."""
    for base in cls.__dict__.get("__orig_bases__", ()):
        for arg in getattr(base, "__args__", ()):
            if isinstance(arg, type) and issubclass(arg, GeneratorParams):
                return arg
    return None


def generator_class(registry: Registry, name: str) -> type[Generator[Any]]:
    """The Generator registered as `name`; its `name` must be that entry point's name."""
    obj = registry.get(Group.GENERATORS, name)
    if not (isinstance(obj, type) and issubclass(obj, Generator)):
        raise RegistryError(f"generator {name!r} resolves to {obj!r}, which is not a biosynth Generator subclass")
    declared = getattr(obj, "name", None)
    if ":" not in name and declared != name:
        raise RegistryError(f"generator {name!r} resolves to {obj.__module__}.{obj.__qualname__}, whose `name` is "
                            f"{declared!r}; a generator's name must be the entry point it is registered as")
    return obj
