"""The LanguageModel protocol every text backend implements, and its request/response types."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from biosynth.core._components import Component, ComponentKind
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
    top_logprobs: int | None = Field(
        None, ge=1, le=20, description="ask for the log-probabilities of the `top_logprobs` most likely tokens at each "
                                       "generated position (a backend that cannot give them returns none: see "
                                       "`supports_logprobs`)")

    @property
    def effective_seed(self) -> int:
        return self.decoding.seed if self.decoding.seed is not None else self.seed


class TokenLogprob(BaseModel):
    """One token's text and natural-log probability under the model (before temperature or top-p)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    token: str
    logprob: float = Field(le=0.0)


class PositionLogprobs(TokenLogprob):
    """A generated token with its log-probability and the `top` most likely tokens at its position, best first."""

    top: tuple[TokenLogprob, ...] = ()


class Completion(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    finish_reason: Literal["stop", "length"]
    model: ModelRef
    logprobs: tuple[PositionLogprobs, ...] | None = Field(
        None, description="per generated token, when the request asked for `top_logprobs` and the backend gives them")


@runtime_checkable
class LanguageModel(Protocol):
    """Chat messages in, completions with token counts out."""

    @property
    def model_ref(self) -> ModelRef: ...

    @property
    def supports_json_schema(self) -> bool: ...

    def generate(self, requests: Sequence[ChatRequest]) -> list[Completion]: ...


class BaseLanguageModel(Component):
    """Template for backends: `generate` validates and stamps; `_generate` does the work.

    A backend declares where it runs: `remote = False` for one that keeps prompts on this machine,
    `True` for one that sends them away, or `is_remote(params)` to decide from its parameters before it
    is built (e.g. a server on 127.0.0.1 is local). A backend that declares nothing is treated as remote.
    """

    kind: ClassVar[ComponentKind] = ComponentKind.LANGUAGE_MODEL

    @property
    def supports_json_schema(self) -> bool:
        return False

    @property
    def supports_logprobs(self) -> bool:
        """Whether completions carry `logprobs` when a request asks for `top_logprobs` (a backend that cannot give
        them ignores the request: its completions have `logprobs=None`)."""
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
                 seed: int = 0, json_schema: dict[str, Any] | None = None,
                 top_logprobs: int | None = None) -> Completion:
        """Convenience for a single prompt."""
        request = ChatRequest(messages=tuple(messages), decoding=decoding or DecodingConfig(),
                              seed=seed, json_schema=json_schema, top_logprobs=top_logprobs)
        return self.generate([request])[0]

    @abstractmethod
    def _generate(self, requests: list[ChatRequest]) -> list[Completion]: ...
