"""How a sample was made: the model, the prompt, the strategy, the decoding, the seed."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from biosynth.core._decoding import DecodingConfig
from biosynth.core._hashing import sha256_text


class Strategy(StrEnum):
    """Generation strategies of the field (a sample may combine several)."""

    TEMPLATE = "template"
    ATTRIBUTE_SAMPLING = "attribute-sampling"
    ZERO_SHOT = "zero-shot"
    FEW_SHOT = "few-shot"
    INSTRUCTION = "instruction"
    CHAIN_OF_THOUGHT = "chain-of-thought"
    RETRIEVAL_AUGMENTED = "retrieval-augmented"
    FINE_TUNED = "fine-tuned"
    MULTI_AGENT = "multi-agent"
    LEARNED_GENERATOR = "learned-generator"
    DIFFUSION = "diffusion"
    TTS = "text-to-speech"


class ModelRef(BaseModel):
    """Which model made a sample. Remote endpoints record the *name* of the key variable only."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    backend: str
    revision: str | None = None
    sha256: str | None = Field(None, description="sha256 of the weights file or folder")
    license: str | None = None
    endpoint: str | None = None
    api_key_env: str | None = Field(None, description="environment variable holding the key")
    remote: bool = False


class PromptRef(BaseModel):
    """The prompt: template identity and either the rendered text or, for real data, its hash only."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    template_id: str
    template_sha256: str
    rendered: str | None = None
    rendered_sha256: str
    redacted: bool = Field(False, description="True when the rendered prompt held real data")

    @classmethod
    def build(cls, template_id: str, template: str, rendered: str, *, redact: bool) -> PromptRef:
        return cls(
            template_id=template_id,
            template_sha256=sha256_text(template),
            rendered=None if redact else rendered,
            rendered_sha256=sha256_text(rendered),
            redacted=redact,
        )


class Validation(StrEnum):
    NOT_VALIDATED = "not-validated"
    PASSED = "passed"
    REPAIRED = "repaired"


class GenerationFacts(BaseModel):
    """What a generator alone knows about how it made a sample (shared by `Draft` and `Provenance`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: ModelRef | None = None
    prompt: PromptRef | None = None
    strategy: tuple[Strategy, ...] = ()
    few_shot_ids: tuple[str, ...] = ()
    retrieved_ids: tuple[str, ...] = ()
    decoding: DecodingConfig | None = None
    attempts: int = Field(1, ge=1)
    validation: Validation = Validation.NOT_VALIDATED
    prompt_tokens: int | None = Field(None, ge=0)
    completion_tokens: int | None = Field(None, ge=0)
    extra: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.prompt is not None and self.model is None:
            raise ValueError("a prompt was recorded without the model it was sent to")
        return self

    def facts(self) -> dict[str, Any]:
        """The shared fields only, as attributes (models kept as models)."""
        return {name: getattr(self, name) for name in GenerationFacts.model_fields}


class Provenance(GenerationFacts):
    """Everything needed to reproduce or audit one record.

    The runner stamps `generator`, `generator_version`, `step`, `seed` and `created_at` around the
    facts the generator reported (model, prompt, strategy, decoding, examples, attempts).
    """

    generator: str
    generator_version: str
    step: str | None = None
    seed: int
    created_at: datetime | None = None
