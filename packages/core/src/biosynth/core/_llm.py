"""The LanguageModel protocol every text backend implements, and its request/response types."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, Self, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from biosynth.core._decoding import DecodingConfig
from biosynth.core._errors import ConfigError
from biosynth.core._provenance import ModelRef


class ChatMessage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Literal["system", "user", "assistant"]
    content: str


class ChatRequest(BaseModel):
    """One prompt: chat messages, decoding, seed, and optionally a JSON schema the output must fit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    messages: tuple[ChatMessage, ...] = Field(min_length=1)
    decoding: DecodingConfig = DecodingConfig()
    seed: int = Field(0, ge=0)
    json_schema: dict[str, Any] | None = None

    @property
    def effective_seed(self) -> int:
        return self.decoding.seed if self.decoding.seed is not None else self.seed


class Completion(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    finish_reason: Literal["stop", "length"]
    model: ModelRef


class BackendSpec(BaseModel):
    """How a recipe names a language model: a registered backend and its parameters.

    Inside a recipe, a relative path in `params.model` (or any `*_path` / `*_dir` parameter) that
    exists next to the recipe is resolved against the recipe's folder, like input files are.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    backend: str = Field(min_length=1, description="a `biosynth.llm_backends` entry, e.g. 'transformers'")
    params: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _resolve_paths(self, info: ValidationInfo) -> Self:
        base = (info.context or {}).get("base_dir") if info.context else None
        if base is None:
            return self
        resolved = {}
        for key, value in self.params.items():
            is_path_key = key == "model" or key.endswith(("_path", "_dir"))
            if is_path_key and isinstance(value, str) and not Path(value).is_absolute() and (Path(base) / value).exists():
                resolved[key] = str(Path(base) / value)
        if resolved:
            object.__setattr__(self, "params", {**self.params, **resolved})
        return self


@runtime_checkable
class LanguageModel(Protocol):
    """Chat messages in, completions with token counts out."""

    @property
    def model_ref(self) -> ModelRef: ...

    @property
    def supports_json_schema(self) -> bool: ...

    def generate(self, requests: Sequence[ChatRequest]) -> list[Completion]: ...


class BaseLanguageModel(ABC):
    """Template for backends: `generate` validates and stamps; `_generate` does the work.

    `remote` is True for backends that send prompts off the machine; `is_remote(params)` lets the
    policy decide before the backend is built (e.g. a server on 127.0.0.1 is local).
    """

    remote: ClassVar[bool] = False

    @classmethod
    def is_remote(cls, params: dict[str, Any]) -> bool:
        return cls.remote

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> object:
        """Validate a BackendSpec's params without loading a model (run by `biosynth validate`).

        Raise a BiosynthError naming the parameter at fault. The default accepts anything.
        """
        return None

    @property
    @abstractmethod
    def model_ref(self) -> ModelRef: ...

    @property
    def supports_json_schema(self) -> bool:
        return False

    def generate(self, requests: Sequence[ChatRequest]) -> list[Completion]:
        requests = list(requests)
        if not requests:
            return []
        if not self.supports_json_schema and any(r.json_schema is not None for r in requests):
            raise ConfigError(
                f"backend {self.model_ref.backend!r} cannot constrain output to a JSON schema; "
                "use a backend that can, or validate and retry in the generator"
            )
        completions = self._generate(requests)
        if len(completions) != len(requests):
            raise RuntimeError(
                f"backend {self.model_ref.backend!r} returned {len(completions)} completions "
                f"for {len(requests)} requests"
            )
        return completions

    def complete(self, messages: Sequence[ChatMessage], decoding: DecodingConfig | None = None, *,
                 seed: int = 0, json_schema: dict[str, Any] | None = None) -> Completion:
        """Convenience for a single prompt."""
        request = ChatRequest(messages=tuple(messages), decoding=decoding or DecodingConfig(),
                              seed=seed, json_schema=json_schema)
        return self.generate([request])[0]

    @abstractmethod
    def _generate(self, requests: list[ChatRequest]) -> list[Completion]: ...
