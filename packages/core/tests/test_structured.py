"""Structured outputs: JSON extraction, pydantic validation, retries with the error in the prompt."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel, ConfigDict, Field

from biosynth.core import (
    RETRY_TEMPLATE,
    ChatMessage,
    DecodingConfig,
    GenerationError,
    StructuredPrompt,
    StructuredResult,
    derive_seed,
    extract_json,
    generate_structured,
    json_instruction,
    retry_turns,
)
from biosynth.core.testing import FakeLanguageModel


class Answer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    question: str = Field(min_length=1)
    score: int = Field(ge=0, le=10)


def _prompt(seed: int = 3) -> StructuredPrompt[Answer]:
    return StructuredPrompt(messages=(ChatMessage(role="user", content="Give JSON. " + json_instruction(Answer)),),
                            seed=seed)


class _NoSchema(FakeLanguageModel):
    """The fake backend, but without JSON-schema support (like the transformers backend)."""

    @property
    def supports_json_schema(self) -> bool:
        return False


def test_extract_json_tolerates_fences_and_prose() -> None:
    assert extract_json('Sure! ```json\n{"a": 1}\n``` done') == {"a": 1}
    assert extract_json('Here it is: {"a": {"b": [1, 2]}} and more {"c": 3}') == {"a": {"b": [1, 2]}}
    assert extract_json('{bad} then {"ok": true}') == {"ok": True}
    assert extract_json("See [1]: {\"a\": 2}") == {"a": 2} and extract_json("[1, 2]") == [1, 2]
    with pytest.raises(ValueError, match="no JSON object"):
        extract_json("no json here")
    with pytest.raises(ValueError, match="empty output"):
        extract_json("   ")


def test_schema_constraint_is_sent_when_the_backend_supports_it() -> None:
    model = FakeLanguageModel()  # answers the smallest instance of the schema it is sent
    [result] = generate_structured(model, [_prompt()], Answer, decoding=DecodingConfig(temperature=0.0))
    assert isinstance(result, StructuredResult) and isinstance(result.value, Answer)
    assert result.constrained and model.requests[0].json_schema == Answer.model_json_schema()
    assert result.attempts == 1 and result.llm_seed == 3 and result.model.backend == "fake"


def test_invalid_answers_are_retried_with_the_error_and_a_new_seed() -> None:
    answers = ['{"question": "q", "score": 42}', "I think ```json\n{\"question\": \"why?\", \"score\": 4}\n```"]
    model = _NoSchema(responses=answers)
    [result] = generate_structured(model, [_prompt(seed=5)], Answer, decoding=DecodingConfig(), max_attempts=3)
    assert isinstance(result, StructuredResult)
    assert result.value == Answer(question="why?", score=4)
    assert result.attempts == 2 and not result.constrained
    first, second = model.requests
    assert first.json_schema is None and first.seed == 5 and second.seed == derive_seed(5, "attempt", 1)
    assert [m.role for m in second.messages] == ["user", "assistant", "user"]
    assert second.messages[1].content == answers[0]
    assert "score: Input should be less than or equal to 10" in second.messages[2].content
    assert result.messages == second.messages and "[assistant]" in result.rendered
    assert result.total_completion_tokens == result.completion_tokens + first_tokens(answers[0])


def first_tokens(text: str) -> int:
    return len(text.split())


def test_failure_lists_every_attempts_reason() -> None:
    model = _NoSchema(responses=["no json", '{"question": "", "score": 1}'])
    [failure] = generate_structured(model, [_prompt()], Answer, decoding=DecodingConfig(), max_attempts=2)
    assert isinstance(failure, GenerationError) and failure.attempts == 2
    assert "attempt 1: no JSON object" in failure.reason
    assert "attempt 2: invalid JSON fields: question: String should have at least 1 character" in failure.reason


def test_checks_reject_and_repair() -> None:
    model = _NoSchema(responses=['{"question": "a", "score": 1}', '{"question": "b", "score": 2}'])

    def global_check(value: Answer) -> str | None:
        return "question a is banned" if value.question == "a" else None

    def own_check(value: Answer) -> Answer:
        return Answer(question=value.question.upper(), score=value.score)

    prompt = StructuredPrompt(messages=_prompt().messages, seed=1, check=own_check)
    [result] = generate_structured(model, [prompt], Answer, decoding=DecodingConfig(), check=global_check)
    assert isinstance(result, StructuredResult)
    assert result.value == Answer(question="B", score=2) and result.repaired and result.attempts == 2
    assert "question a is banned" in model.requests[1].messages[-1].content


def test_one_batched_call_per_attempt() -> None:
    calls: list[int] = []

    class Counting(_NoSchema):
        def _generate(self, requests):  # type: ignore[no-untyped-def]
            calls.append(len(requests))
            return super()._generate(requests)

    def respond(request):  # type: ignore[no-untyped-def]
        bad = request.seed % 2 == 1 and len(request.messages) == 1
        return "oops" if bad else '{"question": "q", "score": 1}'

    outcomes = generate_structured(Counting(responses=respond), [_prompt(s) for s in range(6)], Answer,
                                   decoding=DecodingConfig())
    assert all(isinstance(o, StructuredResult) for o in outcomes)
    assert calls == [6, 3]
    assert [o.attempts for o in outcomes if isinstance(o, StructuredResult)] == [1, 2, 1, 2, 1, 2]


def test_truncated_output_says_so() -> None:
    model = _NoSchema(responses=['{"question": "a long', "x"])
    [failure] = generate_structured(model, [_prompt()], Answer, decoding=DecodingConfig(max_new_tokens=2),
                                    max_attempts=1)
    assert isinstance(failure, GenerationError) and "max_new_tokens=2" in failure.reason


def test_cut_outer_object_is_reported_as_cut_not_as_a_nested_field() -> None:
    # cut after 8 whitespace tokens, inside "note": the nested {"x": 1} decodes on its own
    answer = '{"question": {"x": 1}, "score": 4, "note": "a long and winding road"}'
    model = _NoSchema(responses=[answer])
    [failure] = generate_structured(model, [_prompt()], Answer, decoding=DecodingConfig(max_new_tokens=8),
                                    max_attempts=1)
    assert isinstance(failure, GenerationError)
    assert model.requests and "cut at max_new_tokens=8" in failure.reason and "raise max_new_tokens" in failure.reason
    assert "invalid JSON fields" not in failure.reason and "question" not in failure.reason


def test_nested_value_of_a_finished_answer_is_still_validated() -> None:
    # finished (not cut): the tolerant parse takes the nested object and reports its fields
    model = _NoSchema(responses=['{"broken": {"question": "q", "score": 1}, oops'])
    [result] = generate_structured(model, [_prompt()], Answer, decoding=DecodingConfig(), max_attempts=1)
    assert isinstance(result, StructuredResult) and result.value == Answer(question="q", score=1)


def test_extract_json_order_and_retry_turns() -> None:
    assert extract_json('[{"a": 1}, {"a": 2}]') == {"a": 1}
    assert extract_json('[{"a": 1}, {"a": 2}]', objects_first=False) == [{"a": 1}, {"a": 2}]
    assert extract_json('x {"rows": [1]} [2]', objects_first=False) == {"rows": [1]}
    answer, ask = retry_turns("bad", "score: too big")
    assert (answer.role, answer.content, ask.role) == ("assistant", "bad", "user")
    assert ask.content == RETRY_TEMPLATE.format(errors="score: too big")
    _, ask = retry_turns("bad", "e", "{k} more: {errors}", k=2)
    assert ask.content == "2 more: e"


def _answer_block(text: str, finish: str) -> str:
    match = re.search(r"<answer>(.*?)</answer>", text, re.DOTALL)
    if match is None:
        raise ValueError("no <answer> block" + (" (cut)" if finish == "length" else ""))
    return match.group(1)


def test_answer_of_cuts_the_json_out_and_turns_the_constraint_off() -> None:
    output = '<reasoning>score is {"not": "this"}</reasoning><answer>{"question": "q?", "score": 3}</answer>'
    model = FakeLanguageModel(responses=["<reasoning>no answer block</reasoning>", output])
    [result] = generate_structured(model, [_prompt()], Answer, decoding=DecodingConfig(), answer_of=_answer_block)
    assert isinstance(result, StructuredResult) and result.value == Answer(question="q?", score=3)
    assert not result.constrained and all(r.json_schema is None for r in model.requests)
    assert result.attempts == 2 and "no <answer> block" in model.requests[1].messages[-1].content
