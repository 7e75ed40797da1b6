"""Structured outputs (core's `generate_structured`) against text's real backend and reasoning parser."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from biosynth.core import (
    ChatMessage,
    DecodingConfig,
    GenerationError,
    StructuredPrompt,
    StructuredResult,
    generate_structured,
    json_instruction,
)
from biosynth.core.testing import FakeLanguageModel


class Answer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    question: str = Field(min_length=1)
    score: int = Field(ge=0, le=10)


def _prompt(seed: int = 3) -> StructuredPrompt[Answer]:
    return StructuredPrompt(messages=(ChatMessage(role="user", content="Give JSON. " + json_instruction(Answer)),),
                            seed=seed)


def test_text_reexports_the_core_loop() -> None:
    import biosynth.core
    import biosynth.text

    assert biosynth.text.generate_structured is biosynth.core.generate_structured
    assert biosynth.text.StructuredResult is biosynth.core.StructuredResult


def test_tiny_model_garbage_becomes_a_failure(tiny_model_dir: Path) -> None:
    from biosynth.text import TransformersLanguageModel

    model = TransformersLanguageModel(model=str(tiny_model_dir))
    [failure] = generate_structured(model, [_prompt()], Answer,
                                    decoding=DecodingConfig(temperature=1.0, max_new_tokens=6), max_attempts=2)
    assert isinstance(failure, GenerationError) and failure.attempts == 2
    assert failure.reason.count("no JSON object") == 2


def test_split_answer_as_answer_of() -> None:
    from biosynth.text._strategies.reasoning import split_answer

    output = '<reasoning>score is {"not": "this"}</reasoning><answer>{"question": "q?", "score": 3}</answer>'
    model = FakeLanguageModel(responses=["<reasoning>no answer block</reasoning>", output])
    [result] = generate_structured(model, [_prompt()], Answer, decoding=DecodingConfig(),
                                   answer_of=lambda text, finish: split_answer(text, finish)[0])
    assert isinstance(result, StructuredResult) and result.value == Answer(question="q?", score=3)
    assert not result.constrained and all(r.json_schema is None for r in model.requests)
    assert result.attempts == 2 and "no <answer> block" in model.requests[1].messages[-1].content
