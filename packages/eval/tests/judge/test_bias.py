"""Bias checks: a judge built to prefer position A is caught by the position-bias rate; length bias and the
length-controlled score against hand-computed numbers; the self-preference refusal read from both ModelRefs."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy import stats

from biosynth.core import ChatRequest, ConfigError, ModelRef
from biosynth.core.testing import FakeLanguageModel, position_logprobs
from biosynth.eval._judge.bias import length_bias
from biosynth.eval._judge.family import SelfPreferenceError, check_self_preference, model_family
from biosynth.eval._judge.items import JudgeItem
from biosynth.eval._judge.judge import PairwiseJudge, RubricJudge
from biosynth.eval._judge.metrics import pairwise_metrics, rubric_metrics
from biosynth.eval._judge.rubric import ASCLEPIUS


def item(i: int, text: str, generator: ModelRef | None = None, reference: str | None = None) -> JudgeItem:
    return JudgeItem(id=f"notes-{i:06d}", text=text, subject="clinical note", reference=reference, generator=generator)

NOTES = ["Chest pain resolved.", "Admitted with sepsis; cultures drawn; IV antibiotics started; improving.",
         "Fall at home, hip x-ray negative, discharged home with physiotherapy.", "Cough.",
         "Type 2 diabetes, HbA1c 8.1%, metformin increased, review in three months.", "Headache, no red flags."]


def _texts(request: ChatRequest) -> tuple[str, str]:
    prompt = request.messages[1].content
    a = re.search(r"A:\n(.*?)\n\n###", prompt, re.DOTALL)
    b = re.search(r"B:\n(.*?)\n\n###Feedback", prompt, re.DOTALL)
    assert a and b, prompt
    return a.group(1), b.group(1)


def _pairs() -> list:
    return [(item(i, NOTES[i]), item(100 + i, NOTES[(i + 1) % len(NOTES)])) for i in range(len(NOTES))]


def test_a_judge_built_to_prefer_position_a_is_caught_by_the_position_bias_check() -> None:
    biased = FakeLanguageModel(["Feedback: the first one reads better. [RESULT] A"], name="qwen-judge")
    judge = PairwiseJudge(biased, ASCLEPIUS)
    pairs = _pairs()
    verdicts = judge.compare(pairs)
    assert len(biased.requests) == 2 * len(pairs)  # every pair asked in both orders
    first, swapped = _texts(biased.requests[0]), _texts(biased.requests[1])
    assert first == swapped[::-1]
    win, position, self_preference = pairwise_metrics(judge, pairs, verdicts, n_bootstrap=0)
    assert position.name == "judge.position_bias" and position.value == 1.0
    assert position.details["favoured_first_position"] == len(pairs) and position.details["favoured_second_position"] == 0
    assert position.warnings and "mostly for position A" in position.warnings[0]
    # no verdict survives the swap: no win rate is claimed
    assert win.status == "not_applicable" and "all inconsistent" in (win.error or "")
    assert self_preference.value == 0.0


def test_a_judge_that_reads_the_texts_is_consistent_and_its_win_rate_counts_only_consistent_verdicts() -> None:
    def longer_wins(request: ChatRequest) -> str:  # prefers the longer text, wherever it stands
        a, b = _texts(request)
        return f"Feedback: more detail. [RESULT] {'A' if len(a.split()) >= len(b.split()) else 'B'}"

    judge = PairwiseJudge(FakeLanguageModel(longer_wins), ASCLEPIUS)
    pairs = _pairs()
    win, position, _ = pairwise_metrics(judge, pairs, judge.compare(pairs), n_bootstrap=50, seed=3)
    assert position.value == 0.0
    expected = np.mean([len(a.text.split()) > len(b.text.split()) for a, b in pairs])  # no ties among these notes
    assert win.value == pytest.approx(expected)
    assert win.details["consistent"] == len(pairs) and win.ci is not None
    # a judge that follows length only: at equal length its preference is the coin-flip it cannot break
    assert 0.0 < win.details["length_controlled_win_rate"] < 1.0


def test_length_bias_and_the_length_controlled_score_by_hand() -> None:
    found = length_bias([1, 2, 3, 4], [10, 20, 30, 40], reference_lengths=[15, 20, 25])
    # exact line: slope 0.1 per word; at the reference length 20 every score becomes 2
    assert found.rho == pytest.approx(1.0) and found.slope_per_100_words == pytest.approx(10.0)
    assert found.controlled_score == pytest.approx(2.0) and found.reference_length == 20.0
    scores, lengths = [3, 1, 4, 2, 4], [50, 12, 80, 30, 61]
    found = length_bias(scores, lengths)
    slope = np.polyfit(lengths, scores, 1)[0]
    assert found.rho == pytest.approx(stats.spearmanr(lengths, scores)[0])
    assert found.controlled_score == pytest.approx(np.mean(np.array(scores) - slope * (np.array(lengths) - 50)))
    with pytest.raises(ValueError, match="same length or the same score"):
        length_bias([2, 2, 2], [1, 2, 3])


def test_a_length_loving_geval_judge_is_reported_with_length_bias() -> None:
    def by_length(request: ChatRequest):  # the probability mass moves to higher scores for longer notes
        words = len(request.messages[1].content.split("Clinical note:\n", 1)[1].split("\n\n")[0].split())
        high = min(words / 12, 1.0)
        return [position_logprobs({"1": 0.5 * (1 - high) + 1e-6, "2": 0.5 * (1 - high) + 1e-6,
                                   "3": 0.5 * high + 1e-6, "4": 0.5 * high + 1e-6})]

    judge = RubricJudge(FakeLanguageModel(["3"], logprobs=by_length), ASCLEPIUS)
    items = [item(i, text) for i, text in enumerate(NOTES)]
    judgements = judge.grade(items)
    main, bias, controlled, _ = rubric_metrics(judge, items, judgements, n_bootstrap=0,
                                                             reference_lengths=[3])
    assert [j.method for j in judgements] == ["g-eval"] * len(NOTES)
    assert bias.name == "judge.length_bias" and bias.value == pytest.approx(1.0)
    assert bias.warnings and "follow length" in bias.warnings[0]
    # at the reference length (3 words) the controlled score is below the raw mean of these longer notes
    assert controlled.name == "judge.asclepius_length_controlled" and controlled.value < main.value  # type: ignore[operator]
    assert main.parameters["rubric"]["id"] == "judge/asclepius/v1"
    assert main.parameters["rubric"]["sha256"] == ASCLEPIUS.sha256
    assert set(main.parameters["templates"]) == {"judge/geval/v1", "judge/prometheus/v1"}
    assert [row["record_id"] for row in main.details["scores"]] == [i.id for i in items]


SMOL = ModelRef(name="HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1 GGUF)", backend="llamacpp", sha256="a" * 64)


@pytest.mark.parametrize(("name", "family"), [
    ("SmolLM2-360M-Instruct.Q8_0.gguf", "smollm"), ("meta-llama/Llama-3.1-8B-Instruct", "llama"),
    ("epfl-llm/meditron-7b", "llama"), ("gpt-4o-mini", "gpt"), ("BioMistral-7B", "mistral"), ("Qwen2.5-7B", "qwen"),
])
def test_model_family_reads_the_leading_name_word_and_known_fine_tunes(name: str, family: str) -> None:
    assert model_family(ModelRef(name=name, backend="transformers")) == family


def test_a_judge_of_the_generators_family_is_refused_unless_forced() -> None:
    generator = ModelRef(name="SmolLM2-360M-Instruct", backend="transformers")
    with pytest.raises(SelfPreferenceError, match=r"model family 'smollm'.*force") as raised:
        check_self_preference(SMOL, [None, generator])
    assert isinstance(raised.value, ConfigError)  # a user error: the CLI exits 2
    warnings = check_self_preference(SMOL, [generator], force=True)
    assert warnings and "self-preference" in warnings[0] and "forced" in warnings[0]
    # the same weights under another name are the same model
    renamed = ModelRef(name="my-judge", backend="openai", sha256="a" * 64)
    with pytest.raises(SelfPreferenceError):
        check_self_preference(renamed, [SMOL])
    assert check_self_preference(ModelRef(name="Qwen2.5-0.5B", backend="llamacpp"), [generator]) == []


def test_the_forced_self_judge_is_reported_in_the_results() -> None:
    judge = RubricJudge(FakeLanguageModel(["Feedback: fine. [RESULT] 3"], name="fake-judge"), ASCLEPIUS)
    generator = ModelRef(name="fake-llm", backend="fake")
    items = [item(i, text, generator=generator) for i, text in enumerate(NOTES[:3])]
    warnings = check_self_preference(judge.model_ref, [i.generator for i in items], force=True)
    results = {r.name: r for r in rubric_metrics(judge, items, judge.grade(items), warnings=warnings, n_bootstrap=0)}
    assert results["judge.self_preference"].value == 1.0
    assert results["judge.self_preference"].details["generator_families"] == {"fake-llm (fake)": "fake"}
    assert any("self-preference" in w for w in results["judge.asclepius"].warnings)
