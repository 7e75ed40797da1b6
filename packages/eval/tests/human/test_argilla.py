"""Argilla 2.x: the exported folder read by argilla's own classes (settings, records, dataset model), and completed
records written by argilla's own code (records.to_json, the flattened export) imported back."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import argilla as rg
import httpx
import pytest
from argilla._api._client import ArgillaAPI
from argilla._models import DatasetModel
from argilla.records._io import GenericIO, JsonIO

from biosynth.core import ModelRef, SyntheticDataset
from biosynth.eval._human.criteria import DEFAULT_CRITERIA, Criterion
from biosynth.eval._human.judge_scores import JudgeScore
from biosynth.eval._human.review import export_review, import_review

CRITERIA = (*DEFAULT_CRITERIA, Criterion(name="fluency", question="Fluent?", scores=(1, 2, 3, 4, 5)),
            Criterion(name="harm", question="Could it mislead a clinician?", scores=(0, 1), labels=("no", "yes"),
                      ordinal=False))
JUDGE = ModelRef(name="judge-model", backend="transformers", revision="abc123")


@pytest.fixture(scope="module")
def offline_argilla():
    """argilla's classes want a default client for their API handles; this one has a client object that is never
    connected (nothing here calls the server: only argilla's parsing and serialising run)."""
    client = rg.Argilla.__new__(rg.Argilla)
    client.api = ArgillaAPI(httpx.Client(base_url="http://127.0.0.1:9"))
    rg.Argilla._set_default(client)
    yield client
    rg.Argilla._default_client = None


@pytest.fixture
def exported(notes_dataset, tmp_path) -> tuple[SyntheticDataset, Path]:
    dataset = SyntheticDataset(notes_dataset)
    scores = (JudgeScore(record_id="notes-000002", criterion="asclepius", score=1.2, judge=JUDGE, confidence=0.9),
              JudgeScore(record_id="notes-000002", criterion="harm", score=0.8, judge=JUDGE))
    export_review(dataset, "argilla", tmp_path / "review", criteria=CRITERIA, step="notes", judge_scores=scores,
                  min_submitted=3)
    return dataset, tmp_path / "review"


def test_argilla_reads_the_exported_folder(exported, offline_argilla) -> None:
    _, review = exported
    folder = review / "argilla"
    settings_json = json.loads((folder / ".argilla" / "settings.json").read_text())
    settings = rg.Settings.from_json(folder / ".argilla" / "settings.json")
    assert settings.serialize() == settings_json  # argilla reads it and writes back the same document
    questions = {q.name: q for q in settings.questions}
    assert isinstance(questions["fluency"], rg.RatingQuestion) and questions["fluency"].values == [1, 2, 3, 4, 5]
    assert isinstance(questions["asclepius"], rg.LabelQuestion)
    assert questions["asclepius"].labels == ["Unacceptable", "Poor", "Satisfactory", "Excellent"]
    assert isinstance(questions["harm"], rg.LabelQuestion) and settings.distribution.min_submitted == 3
    assert DatasetModel(**json.loads((folder / ".argilla" / "dataset.json").read_text())).status == "draft"
    records = json.loads((folder / "records.json").read_text())
    parsed = JsonIO._records_from_json(folder / "records.json")
    assert [r.to_dict() for r in parsed] == records
    suggestion = parsed[2].suggestions["asclepius"]
    assert (suggestion.value, suggestion.score, suggestion.agent) == ("Unacceptable", 0.9, "judge-model@abc123 (transformers)")
    assert parsed[2].suggestions["harm"].value == "yes" and parsed[2].fields["text"].endswith(".")


def _annotate(records: list[rg.Record], choose) -> list[rg.Record]:
    users = [uuid.UUID(int=n) for n in (101, 102, 103)]
    for record in records:
        for user in users:
            for criterion in CRITERIA:
                score = choose(record.id, user.int, criterion)
                value = score if criterion.name == "fluency" else criterion.label_of(score)
                record.responses.add(rg.Response(criterion.name, value, user_id=user, status="submitted"))
        record.responses.add(rg.Response("fluency", 1, user_id=uuid.UUID(int=104), status="draft"))
    return records


def _choose(record_id: str, user: int, criterion: Criterion) -> int:
    return criterion.scores[(int(record_id[-2:]) + user * 5 + len(criterion.name)) % len(criterion.scores)]


def _expected(records: list[dict], users=(101, 102, 103)) -> dict[tuple[str, str, int], int]:
    return {(r["id"], c.name, u): _choose(r["id"], u, c) for r in records for c in CRITERIA for u in users}


def test_round_trip_through_argillas_own_export(exported, offline_argilla) -> None:
    dataset, review = exported
    records = JsonIO._records_from_json(review / "argilla" / "records.json")
    completed = review.parent / "records-completed.json"
    JsonIO.to_json(_annotate(records, _choose), completed)  # argilla's own writer, as dataset.records.to_json does
    annotations, _, notes = import_review(dataset, completed, review)
    exported_records = json.loads((review / "argilla" / "records.json").read_text())
    expected = _expected(exported_records)
    # records.to_json keeps no response status: the draft counts; the flattened export below drops it
    assert len(annotations.annotations) == len(expected) + len(exported_records) and notes == []
    flat = review.parent / "records-flat.json"
    flat.write_text(json.dumps(GenericIO.to_list(_annotate(JsonIO._records_from_json(review / "argilla" / "records.json"),
                                                           _choose), flatten=True), default=str))
    review2 = review.parent / "review2"
    export_review(dataset, "argilla", review2, criteria=CRITERIA, step="notes")
    annotations, _, notes = import_review(dataset, flat, review2)
    assert notes == [f"{len(exported_records)} draft (not submitted) responses skipped"]
    got = {(a.record_id, a.criterion, a.reviewer): a.score for a in annotations.annotations}
    pseudonym = {}
    for user in (101, 102, 103):
        matching = [p for p in annotations.reviewers
                    if all(got[(r, c, p)] == s for (r, c, u), s in expected.items() if u == user)]
        assert len(matching) == 1
        pseudonym[user] = matching[0]
    assert got == {(r, c, pseudonym[u]): s for (r, c, u), s in expected.items()}
    assert "00000000-0000" not in (review2 / "annotations.json").read_text()  # argilla user ids are not kept


def test_images_travel_as_media(images_dataset, tmp_path, offline_argilla) -> None:
    dataset = SyntheticDataset(images_dataset)
    record = dataset.records("xray")[1]
    media = (images_dataset / record.payload.media.path).read_bytes()
    export_review(dataset, "label-studio", tmp_path / "ls", criteria=DEFAULT_CRITERIA, media_url="http://files.local/")
    tasks = json.loads((tmp_path / "ls" / "tasks.json").read_text())
    assert tasks[1]["data"]["image"] == "http://files.local/" + record.payload.media.path
    assert tasks[1]["data"]["text"] == "chest radiograph 1"
    assert (tmp_path / "ls" / record.payload.media.path).read_bytes() == media
    assert '<Image name="image" value="$image"' in (tmp_path / "ls" / "label_config.xml").read_text()
    export_review(dataset, "argilla", tmp_path / "ar", criteria=DEFAULT_CRITERIA)
    settings = rg.Settings.from_json(tmp_path / "ar" / "argilla" / ".argilla" / "settings.json")
    assert isinstance(settings.fields["image"], rg.ImageField) and settings.fields["image"].required
    parsed = JsonIO._records_from_json(tmp_path / "ar" / "argilla" / "records.json")
    uri = parsed[1].fields["image"]
    assert uri.startswith("data:image/png;base64,") and base64.b64decode(uri.split(",", 1)[1]) == media


def test_audio_travels_as_media(audio_dataset, tmp_path, offline_argilla) -> None:
    dataset = SyntheticDataset(audio_dataset)
    record = dataset.records("calls")[1]
    media = (audio_dataset / record.payload.media.path).read_bytes()
    export_review(dataset, "label-studio", tmp_path / "ls", criteria=DEFAULT_CRITERIA)
    task = json.loads((tmp_path / "ls" / "tasks.json").read_text())[1]
    assert task["data"]["audio"] == "/data/local-files/?d=" + record.payload.media.path
    assert task["data"]["text"] == "doctor: take dose 1"
    assert (tmp_path / "ls" / record.payload.media.path).read_bytes() == media
    assert '<Audio name="audio" value="$audio"' in (tmp_path / "ls" / "label_config.xml").read_text()
    export_review(dataset, "argilla", tmp_path / "ar", criteria=DEFAULT_CRITERIA)
    settings = rg.Settings.from_json(tmp_path / "ar" / "argilla" / ".argilla" / "settings.json")
    assert isinstance(settings.fields["audio"], rg.TextField) and settings.fields["audio"].use_markdown
    html = JsonIO._records_from_json(tmp_path / "ar" / "argilla" / "records.json")[1].fields["audio"]
    prefix = '<audio controls src="data:audio/wav;base64,'
    assert html.startswith(prefix) and base64.b64decode(html[len(prefix):].split('"')[0]) == media
