"""Rubric grading: the G-Eval weighted score checked against hand-computed numbers, the strict `[RESULT] n` parse,
retries with the parse error, and the fallback from G-Eval to feedback when the score tokens are missing."""

from __future__ import annotations

import math

import pytest

from biosynth.core import ConfigError, ModelRef, PositionLogprobs, Rejected, TokenLogprob
from biosynth.core.testing import FakeLanguageModel, position_logprobs
from biosynth.eval._judge.items import JudgeItem
from biosynth.eval._judge.judge import RubricJudge
from biosynth.eval._judge.metrics import rubric_metrics
from biosynth.eval._judge.parse import Parsed, parse_result, weighted_score
from biosynth.eval._judge.rubric import ASCLEPIUS, FACTUAL_CONSISTENCY


def item(i: int, text: str, generator: ModelRef | None = None, reference: str | None = None) -> JudgeItem:
    return JudgeItem(id=f"notes-{i:06d}", text=text, subject="clinical note", reference=reference, generator=generator)

def test_weighted_score_is_the_probability_weighted_mean_over_score_tokens() -> None:
    # first position: white space only (skipped); second: the answer. " 3" and "3" are one score.
    space = PositionLogprobs(token=" ", logprob=math.log(0.9), top=(TokenLogprob(token=" ", logprob=math.log(0.9)),))
    answer = position_logprobs({"1": 0.1, "2": 0.2, "3": 0.3, " 3": 0.1, "4": 0.2, "Hello": 0.1})
    found = weighted_score([space, answer], ASCLEPIUS.values)
    assert found is not None
    # by hand: mass = 0.1 + 0.2 + 0.4 + 0.2 = 0.9; score = (1*0.1 + 2*0.2 + 3*0.4 + 4*0.2) / 0.9 = 2.5 / 0.9
    assert found.mass == pytest.approx(0.9)
    assert found.score == pytest.approx(25 / 9)
    assert found.probabilities == pytest.approx({1: 1 / 9, 2: 2 / 9, 3: 4 / 9, 4: 2 / 9})
    assert found.position == 1
    # "5" is not on Asclepius' 4-level scale: it does not count
    assert weighted_score([position_logprobs({"5": 0.5, "4": 0.5})], ASCLEPIUS.values).score == 4.0  # type: ignore[union-attr]
    assert weighted_score([position_logprobs({"The": 0.7, "A": 0.3})], ASCLEPIUS.values) is None


def test_geval_judge_asks_for_logprobs_and_reports_the_weighted_score() -> None:
    model = FakeLanguageModel(["3"], logprobs=lambda request: [position_logprobs({"2": 0.25, "3": 0.5, "4": 0.25})])
    judge = RubricJudge(model, ASCLEPIUS, seed=1)
    assert judge.uses_geval
    [judgement] = judge.grade([item(0, "Patient admitted with pneumonia; treated with IV antibiotics.")])
    assert judgement.method == "g-eval"
    assert judgement.score == pytest.approx(3.0)  # 2*0.25 + 3*0.5 + 4*0.25
    assert judgement.probabilities == pytest.approx({2: 0.25, 3: 0.5, 4: 0.25})
    request = model.requests[0]
    assert request.top_logprobs == 20 and request.decoding.temperature == 0.0
    prompt = request.messages[1].content
    assert ASCLEPIUS.criterion in prompt and "4 (Excellent)" in prompt and ASCLEPIUS.steps[1] in prompt
    assert "Patient admitted with pneumonia" in prompt


@pytest.mark.parametrize(("answer", "problem"), [
    ("Feedback: accurate and complete. [RESULT] 3", None),
    ("Accurate. [RESULT] (4)", None),
    ("Feedback: fine. [RESULT] 3 [RESULT] 4", "exactly one"),
    ("Feedback: fine. Score: 3", "exactly one"),
    ("Feedback: fine. [RESULT] 5", "not one of"),
    ("Feedback: fine. [RESULT] 3, because it is fine", "nothing else"),
    ("[RESULT] 3", "feedback"),
    ("Feedback: fine. [RESULT] three", "not one of"),
])
def test_result_parse_is_strict(answer: str, problem: str | None) -> None:
    parsed = parse_result(answer, [str(v) for v in ASCLEPIUS.values])
    if problem is None:
        assert isinstance(parsed, Parsed)
        assert (parsed.verdict, parsed.feedback) in {("3", "accurate and complete."), ("4", "Accurate.")}
    else:
        assert isinstance(parsed, Rejected) and problem in parsed.reason


def test_feedback_judge_retries_with_the_parse_error_until_the_answer_parses() -> None:
    model = FakeLanguageModel(["Score: 3", "The note is accurate but terse. [RESULT] 3 or 4",
                               "Feedback: accurate but terse. [RESULT] 3"])
    judge = RubricJudge(model, ASCLEPIUS, max_attempts=3)
    assert not judge.uses_geval  # the fake without scripted logprobs gives none
    [judgement] = judge.grade([item(0, "Chest pain, troponin negative, discharged.")])
    assert judgement.method == "prometheus" and judgement.score == 3.0 and judgement.attempts == 3
    assert judgement.rationale == "accurate but terse."
    assert len(judgement.notes) == 2 and "exactly one" in judgement.notes[0]
    # the retries carry the rejected answer and the reason
    retry = model.requests[2].messages
    assert [m.role for m in retry] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert retry[2].content == "Score: 3" and "exactly one '[RESULT]'" in retry[3].content


def test_a_judge_that_never_answers_in_form_fails_with_the_reasons_and_the_metric_says_so() -> None:
    model = FakeLanguageModel(["I think it is good."])
    judge = RubricJudge(model, ASCLEPIUS, max_attempts=2)
    judgements = judge.grade([item(0, "a"), item(1, "b")])
    assert all(j.score is None and j.attempts == 2 and "no valid judgement after 2" in (j.error or "")
               for j in judgements)
    results = rubric_metrics(judge, [item(0, "a"), item(1, "b")], judgements, n_bootstrap=0)
    main = results[0]
    assert main.name == "judge.asclepius" and main.status == "failed" and main.value is None
    assert "no item could be graded" in (main.error or "")


def test_geval_falls_back_to_feedback_when_no_score_token_is_likely() -> None:
    def logprobs(request):  # the G-Eval answer starts with a word, not a score
        return [position_logprobs({"The": 0.8, "A": 0.2})]

    model = FakeLanguageModel(lambda r: "The" if r.top_logprobs else "Feedback: complete. [RESULT] 4", logprobs=logprobs)
    [judgement] = RubricJudge(model, ASCLEPIUS).grade([item(0, "Discharged home on aspirin.")])
    assert judgement.method == "prometheus" and judgement.score == 4.0
    assert judgement.notes[0].startswith("g-eval: no score token among the 20")


def test_geval_needs_a_backend_with_logprobs_and_a_reference_rubric_needs_references() -> None:
    with pytest.raises(ConfigError, match="gives no token log-probabilities"):
        RubricJudge(FakeLanguageModel(), ASCLEPIUS, method="g-eval")
    judge = RubricJudge(FakeLanguageModel(["Feedback: ok. [RESULT] 5"]), FACTUAL_CONSISTENCY)
    with pytest.raises(ConfigError, match="source record; item 'notes-000000' has none"):
        judge.grade([item(0, "text")])
    [judgement] = judge.grade([item(0, "BP 120/80.", reference="Blood pressure 120/80 mmHg.")])
    assert judgement.score == 5.0
    prompt = judge.model.requests[-1].messages[1].content  # type: ignore[attr-defined]
    assert "Source record:\nBlood pressure 120/80 mmHg." in prompt
