"""`label_conditioned`: target label distributions, labels stored (not parsed), prompts per label."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from biosynth.core import (
    BackendSpec,
    ConfigError,
    Record,
    SampleRequest,
    StepContext,
    Strategy,
    achieved_distribution,
    derive_seed,
    target_value,
)
from biosynth.core.testing import FakeLanguageModel, GeneratorContract
from biosynth.text._label_conditioned import LabelConditioned, label_target

LABELS = ("asthma", "COPD", "heart failure")
# The model's text names a different disease: the label must still be the assigned one.
MISLEADING = "Patient with heart failure exacerbation, treated with diuretics and discharged home stable."


class TestLabelConditionedContract(GeneratorContract):
    generator_name = "label_conditioned"
    n_samples = 6

    def make_params(self) -> dict[str, Any]:
        return {"model": {"backend": "fake"}, "labels": list(LABELS), "min_words": 3}


class TestLabelConditionedTinyModelContract(GeneratorContract):
    generator_name = "label_conditioned"
    n_samples = 3

    @pytest.fixture(autouse=True)
    def _folder(self, tiny_model_dir: Path) -> None:
        self._model_dir = tiny_model_dir

    def make_params(self) -> dict[str, Any]:
        return {"model": {"backend": "transformers", "params": {"model": str(self._model_dir)}}, "labels": ["a", "b"],
                "decoding": {"temperature": 1.0, "max_new_tokens": 10, "min_new_tokens": 3}, "min_words": 2}


def assign_label(labels: tuple[str, ...], weights: tuple[float, ...] | None, seed: int, index: int) -> str:
    """What the generator does: core's balanced assignment over the labels' target."""
    return str(target_value(label_target(labels, weights, "label"), seed, index))


def test_balanced_by_default_and_deterministic_from_the_step_seed() -> None:
    labels = [assign_label(LABELS, None, 5, i) for i in range(30)]
    assert Counter(labels) == {label: 10 for label in LABELS}
    for start in range(0, 30, 3):  # every block of len(labels) holds each label once
        assert sorted(labels[start:start + 3]) == sorted(LABELS)
    assert labels == [assign_label(LABELS, None, 5, i) for i in range(30)]
    assert labels != [assign_label(LABELS, None, 6, i) for i in range(30)]


def test_weighted_distribution_is_met_closely() -> None:
    counts = Counter(assign_label(("pos", "neg"), (0.2, 0.8), 3, i) for i in range(200))
    assert counts == {"pos": 40, "neg": 160}  # blocks of 5 hold the exact proportions
    zero = Counter(assign_label(("a", "b", "c"), (1.0, 0.0, 1.0), 3, i) for i in range(50))
    assert zero == {"a": 25, "c": 25}


def test_label_is_stored_not_parsed_and_written_into_the_prompt(tmp_path: Path) -> None:
    params = {"model": {"backend": "fake", "params": {"responses": [MISLEADING]}}, "labels": list(LABELS),
              "label_field": "diagnosis", "task": "the cause of breathlessness",
              "label_descriptions": {"COPD": "chronic obstructive pulmonary disease"}}
    ctx = StepContext(step="cls", seed=42, root=tmp_path)
    records = LabelConditioned(params).generate([SampleRequest(i, derive_seed(42, i)) for i in range(6)], ctx)
    fake = ctx.language_model(BackendSpec.model_validate(params["model"]))
    assert isinstance(fake, FakeLanguageModel)
    for i, (record, request) in enumerate(zip(records, fake.requests, strict=True)):
        assert isinstance(record, Record)
        expected = assign_label(LABELS, None, 42, i)
        assert record.labels == {"diagnosis": expected}  # even though the text says heart failure
        assert record.text == MISLEADING
        user = request.messages[-1].content
        assert f'must belong to the class "{expected}"' in user and "the cause of breathlessness" in user
        assert ("Class definition: chronic obstructive pulmonary disease" in user) == (expected == "COPD")
        assert record.provenance.prompt is not None
        assert record.provenance.prompt.template_id == "label-conditioned/v1"
        assert record.provenance.strategy == (Strategy.ZERO_SHOT, Strategy.INSTRUCTION)
    assert Counter(r.labels["diagnosis"] for r in records if isinstance(r, Record)) == {label: 2 for label in LABELS}
    for record in records:  # each record keeps its target, read back by core's achieved_distribution
        assert isinstance(record, Record)
        assert record.provenance.extra["balance"] == {"column": "diagnosis", "value": record.labels["diagnosis"],
                                                      "distribution": {label: 1 / 3 for label in LABELS}}
    summary = LabelConditioned(params).summarize([r for r in records if isinstance(r, Record)])
    assert summary is not None and summary["labels"]["max_abs_error"] == 0.0
    assert summary["labels"]["counts"] == {label: 2 for label in LABELS}
    achieved = achieved_distribution([r for r in records if isinstance(r, Record)], "diagnosis")
    assert achieved.target == {label: 1 / 3 for label in LABELS} and achieved.total == 6


def test_few_shot_examples_match_the_label(tmp_path: Path) -> None:
    pool = tmp_path / "pool.jsonl"
    rows = [{"id": f"{label}-{n}", "text": f"example {n} of {label}", "class": label} for label in LABELS for n in range(3)]
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    params = {"model": {"backend": "fake"}, "labels": list(LABELS), "min_words": 3,
              "few_shot": {"pool": {"path": str(pool), "real": False}, "k": 2, "label_field": "class"}}
    records = LabelConditioned(params).generate([SampleRequest(i, i) for i in range(6)],
                                                StepContext(step="cls", seed=1, root=tmp_path))
    for record in records:
        assert isinstance(record, Record)
        label = record.labels["label"]
        assert len(record.provenance.few_shot_ids) == 2
        assert all(example_id.startswith(f"{label}-") for example_id in record.provenance.few_shot_ids)
        assert record.provenance.prompt is not None
        assert record.provenance.prompt.template_id == "label-conditioned/v1+few-shot/v1"


def test_invalid_label_parameters_are_refused() -> None:
    with pytest.raises(ConfigError, match="labels"):
        LabelConditioned({"labels": ["only one"]})
    with pytest.raises(ConfigError, match="2 weights for 3 labels"):
        LabelConditioned({"labels": list(LABELS), "weights": [1, 2]})
    with pytest.raises(ConfigError, match="repeat"):
        LabelConditioned({"labels": ["a", "a"]})
    with pytest.raises(ConfigError, match=r"label_descriptions name labels \['x'\]"):
        LabelConditioned({"labels": ["a", "b"], "label_descriptions": {"x": "?"}})
    with pytest.raises(ConfigError, match="unknown placeholders"):
        LabelConditioned({"labels": ["a", "b"], "user_template": "Write $label about $nope.", "template_id": "x/v1"})
    custom = LabelConditioned({"labels": ["a", "b"], "user_template": "Write about $label for $task.",
                               "template_id": "mine/v1"})
    assert custom.template_id == "mine/v1"



def test_example_recipe_is_valid() -> None:
    from biosynth.core import load_recipe, plan

    example = Path(__file__).parents[1] / "examples" / "classification_and_qa.yaml"
    planned = {entry.step.name: entry for entry in plan(load_recipe(example), base_dir=example.parent)}
    notes = planned["triage_notes"].generator
    assert isinstance(notes, LabelConditioned) and notes.params.few_shot is not None
    assert notes.params.few_shot.pool.path.is_file() and notes.template_id.startswith("label-conditioned/v1+")
    assert planned["triage_notes"].real_data is False and planned["questions"].step.from_ == "triage_notes"
