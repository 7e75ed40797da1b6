"""Generators used by the core tests, importable as `sample_generators:<Name>` in recipes."""

from __future__ import annotations

import time

from pydantic import Field

from biosynth.core import (
    BackendSpec,
    ChatMessage,
    ChatRequest,
    Draft,
    GenerationError,
    Generator,
    GeneratorParams,
    ImagePayload,
    InputFile,
    PromptRef,
    SampleRequest,
    StepContext,
    Strategy,
    TextPayload,
)
from biosynth.core._seeding import rng


class NumbersParams(GeneratorParams):
    fail_every: int = Field(0, ge=0, description="fail samples whose index is a multiple of this (0: never)")
    delay_s: float = Field(0.0, ge=0)
    with_media: bool = False


class Numbers(Generator[NumbersParams]):
    """Writes a seeded random number as text (and optionally a tiny 'image' file)."""

    name = "numbers"

    def _generate_one(self, request: SampleRequest, ctx: StepContext) -> Draft:
        if self.params.delay_s:
            time.sleep(self.params.delay_s)
        if self.params.fail_every and request.index % self.params.fail_every == 0:
            raise GenerationError(f"index divisible by {self.params.fail_every}")
        value = int(rng(request.seed).integers(0, 1_000_000))
        if self.params.with_media:
            media = ctx.write_media(request.index, ".pgm", f"P2 1 1 255 {value % 256}\n".encode(), "image/x-portable-graymap")
            return Draft(payload=ImagePayload(media=media, width=1, height=1, caption=str(value)))
        return Draft(payload=TextPayload(text=f"value {value}"), labels={"even": value % 2 == 0})


class PromptedParams(GeneratorParams):
    model: BackendSpec = BackendSpec(backend="fake")
    examples: InputFile | None = None


class Prompted(Generator[PromptedParams]):
    """Sends one prompt per sample to a language model; puts example file text in the prompt."""

    name = "prompted"

    def _generate_one(self, request: SampleRequest, ctx: StepContext) -> Draft:
        model = ctx.language_model(self.params.model)
        template = "Examples:\n{examples}\nWrite a short note."
        examples = self.params.examples.path.read_text() if self.params.examples else ""
        rendered = template.format(examples=examples)
        completion = model.generate([ChatRequest(messages=(ChatMessage(role="user", content=rendered),),
                                                 seed=request.seed)])[0]
        return Draft(
            payload=TextPayload(text=completion.text), model=completion.model,
            prompt=PromptRef.build("note-v1", template, rendered, redact=ctx.redact_prompts),
            strategy=(Strategy.FEW_SHOT,) if examples else (Strategy.ZERO_SHOT,),
            prompt_tokens=completion.prompt_tokens, completion_tokens=completion.completion_tokens,
        )


class Crashing(Generator[NumbersParams]):
    """Works for the first batch, then fails like a bug or an out-of-memory error would."""

    name = "crashing"

    def _generate_one(self, request: SampleRequest, ctx: StepContext) -> Draft:
        if request.index >= 2:
            raise RuntimeError("disk on fire")
        return Draft(payload=TextPayload(text=str(request.index)))


class PhrasesParams(GeneratorParams):
    texts: list[str] = Field(min_length=1)
    crash_at_env: str | None = Field(None, description="crash at the index this environment variable names")


class Phrases(Generator[PhrasesParams]):
    """Sample i is `texts[i % len(texts)]`: a controllable mix of distinct, repeated and near-repeated texts."""

    name = "phrases"

    def _generate_one(self, request: SampleRequest, ctx: StepContext) -> Draft:
        import os

        if self.params.crash_at_env and os.environ.get(self.params.crash_at_env) == str(request.index):
            raise RuntimeError("killed for the test")
        return Draft(payload=TextPayload(text=self.params.texts[request.index % len(self.params.texts)]))


class CountedNumbers(Numbers):
    """Numbers that report how many even values the step produced."""

    name = "counted_numbers"

    def summarize(self, records):  # type: ignore[no-untyped-def]
        return {"even": sum(1 for r in records if r.labels["even"]), "records": len(records)}
