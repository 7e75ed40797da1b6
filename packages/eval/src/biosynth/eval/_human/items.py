"""What a reviewer sees of a record: its text, and its image or audio file, read through core."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from biosynth.core import (
    AudioPayload,
    ConfigError,
    DatasetError,
    ImagePayload,
    MediaRef,
    Record,
    SyntheticDataset,
    TableRowPayload,
    VisitSequencePayload,
)


@dataclass(frozen=True)
class ReviewItem:
    record_id: str
    step: str | None
    modality: str
    text: str
    media: MediaRef | None = None
    media_kind: str | None = None  # "image" or "audio"


def review_items(dataset: SyntheticDataset, step: str | None, limit: int | None, seed: int) -> list[ReviewItem]:
    """The records of `step` (or the dataset) as review items; `limit` draws that many at random (seeded), kept in
    the dataset's order."""
    records = dataset.records(step)
    if not records:
        where = f"step {step!r}" if step else "the dataset"
        raise DatasetError(f"{where} of {str(dataset.root)!r} holds no records to review")
    if limit is not None:
        if limit < 1:
            raise ConfigError(f"--limit must be at least 1, got {limit}")
        if limit < len(records):
            chosen = np.sort(np.random.default_rng(seed).choice(len(records), size=limit, replace=False))
            records = [records[i] for i in chosen]
    return [_item(r) for r in records]


def _item(record: Record) -> ReviewItem:
    payload, step = record.payload, record.provenance.step
    text = record.text
    if isinstance(payload, TableRowPayload):
        text = "\n".join(f"{column}: {value}" for column, value in payload.values.items())
    elif isinstance(payload, VisitSequencePayload):
        lines = [f"{k}: {v}" for k, v in payload.static.items()]
        lines += [f"visit {i + 1}{f' ({v.date})' if v.date else ''}: {', '.join(v.codes)}"
                  for i, v in enumerate(payload.visits)]
        text = "\n".join(lines)
    elif isinstance(payload, AudioPayload):
        text = "\n".join(f"{s.speaker or 'speaker'}: {s.text}" for s in payload.segments if s.text) or ""
        return ReviewItem(record.id, step, record.modality.value, text, payload.media, "audio")
    elif isinstance(payload, ImagePayload):
        return ReviewItem(record.id, step, record.modality.value, payload.caption or "", payload.media, "image")
    return ReviewItem(record.id, step, record.modality.value, text or "")


def media_bytes(dataset: SyntheticDataset, item: ReviewItem) -> bytes:
    """The item's media file, checked against the sha256 its record holds."""
    assert item.media is not None
    path = dataset.root / item.media.path
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DatasetError(f"media file {item.media.path!r} of record {item.record_id!r} cannot be read: {err}") from None
    if hashlib.sha256(data).hexdigest() != item.media.sha256:
        raise DatasetError(f"media file {item.media.path!r} of record {item.record_id!r} does not match its sha256; "
                           "the dataset changed after it was written (`biosynth inspect` lists the problems)")
    return data
