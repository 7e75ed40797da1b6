"""The critic_filter step in a real recipe run: kept, repaired and dropped samples, every decision in the manifest
(removals with id, score, rationale sha256 and the judge's ModelRef), failures kept as failures, self-preference
refused unless forced."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from biosynth.core import (
    ChatRequest,
    ConfigError,
    Draft,
    Generator,
    GeneratorParams,
    Group,
    ModelRef,
    Registry,
    RemovedEntry,
    Runner,
    SampleRequest,
    StepContext,
    SyntheticDataset,
    TextPayload,
    parse_recipe,
    sha256_text,
)
from biosynth.core._progress import LogProgress
from biosynth.core.testing import FakeLanguageModel


def _grade(request: ChatRequest) -> str:
    """A judge that scores by a word in the note: fair 2 (repairable), awful 1, garbled no verdict, any other 4."""
    prompt = request.messages[1].content
    note = re.search(r"###[\w ]+ to evaluate:\n(.*?)\n\n###Score rubric", prompt, re.DOTALL)
    assert note, prompt
    text = note.group(1)
    if "garbled" in text:
        return "I cannot say."
    score = 2 if "fair" in text else 1 if "awful" in text else 4
    return f"Feedback: the note is {text.split()[1]}. [RESULT] {score}"


class ScriptedJudge(FakeLanguageModel):
    """The fake backend with a scripted rubric judge (registered under its own name for the run)."""

    def __init__(self, name: str = "phi-judge", **_: Any) -> None:
        super().__init__(_grade, name=name)


class ScriptedRewriter(FakeLanguageModel):
    def __init__(self, name: str = "qwen-writer", **_: Any) -> None:
        super().__init__(lambda r: "A rewritten note: " + r.messages[-1].content.rsplit("\n", 1)[-1].replace("fair", "full"),
                         name=name)


def _registry() -> Registry:
    registry = Registry()
    registry.register(Group.LLM_BACKENDS, "scripted_judge", ScriptedJudge)
    registry.register(Group.LLM_BACKENDS, "scripted_writer", ScriptedRewriter)
    return registry


def _recipe(**critic: Any) -> Any:
    return parse_recipe({"name": "critic-test", "seed": 2, "steps": [
        {"name": "patients", "generator": "attributes", "count": 8,
         "params": {"attributes": {"quality": ["good", "fair", "awful", "garbled"]}}},
        {"name": "notes", "generator": "template", "from": "patients",
         "params": {"template": "Note $quality for $case_id.", "document_type": "clinical note"}},
        {"name": "critic", "generator": "critic_filter", "from": "notes", "batch_size": 4,
         "params": {"judge": {"backend": "scripted_judge"}, "rubric": "asclepius", "keep_at": 3, **critic}},
    ]})


def test_the_critic_keeps_repairs_and_drops_and_the_manifest_records_every_decision(tmp_path: Path) -> None:
    recipe = _recipe(drop_below=2, rewriter={"backend": "scripted_writer"})
    manifest = Runner(recipe, tmp_path / "ds", registry=_registry(), progress=LogProgress()).run()
    ds = SyntheticDataset(tmp_path / "ds")
    notes = {r.id: r for r in ds.records("notes")}
    quality = {i: r.text.split()[1] for i, r in notes.items()}  # type: ignore[union-attr]
    critic = ds.records("critic")
    summary = manifest.steps["critic"]
    by_input = {r.provenance.extra["critic"]["input_id"]: r for r in critic}
    judge_ref = {"name": "phi-judge", "backend": "fake"}
    # good: kept as is, with the original generator's provenance and the decision
    for note_id, q in quality.items():
        if q == "good":
            kept = by_input[note_id]
            decision = kept.provenance.extra["critic"]
            assert kept.text == notes[note_id].text and kept.provenance.generator == "critic_filter"
            assert kept.parents == (note_id,) and kept.labels["critic_score"] == 4.0
            assert decision["decision"] == "kept" and decision["score"] == 4.0
            assert decision["rationale_sha256"] == sha256_text("the note is good.")
            assert {k: decision["judge"][k] for k in judge_ref} == judge_ref
            assert decision["rubric"] == {"id": "judge/asclepius/v1", "sha256": decision["rubric"]["sha256"]}
        elif q == "fair":  # score 2 is in [drop_below, keep_at): rewritten, graded again (4), kept as repaired
            repaired = by_input[note_id]
            decision = repaired.provenance.extra["critic"]
            assert repaired.text.startswith("A rewritten note") and repaired.provenance.validation == "repaired"
            assert repaired.provenance.model.name == "qwen-writer"  # type: ignore[union-attr]
            assert repaired.provenance.prompt.template_id == "judge/repair/v1"  # type: ignore[union-attr]
            assert decision["decision"] == "repaired" and decision["initial_score"] == 2.0 and decision["score"] == 4.0
            assert "the note is fair." in repaired.provenance.prompt.rendered  # type: ignore[union-attr,operator]
        else:
            assert note_id not in by_input
    removed = {r.id: r for r in summary.removed_samples}
    failed_indices = {f.index for f in summary.failures}
    for note_id, q in quality.items():
        index = int(note_id.rsplit("-", 1)[1])
        if q == "awful":  # score 1, below drop_below: dropped, recorded like a deduplication removal
            entry = removed[note_id]
            assert isinstance(entry, RemovedEntry) and entry.index == index and entry.score == 1.0
            assert entry.reason == "critic: score below 2"
            assert entry.rationale_sha256 == sha256_text("the note is awful.")
            assert entry.judge is not None and entry.judge.name == "phi-judge"
        elif q == "garbled":  # no verdict after the retries: a failure with its reason, never a silent drop
            assert index in failed_indices
    assert summary.produced + summary.removed + summary.failed == summary.requested == 8
    assert summary.removed == sum(q == "awful" for q in quality.values())
    assert any("no valid judgement after 3 attempt(s)" in reason for reason in summary.failure_reasons)
    assert summary.summary is not None and summary.summary["decisions"] == {
        k: v for k, v in {"kept": sum(q == "good" for q in quality.values()),
                          "repaired": sum(q == "fair" for q in quality.values())}.items() if v}
    assert {"good", "fair", "awful", "garbled"} <= set(quality.values())  # the seed draws every kind


def test_without_a_rewriter_everything_below_the_bar_drops(tmp_path: Path) -> None:
    manifest = Runner(_recipe(), tmp_path / "ds", registry=_registry(), progress=LogProgress()).run()
    summary = manifest.steps["critic"]
    assert summary.removal_reasons and set(summary.removal_reasons) == {"critic: score below 3"}
    assert all(r.score is not None and r.score < 3 for r in summary.removed_samples)


class PhiNotes(Generator[GeneratorParams]):
    """Notes whose provenance names the model that wrote them (phi-3-mini), as an LLM generator's would."""

    name = "phi_notes"

    def _generate_one(self, request: SampleRequest, ctx: StepContext) -> Draft:
        return Draft(payload=TextPayload(text=f"Discharged home, note {request.index}."),
                     model=ModelRef(name="microsoft/Phi-3-mini-4k-instruct", backend="transformers"))


def test_a_judge_of_the_generators_family_stops_the_run_unless_forced(tmp_path: Path) -> None:
    recipe = parse_recipe({"name": "self", "seed": 1, "steps": [
        {"name": "notes", "generator": "phi_notes", "count": 2},
        {"name": "critic", "generator": "critic_filter", "from": "notes",
         "params": {"judge": {"backend": "scripted_judge"}, "keep_at": 3}},
    ]})
    registry = _registry()
    registry.register(Group.GENERATORS, "phi_notes", PhiNotes)
    with pytest.raises(ConfigError, match=r"model family 'phi'.*force_self_judge"):
        Runner(recipe, tmp_path / "refused", registry=registry, progress=LogProgress()).run()
    forced = recipe.model_copy(update={"steps": (recipe.steps[0], recipe.steps[1].model_copy(update={
        "params": {**recipe.steps[1].params, "force_self_judge": True}}))})
    manifest = Runner(forced, tmp_path / "forced", registry=registry, progress=LogProgress()).run()
    assert manifest.steps["critic"].requested == 2
    records = SyntheticDataset(tmp_path / "forced").records("critic")
    assert len(records) == 2
    for record in records:
        assert "self-preference" in record.provenance.extra["critic"]["warnings"][0]


def test_bad_critic_parameters_name_the_field(tmp_path: Path) -> None:
    for critic, message in (({"keep_at": 7}, "outside rubric 'judge/asclepius/v1'"),
                            ({"rubric": "nope"}, "neither a shipped rubric"),
                            ({"rubric": "factual_consistency"}, "reference_step"),
                            ({"keep_at": 2, "drop_below": 3}, "exceeds keep_at")):
        with pytest.raises(ConfigError, match=message):
            Runner(_recipe(**critic), tmp_path / "bad", registry=_registry(), progress=LogProgress()).run()
        assert not (tmp_path / "bad").exists()
