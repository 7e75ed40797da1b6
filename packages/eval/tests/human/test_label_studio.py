"""Label Studio: the labeling config and tasks (judge scores as predictions), a JSON export written by hand in the
documented format, and the round trip export -> simulated annotation -> import."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from biosynth.core import InputDataError, ModelRef, SyntheticDataset
from biosynth.eval._human.criteria import DEFAULT_CRITERIA, Criterion
from biosynth.eval._human.folder import read_annotations
from biosynth.eval._human.judge_scores import JudgeScore
from biosynth.eval._human.review import export_review, import_review

FLUENCY = Criterion(name="fluency", question="Is the note fluent?", scores=(1, 2, 3, 4, 5))
CRITERIA = (*DEFAULT_CRITERIA, FLUENCY)
JUDGE = ModelRef(name="SmolLM2-135M-Instruct", backend="llamacpp", revision="q4_1", sha256="ab" * 32)


@pytest.fixture
def exported(notes_dataset, tmp_path) -> tuple[SyntheticDataset, Path]:
    dataset = SyntheticDataset(notes_dataset)
    judge = (JudgeScore(record_id="notes-000000", criterion="asclepius", score=3.4, judge=JUDGE, confidence=0.7),
             JudgeScore(record_id="notes-000000", criterion="fluency", score=4.6, judge=JUDGE),
             JudgeScore(record_id="patients-000003", criterion="fluency", score=2.0, judge=JUDGE))  # not in the step
    with pytest.raises(InputDataError, match="patients-000003"):
        export_review(dataset, "label-studio", tmp_path / "review", criteria=CRITERIA, step="notes", judge_scores=judge)
    export_review(dataset, "label-studio", tmp_path / "review", criteria=CRITERIA, step="notes", judge_scores=judge[:2])
    return dataset, tmp_path / "review"


def test_config_and_tasks_follow_label_studios_formats(exported) -> None:
    dataset, review = exported
    config = ET.fromstring((review / "label_config.xml").read_text(encoding="utf-8"))
    assert config.tag == "View" and config.find("Text").attrib == {"name": "text", "value": "$text"}
    rating = config.find(".//Rating")
    assert rating.attrib["name"] == "fluency" and rating.attrib["toName"] == "text" and rating.attrib["maxRating"] == "5"
    choices = config.find(".//Choices")
    assert choices.attrib["name"] == "asclepius" and choices.attrib["choice"] == "single-radio"
    assert [c.attrib["value"] for c in choices.findall("Choice")] == ["Unacceptable", "Poor", "Satisfactory", "Excellent"]
    tasks = json.loads((review / "tasks.json").read_text(encoding="utf-8"))
    texts = {r.id: r.text for r in dataset.records("notes")}
    assert [t["data"]["record_id"] for t in tasks] == list(texts)
    assert all(t["data"]["text"] == texts[t["data"]["record_id"]] for t in tasks)
    prediction = tasks[0]["predictions"][0]
    assert prediction["model_version"] == "SmolLM2-135M-Instruct@q4_1 (llamacpp) sha256:abababababab"
    assert prediction["score"] == 0.7
    assert [r["value"] for r in prediction["result"]] == [{"choices": ["Satisfactory"]}, {"rating": 5}]  # 3.4 -> 3, 4.6 -> 5
    assert all(r["to_name"] == "text" and r["from_name"] in ("asclepius", "fluency") for r in prediction["result"])
    assert all(t["predictions"] == [] for t in tasks[1:])


def test_a_hand_written_export_in_the_documented_format_imports(exported, monkeypatch) -> None:
    """The export as labelstud.io/guide/export#JSON shows it: completed_by as an id or as a user object with an
    email, a cancelled annotation, a comment control that is no criterion; pseudonyms only."""
    monkeypatch.delenv("BIOSYNTH_REVIEWER_KEY", raising=False)
    dataset, review = exported
    export = [
        {"id": 1, "created_at": "2026-12-01T10:00:00.000000Z", "updated_at": "2026-12-01T10:05:00.000000Z", "project": 3,
         "data": {"record_id": "notes-000000", "text": "...", "step": "notes"},
         "annotations": [
             {"id": 11, "completed_by": 10, "was_cancelled": False, "ground_truth": False, "lead_time": 12.5,
              "created_at": "2026-12-01T10:01:00.000000Z", "updated_at": "2026-12-01T10:02:00.000000Z", "task": 1,
              "result": [
                  {"id": "a1", "from_name": "asclepius", "to_name": "text", "type": "choices", "origin": "manual",
                   "value": {"choices": ["Excellent"]}},
                  {"id": "a2", "from_name": "fluency", "to_name": "text", "type": "rating", "value": {"rating": 4}},
                  {"id": "a3", "from_name": "comment", "to_name": "text", "type": "textarea",
                   "value": {"text": ["reads well"]}}]},
             {"id": 12, "completed_by": {"id": 11, "email": "Ann.Reviewer@Hospital.example", "first_name": "Ann"},
              "was_cancelled": False, "task": 1, "result": [
                  {"id": "b1", "from_name": "asclepius", "to_name": "text", "type": "choices",
                   "value": {"choices": ["Poor"]}}]},
             {"id": 13, "completed_by": 12, "was_cancelled": True, "task": 1, "result": []}],
         "predictions": [{"model_version": "judge", "result": []}]},
        {"id": 2, "data": {"record_id": "notes-000004", "text": "..."}, "annotations": [
            {"id": 21, "completed_by": 10, "result": [
                {"from_name": "fluency", "to_name": "text", "type": "rating", "value": {"rating": 2}}]},
            {"id": 22, "completed_by": 10, "result": [  # the same annotator again: the later annotation counts
                {"from_name": "fluency", "to_name": "text", "type": "rating", "value": {"rating": 3}}]}]},
        {"id": 3, "data": {"record_id": "notes-000005", "text": "..."}, "annotations": []}]
    path = review.parent / "project-3-at-2026-12-01.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    annotations, replaced, notes = import_review(dataset, path, review)
    assert replaced == 0 and sorted(notes) == [
        "1 cancelled (skipped) annotations",
        "1 ratings given again by the same reviewer to the same record and criterion in this export (the later one kept)",
        "1 results of control 'comment', which is no criterion (skipped)"]
    got = {(a.record_id, a.criterion, a.score, a.label, a.submitted_at) for a in annotations.annotations}
    assert got == {("notes-000000", "asclepius", 4, "Excellent", "2026-12-01T10:02:00.000000Z"),
                   ("notes-000000", "fluency", 4, None, "2026-12-01T10:02:00.000000Z"),
                   ("notes-000000", "asclepius", 2, "Poor", None), ("notes-000004", "fluency", 3, None, None)}
    by_user = {a.reviewer for a in annotations.annotations if a.record_id == "notes-000004"}
    assert len(annotations.reviewers) == 2 and by_user < set(annotations.reviewers)
    stored = (review / "annotations.json").read_text(encoding="utf-8")
    assert "hospital.example" not in stored.lower() and "Ann" not in stored and '"completed_by"' not in stored
    assert read_annotations(review) == annotations and annotations.imports[0].file == path.name
    assert (review / "reviewer.key").stat().st_mode & 0o077 == 0  # the key is readable by its owner only


def simulate_annotators(tasks: list[dict], criteria: tuple[Criterion, ...], choose) -> list[dict]:
    """What Label Studio's JSON export holds after three annotators rated every task: `choose(task, user, criterion)`
    gives the score; ratings are written as stars (1..k), labels as choices."""
    out = []
    for number, task in enumerate(tasks, start=1):
        annotations = []
        for user in (4, 5, 6):
            result = []
            for criterion in criteria:
                score = choose(task["data"]["record_id"], user, criterion)
                position = criterion.scores.index(score)
                value = ({"rating": position + 1} if criterion.labels is None
                         else {"choices": [criterion.labels[position]]})
                result.append({"id": f"{user}-{criterion.name}", "from_name": criterion.name, "to_name": "text",
                               "type": criterion.widget, "value": value})
            annotations.append({"id": number * 10 + user, "completed_by": user, "was_cancelled": False,
                                "ground_truth": False, "task": number, "result": result})
        out.append({**task, "id": number, "annotations": annotations})
    return out


def test_round_trip_gives_back_the_scores(exported) -> None:
    dataset, review = exported
    tasks = json.loads((review / "tasks.json").read_text(encoding="utf-8"))

    def choose(record_id: str, user: int, criterion: Criterion) -> int:
        return criterion.scores[(int(record_id[-2:]) * 7 + user * 3 + len(criterion.name)) % len(criterion.scores)]

    path = review.parent / "export.json"
    path.write_text(json.dumps(simulate_annotators(tasks, CRITERIA, choose)), encoding="utf-8")
    annotations, _, _ = import_review(dataset, path, review)
    assert len(annotations.annotations) == len(tasks) * 3 * 2 and len(annotations.reviewers) == 3
    expected = {(t["data"]["record_id"], c.name, user): choose(t["data"]["record_id"], user, c)
                for t in tasks for c in CRITERIA for user in (4, 5, 6)}
    got = {(a.record_id, a.criterion, a.reviewer): a.score for a in annotations.annotations}
    # each annotator is one pseudonym: the one whose scores are that annotator's on every record and criterion
    pseudonym = {}
    for user in (4, 5, 6):
        matching = [reviewer for reviewer in annotations.reviewers
                    if all(got[(r, c, reviewer)] == score for (r, c, u), score in expected.items() if u == user)]
        assert len(matching) == 1
        pseudonym[user] = matching[0]
    assert got == {(r, c, pseudonym[u]): score for (r, c, u), score in expected.items()}
    assert all(a.label == DEFAULT_CRITERIA[0].label_of(a.score) for a in annotations.annotations if a.criterion == "asclepius")
    # importing the same export again replaces, never duplicates; the pseudonyms are stable
    again, replaced, _ = import_review(dataset, path, review)
    assert replaced == len(annotations.annotations) and again.annotations == annotations.annotations
    assert len(again.imports) == 2
