"""An import: the tool's ratings matched to the review's records by id, reviewers pseudonymised, merged into
annotations.json (a later rating by the same reviewer of the same record and criterion replaces the earlier)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from biosynth.core import InputDataError, SyntheticDataset
from biosynth.eval._human.folder import (
    ANNOTATIONS_JSON,
    Annotation,
    AnnotationSet,
    ImportEntry,
    ReviewBatch,
    Tool,
    now,
    read_annotations,
)
from biosynth.eval._human.pseudonyms import pseudonymiser_for


@dataclass(frozen=True)
class RawRating:
    """A rating as the tool's export states it; `identity` is the tool's user, dropped once pseudonymised."""

    record_id: str
    criterion: str
    identity: str
    score: int
    submitted_at: str | None
    where: str


@dataclass(frozen=True)
class ExportRead:
    """What a tool's export holds: its ratings, notes on what was skipped, and every record it names (id, where)."""

    ratings: list[RawRating]
    notes: list[str]
    records: list[tuple[str, str]]


def merge_import(review_dir: Path, batch: ReviewBatch, dataset: SyntheticDataset, export_file: Path, tool: Tool,
                 read: ExportRead) -> tuple[AnnotationSet, int, int]:
    """The review folder's annotations with these ratings merged in; returns the set, how many earlier ratings
    were replaced, and how many this export repeats (the later kept). Every record id must be one the review sent
    and the dataset still holds."""
    sent = set(batch.record_ids)
    held = {r.id for r in dataset.records(batch.step)}
    ratings = read.ratings
    for record_id, where in read.records:
        if record_id not in sent:
            raise InputDataError(f"{where}: record id {record_id!r} was not sent for review in {str(review_dir)!r} (it "
                                 f"sent {len(sent)} records); is this the export of another review?")
        if record_id not in held:
            raise InputDataError(f"{where}: record id {record_id!r} is not in the dataset {str(dataset.root)!r}")
    earlier_set = read_annotations(review_dir) if (review_dir / ANNOTATIONS_JSON).is_file() else None
    pseudonymise = pseudonymiser_for(review_dir)  # once the ratings are sound: a failed import makes no key file
    if earlier_set is not None and earlier_set.pseudonymisation.get("key_id") != pseudonymise.key_id:
        raise InputDataError(f"the reviewer key ({pseudonymise.source}) differs from the one the earlier imports into "
                             f"{str(review_dir)!r} used (key id {earlier_set.pseudonymisation.get('key_id')}): the same "
                             "reviewer would get two pseudonyms; use the same key, or import into a new review folder")
    earlier = earlier_set.annotations if earlier_set is not None else ()
    merged: dict[tuple[str, str, str], Annotation] = {(a.record_id, a.criterion, a.reviewer): a for a in earlier}
    by_name = {c.name: c for c in batch.criteria}
    replaced = repeated = 0
    seen_now: set[tuple[str, str, str]] = set()
    for rating in ratings:
        reviewer = pseudonymise(rating.identity)
        key = (rating.record_id, rating.criterion, reviewer)
        if key in seen_now:
            repeated += 1
        elif key in merged:
            replaced += 1
        seen_now.add(key)
        criterion = by_name[rating.criterion]
        merged[key] = Annotation(record_id=rating.record_id, criterion=rating.criterion, reviewer=reviewer,
                                 score=rating.score, label=criterion.label_of(rating.score) if criterion.labels else None,
                                 source=tool, submitted_at=rating.submitted_at)
    entry = ImportEntry(file=export_file.name, sha256=hashlib.sha256(export_file.read_bytes()).hexdigest()
                        if export_file.is_file() else _folder_sha256(export_file), tool=tool, imported_at=now(),
                        annotations=len(ratings))
    order = {record_id: i for i, record_id in enumerate(batch.record_ids)}
    annotations = tuple(sorted(merged.values(), key=lambda a: (order[a.record_id], a.criterion, a.reviewer)))
    return AnnotationSet(dataset=batch.dataset, step=batch.step, modality=batch.modality, criteria=batch.criteria,
                         pseudonymisation=pseudonymise.describe(),
                         reviewers=tuple(sorted({a.reviewer for a in annotations})), annotations=annotations,
                         imports=(*(earlier_set.imports if earlier_set else ()), entry)), replaced, repeated


def _folder_sha256(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()
