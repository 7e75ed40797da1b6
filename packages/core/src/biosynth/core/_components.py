"""Components: every model a generator uses, declared by one spec, resolved by one call.

A component is a language model, a diffusers pipeline folder, a LoRA adapter, a TTS voice, a learned
row model, a HALO folder or an embedding model. Each kind has its entry-point group; a plugin
registers a class there. The class is built with the spec's `params` and exposes `model_ref` (a
`ModelRef` whose `sha256` follows the one fingerprint rule, `weights_sha256`).

Where a component runs is declared by the class: `remote = False` (local) or `True`, or a classmethod
`is_remote(params)` (e.g. a server on 127.0.0.1 is local). A class that declares nothing is treated as
remote, so the real-data policy fails closed. `runs_remotely` is the one place that reads it.

Test doubles (`test_double = True`, e.g. the `fake` backend) are refused unless the environment
variable `BIOSYNTH_ALLOW_TEST_DOUBLES=1` is set, as the project's test suites do.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from biosynth.core._errors import ConfigError, RegistryError
from biosynth.core._nested import find_nested
from biosynth.core._provenance import ModelRef
from biosynth.core._registry import Group, Registry

TEST_DOUBLES_ENV = "BIOSYNTH_ALLOW_TEST_DOUBLES"


class ComponentKind(StrEnum):
    """What a component is; each kind has its own entry-point group."""

    LANGUAGE_MODEL = "language_model"
    DIFFUSION_PIPELINE = "diffusion_pipeline"
    LORA_ADAPTER = "lora_adapter"
    TTS_VOICE = "tts_voice"
    ROW_MODEL = "row_model"
    EHR_MODEL = "ehr_model"
    EMBEDDING_MODEL = "embedding_model"

    @property
    def group(self) -> Group:
        return _GROUPS[self]


_GROUPS = {
    ComponentKind.LANGUAGE_MODEL: Group.LLM_BACKENDS,
    ComponentKind.DIFFUSION_PIPELINE: Group.DIFFUSION_PIPELINES,
    ComponentKind.LORA_ADAPTER: Group.LORA_ADAPTERS,
    ComponentKind.TTS_VOICE: Group.TTS_VOICES,
    ComponentKind.ROW_MODEL: Group.ROW_MODELS,
    ComponentKind.EHR_MODEL: Group.EHR_MODELS,
    ComponentKind.EMBEDDING_MODEL: Group.EMBEDDING_MODELS,
}

_PATH_KEYS = ("model", "path", "folder")


class ComponentSpec(BaseModel):
    """How a recipe names a component: its kind, the registered backend that loads it, and its parameters.

    `kind` defaults to a language model, so `{backend: transformers, params: {model: ...}}` still reads as
    before. Inside a recipe, a relative path in `params.model` / `params.path` / `params.folder` (or any
    `*_path` / `*_dir` parameter) that exists next to the recipe is resolved against the recipe's folder.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ComponentKind = ComponentKind.LANGUAGE_MODEL
    backend: str = Field(min_length=1, description="the entry point in the kind's group, e.g. 'transformers'")
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _resolve_paths(self, info: ValidationInfo) -> Self:
        base = (info.context or {}).get("base_dir") if info.context else None
        if base is None:
            return self
        resolved = {}
        for key, value in self.params.items():
            is_path_key = key in _PATH_KEYS or key.endswith(("_path", "_dir"))
            if is_path_key and isinstance(value, str) and not Path(value).is_absolute() and (Path(base) / value).exists():
                resolved[key] = str(Path(base) / value)
        if resolved:
            object.__setattr__(self, "params", {**self.params, **resolved})
        return self

    @property
    def key(self) -> str:
        """A stable identity of the spec (one loaded component per key and step)."""
        return self.model_dump_json()

    def describe(self) -> str:
        return f"{self.kind.value} {self.backend!r}"


BackendSpec = ComponentSpec
"""The language-model spec of earlier releases: a `ComponentSpec` whose kind defaults to `language_model`."""


class Component(ABC):
    """Base for component classes: built from a spec's params, says where it runs, reports its `ModelRef`.

    Subclasses set `kind` and `remote` (or override `is_remote`). Leaving `remote` as None means
    "undeclared", which the policy treats as remote.
    """

    kind: ClassVar[ComponentKind]
    remote: ClassVar[bool | None] = None
    test_double: ClassVar[bool] = False

    @classmethod
    def is_remote(cls, params: dict[str, Any]) -> bool | None:
        """Whether a component built with `params` sends data off this machine (None: not declared)."""
        return cls.remote

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> object:
        """Validate params without loading anything (run by `biosynth validate`); raise a BiosynthError."""
        return None

    @property
    @abstractmethod
    def model_ref(self) -> ModelRef: ...


@dataclass(frozen=True)
class ResolvedComponent:
    """A loaded component and the reference its samples record."""

    component: Any
    model_ref: ModelRef
    remote: bool


def runs_remotely(component_cls: Any, params: dict[str, Any]) -> bool:
    """Where a component class built with `params` runs; undeclared means remote (fail closed)."""
    declare = getattr(component_cls, "is_remote", None)
    if callable(declare):
        answer = declare(params)
        return True if answer is None else bool(answer)
    declared = getattr(component_cls, "remote", None)
    return True if declared is None else bool(declared)


def component_class(registry: Registry, spec: ComponentSpec) -> Any:
    """The class registered for `spec` (test doubles only where allowed), or a RegistryError naming what exists."""
    cls = registry.get(spec.kind.group, spec.backend)
    if getattr(cls, "test_double", False) and os.environ.get(TEST_DOUBLES_ENV) != "1":
        raise RegistryError(
            f"{spec.describe()} is a test double (biosynth.core.testing) and is refused outside tests; "
            f"use a real backend, or set {TEST_DOUBLES_ENV}=1 in a test session"
        )
    return cls


def check_component(registry: Registry, spec: ComponentSpec) -> bool:
    """Check a spec without loading the model (registered, params valid); return whether it runs remotely."""
    cls = component_class(registry, spec)
    check = getattr(cls, "check_params", None)
    if callable(check):
        check(spec.params)
    return runs_remotely(cls, spec.params)


def load_component(registry: Registry, spec: ComponentSpec, *, where: str) -> ResolvedComponent:
    """Build the component `spec` names. The caller has asked the policy first (see `StepContext.component`)."""
    cls = component_class(registry, spec)
    remote = runs_remotely(cls, spec.params)
    try:
        obj = cls(**spec.params)
    except TypeError as err:
        raise ConfigError(f"{where}: {spec.describe()} parameters: {err}") from None
    ref = getattr(obj, "model_ref", None)
    if not isinstance(ref, ModelRef):
        raise RegistryError(f"{spec.describe()} ({cls!r}) has no `model_ref`; every component reports the ModelRef "
                            "its samples record")
    if remote and not ref.remote:
        ref = ref.model_copy(update={"remote": True})
    return ResolvedComponent(component=obj, model_ref=ref, remote=remote)


def find_components(params: BaseModel, prefix: str = "") -> list[tuple[str, ComponentSpec]]:
    """Every ComponentSpec inside a params model (nested models, lists and dicts included)."""
    return find_nested(params, ComponentSpec, prefix)
