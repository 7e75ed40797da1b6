"""Chain-of-thought: the reasoning is kept apart from the sample and never leaks into its text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from biosynth.core import (
    BackendSpec,
    ChatRequest,
    Group,
    Record,
    Registry,
    SampleFailure,
    SampleRequest,
    StepContext,
    Strategy,
    sha256_text,
)
from biosynth.core.testing import FakeLanguageModel, GeneratorContract
from biosynth.text import ClinicalNote
from biosynth.text._strategies.reasoning import split_answer

NOTE = "Patient admitted with chest pain, troponin negative, discharged home on aspirin with cardiology follow-up."
REASONING = "The patient is 40 so chest pain needs troponin; plan SECRET-PLAN-42."
OUTPUT = f"<reasoning>{REASONING}</reasoning>\n<answer>\n{NOTE}\n</answer>"


def _respond(request: ChatRequest) -> str:
    return f"<reasoning>seed {request.seed}</reasoning><answer>A note written for seed {request.seed} here.</answer>"


class _Reasoner(FakeLanguageModel):
    """The fake backend answering every prompt with a reasoning block and a seed-dependent answer."""

    def __init__(self, **params: Any) -> None:
        super().__init__(_respond, **params)


class TestClinicalNoteChainOfThoughtContract(GeneratorContract):
    generator_name = "clinical_note"

    def make_registry(self) -> Registry:
        registry = Registry()
        registry.register(Group.LLM_BACKENDS, "reasoner", _Reasoner)
        return registry

    def make_params(self) -> dict[str, Any]:
        return {"model": {"backend": "reasoner"}, "min_words": 3, "chain_of_thought": True}

    def test_samples_hold_no_reasoning(self) -> None:
        records = [o for o in self._run() if isinstance(o, Record)]
        assert len(records) == self.n_samples
        for record in records:
            assert record.text is not None and record.text.startswith("A note written for seed")
            assert record.provenance.extra["reasoning"] == f"seed {record.provenance.seed}"


def test_split_answer() -> None:
    assert split_answer(OUTPUT) == (NOTE, REASONING)
    assert split_answer("Let me think: x.\n<ANSWER>Final text</answer> trailing") == ("Final text", "Let me think: x.")
    assert split_answer("<reasoning>r</reasoning><answer>done without closing tag") == ("done without closing tag", "r")
    assert split_answer("<answer>a <reasoning>hidden</reasoning>b</answer>") == ("a b", "")
    with pytest.raises(ValueError, match="no <answer> block"):
        split_answer("<reasoning>only thinking</reasoning>")
    with pytest.raises(ValueError, match="cut at max_new_tokens"):
        split_answer("<reasoning>r</reasoning><answer>half a note", "length")
    with pytest.raises(ValueError, match="empty"):
        split_answer("<answer> </answer>")


def _run(params: dict[str, Any], tmp_path: Path, *, real_data: bool = False
         ) -> tuple[list[Record | SampleFailure], StepContext]:
    ctx = StepContext(step="notes", seed=1, root=tmp_path, real_data=real_data)
    return ClinicalNote(params).generate([SampleRequest(0, 3)], ctx), ctx


def test_reasoning_never_leaks_into_the_sample(tmp_path: Path) -> None:
    params = {"model": {"backend": "fake", "params": {"responses": [OUTPUT]}}, "chain_of_thought": True}
    [record], ctx = _run(params, tmp_path)
    assert isinstance(record, Record) and record.text == NOTE
    assert "SECRET-PLAN-42" not in (record.text or "") and "<" not in (record.text or "")
    p = record.provenance
    assert p.extra["reasoning"] == REASONING
    assert Strategy.CHAIN_OF_THOUGHT in p.strategy
    assert p.prompt is not None and p.prompt.template_id == "clinical-note/v1+chain-of-thought/v1"
    fake = ctx.language_model(BackendSpec(backend="fake", params={"responses": [OUTPUT]}))
    assert isinstance(fake, FakeLanguageModel)
    assert fake.requests[0].messages[-1].content.endswith("it must not mention the reasoning.")


def test_reasoning_is_hashed_with_real_data_or_dropped(tmp_path: Path) -> None:
    params = {"model": {"backend": "fake", "params": {"responses": [OUTPUT]}}, "chain_of_thought": True}
    [record], _ = _run(params, tmp_path, real_data=True)
    assert isinstance(record, Record)
    assert record.provenance.extra["reasoning_sha256"] == sha256_text(REASONING)
    assert "reasoning" not in record.provenance.extra
    [dropped], _ = _run({**params, "chain_of_thought": {"keep": "drop"}}, tmp_path)
    assert isinstance(dropped, Record) and dropped.text == NOTE
    assert not {"reasoning", "reasoning_sha256"} & set(dropped.provenance.extra)


def test_a_missing_answer_block_is_retried_then_fails(tmp_path: Path) -> None:
    thinking_only = f"<reasoning>{REASONING}</reasoning> {NOTE}"
    params = {"model": {"backend": "fake", "params": {"responses": [thinking_only, OUTPUT]}},
              "chain_of_thought": True, "max_attempts": 3}
    [record], _ = _run(params, tmp_path)
    assert isinstance(record, Record) and record.provenance.attempts == 2 and record.text == NOTE
    params = {"model": {"backend": "fake", "params": {"responses": [thinking_only]}},
              "chain_of_thought": True, "max_attempts": 2}
    [failure], _ = _run(params, tmp_path)
    assert isinstance(failure, SampleFailure) and failure.attempts == 2
    assert "no <answer> block after the reasoning" in failure.reason


def test_tiny_model_without_answer_block_is_a_recorded_failure(tiny_model_dir: Path, tmp_path: Path) -> None:
    params = {"model": {"backend": "transformers", "params": {"model": str(tiny_model_dir)}},
              "chain_of_thought": True, "max_attempts": 2,
              "decoding": {"temperature": 1.0, "max_new_tokens": 8}}
    [failure], _ = _run(params, tmp_path)
    assert isinstance(failure, SampleFailure) and failure.attempts == 2
    assert "no <answer> block" in failure.reason
