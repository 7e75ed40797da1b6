"""Argilla 2.x: the folder `rg.Dataset.to_disk` writes and `rg.Dataset.from_disk` imports (.argilla/settings.json,
.argilla/dataset.json, records.json), one RatingQuestion or LabelQuestion per criterion, the judges' scores as
suggestions (value, score, agent); the completed records read back from `records.to_json` (nested responses) or the
flattened export (`<question>.responses`, `.responses.users`, `.responses.status`).

Written directly (argilla itself needs a server to build a Dataset); the JSON is the shape argilla 2.8's
`Settings.serialize`, `Record.to_dict` and `DatasetModel` produce (tested against argilla's own classes).
"""

from __future__ import annotations

import base64
import html
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from biosynth.core import InputDataError, SyntheticDataset
from biosynth.eval._human.criteria import Criterion
from biosynth.eval._human.items import ReviewItem, media_bytes
from biosynth.eval._human.judge_scores import JudgeScore, judge_label
from biosynth.eval._human.reading import ExportRead, RawRating

FOLDER = "argilla"
SETTINGS_FILE = f"{FOLDER}/.argilla/settings.json"
DATASET_FILE = f"{FOLDER}/.argilla/dataset.json"
RECORDS_FILE = f"{FOLDER}/records.json"
_UNSET = {"id": None, "inserted_at": None, "updated_at": None}


def _rating_question(criterion: Criterion) -> bool:
    """Argilla's RatingQuestion takes integers 0..10; other numeric scales and labelled ones are LabelQuestions."""
    return criterion.labels is None and all(0 <= s <= 10 for s in criterion.scores)


def _option_value(criterion: Criterion, score: int) -> int | str:
    return score if _rating_question(criterion) else criterion.label_of(score)


def _question(criterion: Criterion) -> dict[str, Any]:
    if _rating_question(criterion):
        settings: dict[str, Any] = {"type": "rating", "options": [{"value": s} for s in criterion.scores]}
        kind = "rating"
    else:
        options = [{"text": criterion.label_of(s), "value": criterion.label_of(s)} for s in criterion.scores]
        settings = {"type": "label_selection", "options": options, "visible_options": len(options) if len(options) >= 3
                    else None}
        kind = "label_selection"
    return {**_UNSET, "name": criterion.name, "settings": settings, "title": criterion.name,
            "description": criterion.question, "required": True, "dataset_id": None, "type": kind}


def _field(name: str, kind: str, *, required: bool, markdown: bool = False, description: str | None = None) -> dict[str, Any]:
    settings: dict[str, Any] = {"type": kind} if kind == "image" else {"type": kind, "use_markdown": markdown}
    return {**_UNSET, "name": name, "settings": settings, "title": name, "required": required,
            "description": description, "dataset_id": None, "type": kind}


def _guidelines(criteria: tuple[Criterion, ...]) -> str:
    lines = ["Rate each synthetic record on every question. Scales:"]
    lines += [f"- **{c.name}**: {c.question} ({c.describe_scale()})" for c in criteria]
    return "\n".join(lines)


def argilla_files(dataset: SyntheticDataset, items: list[ReviewItem], criteria: tuple[Criterion, ...],
                  judge_scores: tuple[JudgeScore, ...], name: str, min_submitted: int) -> dict[str, bytes]:
    """The three files of an Argilla dataset folder; images and audio travel inside the records as data URIs."""
    kinds = {item.media_kind for item in items if item.media_kind}
    everywhere = {kind: all(item.media_kind == kind for item in items) for kind in ("image", "audio")}
    fields = [_field("text", "text", required=all(item.text for item in items),
                     description="the record's text (caption or transcript for media)")]
    if "image" in kinds:
        fields.append(_field("image", "image", required=everywhere["image"]))
    if "audio" in kinds:
        fields.append(_field("audio", "text", required=everywhere["audio"], markdown=True,
                             description="the record's audio"))
    settings = {"guidelines": _guidelines(criteria), "questions": [_question(c) for c in criteria], "fields": fields,
                "vectors": [], "metadata": [], "allow_extra_metadata": False,
                "distribution": {"strategy": "overlap", "min_submitted": min_submitted}, "mapping": None}
    dataset_model = {**_UNSET, "name": name, "status": "draft", "guidelines": settings["guidelines"],
                     "allow_extra_metadata": False, "distribution": settings["distribution"], "workspace_id": None,
                     "last_activity_at": None}
    by_name = {c.name: c for c in criteria}
    suggestions: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for score in judge_scores:  # Argilla holds one suggestion per question: the first judge's, in file order
        criterion = by_name[score.criterion]
        suggestions[score.record_id].setdefault(score.criterion, {
            "value": _option_value(criterion, criterion.nearest(score.score)), "score": score.confidence,
            "agent": judge_label(score.judge)})
    records = []
    for item in items:
        record_fields: dict[str, Any] = {"text": item.text} if item.text else {}
        if item.media is not None and item.media_kind:
            uri = f"data:{item.media.mime_type};base64," + base64.b64encode(media_bytes(dataset, item)).decode("ascii")
            record_fields[item.media_kind] = (uri if item.media_kind == "image" else
                                              f'<audio controls src="{html.escape(uri, quote=True)}"></audio>')
        records.append({"id": item.record_id, "fields": record_fields, "metadata": {},
                        "suggestions": suggestions.get(item.record_id, {}), "responses": {}, "vectors": {},
                        "status": "pending", "_server_id": None})
    return {SETTINGS_FILE: json.dumps(settings).encode("utf-8"), DATASET_FILE: json.dumps(dataset_model).encode("utf-8"),
            RECORDS_FILE: json.dumps(records, ensure_ascii=False).encode("utf-8")}


def read_argilla_export(path: Path, criteria: tuple[Criterion, ...]) -> ExportRead:
    """The responses in Argilla records: a records.json (or a `to_disk` folder holding one), nested or flattened."""
    if path.is_dir():
        path = path / "records.json"
    what = f"Argilla export {str(path)!r}"
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise InputDataError(f"{what} cannot be read: {err}") from None
    except json.JSONDecodeError as err:
        raise InputDataError(f"{what} is not valid JSON: {err}") from None
    if not isinstance(records, list):
        raise InputDataError(f"{what}: expected a JSON list of records (Argilla's records.to_json), got "
                             f"{type(records).__name__}")
    ratings: list[RawRating] = []
    notes: dict[str, int] = defaultdict(int)
    seen: list[tuple[str, str]] = []
    for i, record in enumerate(records):
        where = f"{what} record {i}"
        if not isinstance(record, dict):
            raise InputDataError(f"{where}: expected an object")
        record_id = record.get("id")
        if not isinstance(record_id, str) or not record_id:
            raise InputDataError(f"{where}: 'id' is missing; records must keep the ids `biosynth review export` gave")
        seen.append((record_id, where))
        for criterion in criteria:
            for value, user, status in _responses(record, criterion.name, f"{where} ({record_id!r})"):
                here = f"{where} ({record_id!r}) question {criterion.name!r}"
                if status not in (None, "submitted"):
                    notes[f"{status} (not submitted) responses skipped"] += 1
                    continue
                if not isinstance(user, str) or not user.strip():
                    raise InputDataError(f"{here}: a response without user_id; every response must name its user")
                ratings.append(RawRating(record_id=record_id, criterion=criterion.name, identity=f"argilla:{user}",
                                         score=_score(criterion, value, here), submitted_at=None, where=here))
    return ExportRead(ratings, [f"{count} {note}" for note, count in notes.items()], seen)


def _responses(record: dict[str, Any], question: str, where: str) -> list[tuple[Any, Any, Any]]:
    """(value, user_id, status) for each response to `question`, nested or flattened."""
    nested = record.get("responses")
    if isinstance(nested, dict):
        answers = nested.get(question) or []
        if not isinstance(answers, list) or not all(isinstance(a, dict) for a in answers):
            raise InputDataError(f"{where}: responses.{question} must be a list of {{'value', 'user_id'}} objects")
        return [(a.get("value"), a.get("user_id"), a.get("status")) for a in answers]
    values = record.get(f"{question}.responses")
    if values is None:
        return []
    users = record.get(f"{question}.responses.users")
    statuses = record.get(f"{question}.responses.status") or [None] * len(values)
    if not (isinstance(values, list) and isinstance(users, list) and len(values) == len(users) == len(statuses)):
        raise InputDataError(f"{where}: {question}.responses, .responses.users and .responses.status must be lists of "
                             "one length")
    return list(zip(values, users, statuses, strict=True))


def _score(criterion: Criterion, value: Any, where: str) -> int:
    if _rating_question(criterion):
        if isinstance(value, bool) or not isinstance(value, int) or value not in criterion.scores:
            raise InputDataError(f"{where}: rating {value!r} is outside the scale; expected {criterion.describe_scale()}")
        return value
    for score in criterion.scores:
        if value == criterion.label_of(score):
            return score
    raise InputDataError(f"{where}: label {value!r} is not on the scale; expected {criterion.describe_scale()}")
