"""Decoding parameters, one frozen object for every backend."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class DecodingConfig(BaseModel):
    """How a language model decodes. `temperature=0` means greedy decoding.

    Relations between fields are checked (like transformers' GenerationConfig, but strict and
    frozen): sampling knobs are refused under greedy decoding, and `min_new_tokens` may not exceed
    `max_new_tokens`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    temperature: float = Field(0.7, ge=0.0, le=5.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int | None = Field(None, ge=1)
    max_new_tokens: int = Field(256, ge=1)
    min_new_tokens: int = Field(0, ge=0)
    repetition_penalty: float = Field(1.0, gt=0.0)
    seed: int | None = Field(None, ge=0, description="Overrides the per-sample seed when set.")
    stop: tuple[str, ...] = ()

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    @model_validator(mode="after")
    def _check_relations(self) -> Self:
        if self.greedy and (self.top_p != 1.0 or self.top_k is not None):
            raise ValueError(
                "top_p and top_k have no effect with temperature=0 (greedy decoding); "
                "set temperature > 0 to sample, or drop top_p/top_k"
            )
        if self.min_new_tokens > self.max_new_tokens:
            raise ValueError(
                f"min_new_tokens ({self.min_new_tokens}) exceeds max_new_tokens ({self.max_new_tokens})"
            )
        if any(s == "" for s in self.stop):
            raise ValueError("stop sequences must be non-empty strings")
        return self
