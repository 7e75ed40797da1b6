"""`qa`: question-answer pairs as validated JSON, with optional rationale, source documents, retries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from biosynth.core import (
    BackendSpec,
    ChatRequest,
    Group,
    Modality,
    Provenance,
    QAPayload,
    Record,
    Registry,
    SampleFailure,
    SampleRequest,
    StepContext,
    Strategy,
    TextPayload,
    Validation,
)
from biosynth.core.testing import FakeLanguageModel, GeneratorContract
from biosynth.text._qa import QAPair, QAPairWithRationale, QuestionAnswer

PAIR = {"question": "Which drug class is first-line for acute asthma relief?", "answer": "Short-acting beta-2 agonists."}
RATIONALE = "They relax airway smooth muscle within minutes, relieving bronchospasm."


def _respond(request: ChatRequest) -> str:
    return json.dumps({"question": f"What is finding number {request.seed} in this case?", "answer": f"Finding {request.seed}."})


class _Answerer(FakeLanguageModel):
    """The fake backend answering with a seed-dependent valid pair (the default fake answer is seed-blind)."""

    def __init__(self, **params: Any) -> None:
        super().__init__(_respond, **params)


def _registry() -> Registry:
    registry = Registry()
    registry.register(Group.LLM_BACKENDS, "answerer", _Answerer)
    return registry


def _note(i: int) -> Record:
    return Record(id=f"notes-{i:06d}", case_id=f"case-{i}", modality=Modality.TEXT,
                  payload=TextPayload(text=f"Patient {i} admitted with asthma; salbutamol nebulisers given.",
                                      document_type="discharge summary"),
                  provenance=Provenance(generator="clinical_note", generator_version="0", seed=i))


class TestQAContract(GeneratorContract):
    generator_name = "qa"

    def make_registry(self) -> Registry:
        return _registry()

    def make_params(self) -> dict[str, Any]:
        return {"model": {"backend": "answerer"}, "attributes": {"specialty": ["cardiology", "pulmonology"]}}


class TestQAFromNotesContract(GeneratorContract):
    generator_name = "qa"

    def make_registry(self) -> Registry:
        return _registry()

    def make_params(self) -> dict[str, Any]:
        return {"model": {"backend": "answerer"}, "question_type": "reading comprehension"}

    def make_inputs(self) -> list[Record]:
        return [_note(i) for i in range(2)]


def _run(params: dict[str, Any], requests: list[SampleRequest], tmp_path: Path, *, real_data: bool = False
         ) -> tuple[list[Record | SampleFailure], FakeLanguageModel]:
    ctx = StepContext(step="qa", seed=1, root=tmp_path, real_data=real_data)
    outcomes = QuestionAnswer(params).generate(requests, ctx)
    fake = ctx.language_model(BackendSpec.model_validate(params["model"]))
    assert isinstance(fake, FakeLanguageModel)
    return outcomes, fake


def test_pair_with_rationale_from_a_source_note(tmp_path: Path) -> None:
    answer = json.dumps({**PAIR, "rationale": RATIONALE})
    params = {"model": {"backend": "fake", "params": {"responses": [f"Here you go:\n```json\n{answer}\n```"]}},
              "rationale": True}
    [record], fake = _run(params, [SampleRequest(0, 4, _note(7))], tmp_path)
    assert isinstance(record, Record) and isinstance(record.payload, QAPayload)
    assert (record.payload.question, record.payload.answer, record.payload.rationale) == (
        PAIR["question"], PAIR["answer"], RATIONALE)
    assert record.text == f"Question: {PAIR['question']}\nAnswer: {PAIR['answer']}\nRationale: {RATIONALE}"
    assert record.parents == ("notes-000007",) and record.case_id == "case-7"
    [request] = fake.requests
    assert request.json_schema == QAPairWithRationale.model_json_schema()  # the fake backend can constrain
    user = request.messages[-1].content
    assert "Patient 7 admitted with asthma" in user and "answerable from the source document alone" in user
    assert "with a rationale" in user and '"rationale"' in user
    p = record.provenance
    assert p.prompt is not None and p.prompt.template_id == "qa/v1" and p.validation == Validation.PASSED
    assert p.strategy == (Strategy.ZERO_SHOT, Strategy.INSTRUCTION) and p.extra["json_schema_constrained"] is True


def test_invalid_json_is_retried_with_the_error_then_fails(tmp_path: Path) -> None:
    params = {"model": {"backend": "fake", "params": {"responses": ['{"question": "Why?", "answer": "x"}',
                                                                   json.dumps(PAIR)]}}}
    [record], fake = _run(params, [SampleRequest(0, 4)], tmp_path)
    assert isinstance(record, Record) and record.provenance.attempts == 2
    assert (record.payload.question, record.payload.answer) == (PAIR["question"], PAIR["answer"])
    retry = fake.requests[1].messages
    assert retry[-2].role == "assistant" and "question: String should have at least 10 characters" in retry[-1].content
    assert record.provenance.prompt is not None and "[assistant]" in (record.provenance.prompt.rendered or "")
    params = {"model": {"backend": "fake", "params": {"responses": ["not json at all"]}}, "max_attempts": 2}
    [failure], _ = _run(params, [SampleRequest(0, 4)], tmp_path)
    assert isinstance(failure, SampleFailure) and failure.attempts == 2
    assert failure.reason.startswith("qa: no valid QAPair JSON after 2 attempt(s)")
    same = json.dumps({"question": "What is asthma exactly?", "answer": "What is asthma exactly?"})
    [echo], _ = _run({"model": {"backend": "fake", "params": {"responses": [same]}}, "max_attempts": 1},
                     [SampleRequest(0, 4)], tmp_path)
    assert isinstance(echo, SampleFailure) and "repeats the question" in echo.reason


def test_chain_of_thought_reasoning_stays_out_of_the_pair(tmp_path: Path) -> None:
    output = f"<reasoning>Think: SECRET-STEP.</reasoning><answer>{json.dumps(PAIR)}</answer>"
    params = {"model": {"backend": "fake", "params": {"responses": [output]}}, "chain_of_thought": True}
    [record], fake = _run(params, [SampleRequest(0, 4)], tmp_path)
    assert isinstance(record, Record) and record.payload.answer == PAIR["answer"]
    assert "SECRET" not in (record.text or "")
    assert record.provenance.extra["reasoning"] == "Think: SECRET-STEP."
    assert fake.requests[0].json_schema is None  # reasoning first: the output is not JSON from its first token
    assert Strategy.CHAIN_OF_THOUGHT in record.provenance.strategy


def test_tiny_model_output_is_recorded_as_failure(tiny_model_dir: Path, tmp_path: Path) -> None:
    params = {"model": {"backend": "transformers", "params": {"model": str(tiny_model_dir)}}, "max_attempts": 2,
              "decoding": {"temperature": 1.0, "max_new_tokens": 8}}
    ctx = StepContext(step="qa", seed=1, root=tmp_path)
    outcomes = QuestionAnswer(params).generate([SampleRequest(i, i) for i in range(2)], ctx)
    assert all(isinstance(o, SampleFailure) and o.attempts == 2 and "no JSON object" in o.reason for o in outcomes)


def test_schema_follows_the_rationale_flag() -> None:
    assert QuestionAnswer({}).schema is QAPair
    assert QuestionAnswer({"rationale": True}).schema is QAPairWithRationale
    with pytest.raises(Exception, match="attributes"):
        QuestionAnswer({"attributes": {"age": {"type": "integer", "low": 5, "high": 1}}})

