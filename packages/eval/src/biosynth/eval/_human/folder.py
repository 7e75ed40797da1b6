"""The review folder: review.json (what was sent for review, biosynth's marker), the tool's files, and after an import
annotations.json (the ratings under pseudonyms: the file other tools, e.g. a Croissant exporter, read)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from biosynth.core import ConfigError, DatasetError, atomic_write_text, describe_validation_error, fsync_tree, replace_folder
from biosynth.eval._human.criteria import Criterion
from biosynth.eval._human.judge_scores import JudgeScore

REVIEW_JSON = "review.json"
ANNOTATIONS_JSON = "annotations.json"
Tool = Literal["label-studio", "argilla"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DatasetRef(_Frozen):
    """Which dataset the review is of: its folder and the fingerprints that tell a changed dataset apart."""

    path: str
    recipe_sha256: str
    records_sha256: str | None
    seed: int


class ReviewBatch(_Frozen):
    """review.json: the records sent for review, the criteria, the judge scores shown as predictions/suggestions."""

    kind: Literal["biosynth-review"] = "biosynth-review"
    schema_version: int = 1
    tool: Tool
    created_at: str
    dataset: DatasetRef
    step: str | None
    modality: str
    criteria: tuple[Criterion, ...]
    record_ids: tuple[str, ...]
    judge_scores: tuple[JudgeScore, ...] = ()
    files: tuple[str, ...] = Field(description="the files this export wrote, relative to the folder")


class Annotation(_Frozen):
    """One reviewer's rating of one record on one criterion."""

    record_id: str
    criterion: str
    reviewer: str = Field(pattern=r"^reviewer-[0-9a-f]{12}$", description="pseudonym, never the tool's identity")
    score: int
    label: str | None = None
    source: Tool
    submitted_at: str | None = None


class ImportEntry(_Frozen):
    file: str
    sha256: str
    tool: Tool
    imported_at: str
    annotations: int


class AnnotationSet(_Frozen):
    """annotations.json: every imported rating, keyed by (record, criterion, reviewer); later imports replace."""

    kind: Literal["biosynth-annotations"] = "biosynth-annotations"
    schema_version: int = 1
    dataset: DatasetRef
    step: str | None
    modality: str
    criteria: tuple[Criterion, ...]
    pseudonymisation: dict[str, str]
    reviewers: tuple[str, ...]
    annotations: tuple[Annotation, ...]
    imports: tuple[ImportEntry, ...] = ()


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_review(folder: str | Path) -> ReviewBatch:
    """A review folder's review.json; a DatasetError names what is missing or wrong."""
    path = Path(folder) / REVIEW_JSON
    document = _read_json(path, f"{str(folder)!r} is not a biosynth review folder (from `biosynth review export`)")
    try:
        return ReviewBatch.model_validate(document)
    except ValidationError as err:
        raise DatasetError(describe_validation_error(err, what=f"review file {str(path)!r}")) from None


def read_annotations(folder: str | Path) -> AnnotationSet:
    """A review folder's annotations.json (written by `biosynth review import`)."""
    path = Path(folder) / ANNOTATIONS_JSON
    document = _read_json(path, f"{str(folder)!r} holds no {ANNOTATIONS_JSON}: import the completed review first "
                                "(`biosynth review import`)")
    try:
        return AnnotationSet.model_validate(document)
    except ValidationError as err:
        raise DatasetError(describe_validation_error(err, what=f"annotations file {str(path)!r}")) from None


def write_annotations(folder: Path, annotations: AnnotationSet) -> Path:
    path = folder / ANNOTATIONS_JSON
    atomic_write_text(path, annotations.model_dump_json(indent=2))
    return path


def _read_json(path: Path, missing: str) -> Any:
    if not path.is_file():
        raise DatasetError(f"{missing}: {path.name} is missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DatasetError(f"{str(path)!r} cannot be read as JSON: {err}") from None


def check_export_dir(out: Path) -> None:
    """Refuse, before any work, a folder biosynth did not write, or a review folder that already holds imports."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a file; expected a folder for the review export")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not (out / REVIEW_JSON).is_file():
        raise ConfigError(f"--out {str(out)!r} is not empty and holds no {REVIEW_JSON}: biosynth did not write it, so "
                          "it is left untouched; choose a new folder")
    read_review(out)  # a damaged marker is not ours to replace either
    if (out / ANNOTATIONS_JSON).exists():
        raise ConfigError(f"--out {str(out)!r} holds imported annotations ({ANNOTATIONS_JSON}); a new export would "
                          "replace them: choose a new folder")


def write_export(out: Path, files: dict[str, bytes], batch: ReviewBatch) -> None:
    """Write the export as a whole: built in a temporary sibling folder, then swapped in for `out` (an earlier
    export of biosynth's is replaced only once the new one is complete)."""
    check_export_dir(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(staging, 0o777 & ~mask)  # mkdtemp makes it private; the export is an ordinary folder
    try:
        for relative, data in files.items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        (staging / REVIEW_JSON).write_text(batch.model_dump_json(indent=2), encoding="utf-8")
        fsync_tree(staging)
        replace_folder(staging, out)  # the earlier export is put back if the swap fails
    finally:
        if staging.exists():
            shutil.rmtree(staging)
