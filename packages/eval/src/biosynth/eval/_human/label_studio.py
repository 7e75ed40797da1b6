"""Label Studio: a labeling config (one Rating or Choices control per criterion) and a tasks JSON with the judges'
scores as predictions; the completed project's JSON export read back.

Formats (labelstud.io/guide/task_format, /guide/export#JSON): a task is `{"data": {...}, "predictions": [{
"model_version", "score", "result": [...]}]}`; the JSON export is a list of tasks, each with `annotations` (older
versions: `completions`), each annotation with `completed_by` (a user id, or an object with `id` and `email`),
`was_cancelled`, and `result` items `{"from_name", "to_name", "type": "rating"|"choices", "value": {"rating": n} |
{"choices": [label]}}`.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path
from typing import Any

from biosynth.core import InputDataError, SyntheticDataset
from biosynth.eval._human.criteria import Criterion
from biosynth.eval._human.items import ReviewItem, media_bytes
from biosynth.eval._human.judge_scores import JudgeScore, judge_label
from biosynth.eval._human.reading import ExportRead, RawRating

CONFIG_FILE = "label_config.xml"
TASKS_FILE = "tasks.json"
# Label Studio serves files under LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT at this path (local files serving enabled)
LOCAL_FILES_URL = "/data/local-files/?d="


def label_config(criteria: tuple[Criterion, ...], media_kinds: set[str]) -> str:
    """The labeling config: the record id, its image/audio, its text, then one control per criterion."""
    view = ET.Element("View")
    ET.SubElement(view, "Header", value="Record $record_id", size="6")
    if "image" in media_kinds:
        ET.SubElement(view, "Image", name="image", value="$image", zoom="true")
    if "audio" in media_kinds:
        ET.SubElement(view, "Audio", name="audio", value="$audio")
    ET.SubElement(view, "Text", name="text", value="$text")
    for criterion in criteria:
        block = ET.SubElement(view, "View")
        ET.SubElement(block, "Header", value=criterion.question, size="5")
        if criterion.labels is None:
            ET.SubElement(block, "Rating", name=criterion.name, toName="text", maxRating=str(len(criterion.scores)),
                          required="true")
        else:
            choices = ET.SubElement(block, "Choices", name=criterion.name, toName="text", choice="single-radio",
                                    showInline="true", required="true")
            for label in criterion.labels:
                ET.SubElement(choices, "Choice", value=label)
    ET.indent(view)
    return ET.tostring(view, encoding="unicode") + "\n"


def _result(criterion: Criterion, score: int, index: int) -> dict[str, Any]:
    """A Rating's stars count from 1: star n stands for the n-th score of the scale."""
    position = criterion.scores.index(score)
    value: dict[str, Any] = ({"rating": position + 1} if criterion.labels is None
                             else {"choices": [criterion.labels[position]]})
    return {"id": f"{criterion.name}-{index}", "from_name": criterion.name, "to_name": "text",
            "type": criterion.widget, "value": value}


def label_studio_files(dataset: SyntheticDataset, items: list[ReviewItem], criteria: tuple[Criterion, ...],
                       judge_scores: tuple[JudgeScore, ...], media_url: str) -> dict[str, bytes]:
    """label_config.xml, tasks.json and the media files (under media/, as in the dataset)."""
    by_name = {c.name: c for c in criteria}
    scores: dict[str, list[JudgeScore]] = defaultdict(list)
    for score in judge_scores:
        scores[score.record_id].append(score)
    media_kinds = {item.media_kind for item in items if item.media_kind}
    files: dict[str, bytes] = {}
    tasks = []
    for item in items:
        data: dict[str, Any] = {"record_id": item.record_id, "text": item.text, "step": item.step or ""}
        for kind in sorted(media_kinds):
            data[kind] = ""
        if item.media is not None and item.media_kind:
            files[item.media.path] = media_bytes(dataset, item)
            data[item.media_kind] = media_url + item.media.path
        predictions = []
        by_judge: dict[str, list[JudgeScore]] = defaultdict(list)
        for score in scores.get(item.record_id, []):
            by_judge[judge_label(score.judge)].append(score)
        for label, rows in by_judge.items():
            prediction: dict[str, Any] = {"model_version": label, "result": [
                _result(by_name[row.criterion], by_name[row.criterion].nearest(row.score), i)
                for i, row in enumerate(rows)]}
            confidences = [row.confidence for row in rows if row.confidence is not None]
            if confidences:
                prediction["score"] = sum(confidences) / len(confidences)
            predictions.append(prediction)
        tasks.append({"data": data, "predictions": predictions})
    files[CONFIG_FILE] = label_config(criteria, media_kinds).encode("utf-8")
    files[TASKS_FILE] = json.dumps(tasks, indent=2, ensure_ascii=False).encode("utf-8")
    return files


def read_label_studio_export(path: Path, criteria: tuple[Criterion, ...]) -> ExportRead:
    """The ratings in a Label Studio JSON export, with the tool's reviewer identities (pseudonymised by the caller),
    notes on what was skipped (cancelled annotations, controls that are not criteria), and every task's record id."""
    what = f"Label Studio export {str(path)!r}"
    tasks = _load(path, what)
    if not isinstance(tasks, list):
        raise InputDataError(f"{what}: expected a JSON list of tasks (Label Studio's JSON export), got "
                             f"{type(tasks).__name__}")
    by_name = {c.name: c for c in criteria}
    ratings: list[RawRating] = []
    notes: dict[str, int] = defaultdict(int)
    records: list[tuple[str, str]] = []
    for t, task in enumerate(tasks):
        where = f"{what} task {t}"
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise InputDataError(f"{where}: expected an object with a 'data' object")
        record_id = task["data"].get("record_id")
        if not isinstance(record_id, str) or not record_id:
            raise InputDataError(f"{where}: data.record_id is missing; the tasks must come from `biosynth review "
                                 "export` (its tasks.json carries each record's id)")
        records.append((record_id, where))
        annotations = task.get("annotations", task.get("completions", []))
        if not isinstance(annotations, list):
            raise InputDataError(f"{where}: 'annotations' must be a list")
        for a, annotation in enumerate(annotations):
            here = f"{where} (record {record_id!r}) annotation {a}"
            if not isinstance(annotation, dict):
                raise InputDataError(f"{here}: expected an object")
            if annotation.get("was_cancelled"):
                notes["cancelled (skipped) annotations"] += 1
                continue
            identity = _identity(annotation.get("completed_by"), here)
            results = annotation.get("result")
            if not isinstance(results, list):
                raise InputDataError(f"{here}: 'result' must be a list")
            for r, result in enumerate(results):
                if not isinstance(result, dict):
                    raise InputDataError(f"{here} result {r}: expected an object")
                criterion = by_name.get(result.get("from_name"))  # type: ignore[arg-type]
                if criterion is None:
                    notes[f"results of control {result.get('from_name')!r}, which is no criterion (skipped)"] += 1
                    continue
                score = _score(criterion, result, f"{here} result {r} ({criterion.name})")
                ratings.append(RawRating(record_id=record_id, criterion=criterion.name, identity=identity,
                                         score=score, submitted_at=annotation.get("updated_at")
                                         or annotation.get("created_at"), where=here))
    return ExportRead(ratings, [f"{count} {note}" for note, count in notes.items()], records)


def _load(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise InputDataError(f"{what} cannot be read: {err}") from None
    except json.JSONDecodeError as err:
        raise InputDataError(f"{what} is not valid JSON: {err}") from None


def _identity(completed_by: Any, where: str) -> str:
    """'label-studio:<email>' when the export names the user's email, else 'label-studio:user:<id>'."""
    if isinstance(completed_by, dict):
        email = completed_by.get("email")
        if isinstance(email, str) and email.strip():
            return f"label-studio:{email.strip()}"
        completed_by = completed_by.get("id")
    if isinstance(completed_by, int | str) and not isinstance(completed_by, bool) and str(completed_by).strip():
        return f"label-studio:user:{completed_by}"
    raise InputDataError(f"{where}: completed_by is missing or not a user id; every annotation must name its "
                         "annotator (Label Studio's JSON export does)")


def _score(criterion: Criterion, result: dict[str, Any], where: str) -> int:
    value = result.get("value")
    if not isinstance(value, dict):
        raise InputDataError(f"{where}: 'value' must be an object")
    if criterion.labels is None:
        rating = value.get("rating")
        if isinstance(rating, bool) or not isinstance(rating, int | float) or rating != int(rating) \
                or not 1 <= rating <= len(criterion.scores):
            raise InputDataError(f"{where}: rating {rating!r} is outside the scale 1..{len(criterion.scores)} "
                                 f"(stars standing for the scores {list(criterion.scores)})")
        return criterion.scores[int(rating) - 1]
    choices = value.get("choices")
    if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], str):
        raise InputDataError(f"{where}: expected exactly one choice, got {choices!r}")
    score = criterion.score_of_label(choices[0])
    if score is None:
        raise InputDataError(f"{where}: choice {choices[0]!r} is not on the scale; expected {criterion.describe_scale()}")
    return score
