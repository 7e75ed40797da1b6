"""What a judge reads: the text of a record (a note, a dialogue, an image's caption or report, an audio transcript),
what to call it in the prompt, and its reference (the source record it was made from, or a reference answer)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from biosynth.core import (
    AudioPayload,
    ConfigError,
    DialoguePayload,
    ImagePayload,
    ModelRef,
    QAPayload,
    Record,
    TextPayload,
)


@dataclass(frozen=True)
class JudgeItem:
    """One thing to grade: its id, its text, what it is (the prompt's label) and an optional reference text."""

    id: str
    text: str
    subject: str
    reference: str | None = None
    generator: ModelRef | None = None


def subject_of(record: Record, default: str) -> str:
    """The prompt's name for a record's text: an image's caption or report, an audio transcript, a dialogue, ..."""
    payload = record.payload
    if isinstance(payload, ImagePayload):
        return "caption (report) of a medical image"
    if isinstance(payload, AudioPayload):
        return "transcript of a clinical audio recording"
    if isinstance(payload, DialoguePayload):
        return "clinical dialogue"
    if isinstance(payload, QAPayload):
        return "clinical question and answer"
    if isinstance(payload, TextPayload) and payload.document_type:
        return payload.document_type.replace("_", " ")
    return default


def text_of(record: Record) -> str | None:
    """The text a judge reads: the record's text, or for audio the transcript its segments carry."""
    if isinstance(record.payload, AudioPayload):
        turns = [f"{s.speaker}: {s.text}" if s.speaker else s.text for s in record.payload.segments if s.text]
        return "\n".join(turns) if turns else None
    return record.text


def items_from_records(records: Sequence[Record], *, default_subject: str = "clinical text",
                       sources: Mapping[str, Record] | None = None, with_reference: bool = False) -> list[JudgeItem]:
    """One item per record. With `with_reference`, its reference is the text of its parents (found in `sources`,
    by id): the source record it was made from, as a factual-consistency rubric needs."""
    items = []
    for record in records:
        text = text_of(record)
        if not text or not text.strip():
            raise ConfigError(f"record {record.id!r} ({record.payload.kind}) has no text for a judge to read (an image "
                              "needs a caption, an audio clip segments with text)")
        reference = None
        if with_reference:
            found = [sources[p] for p in record.parents if sources is not None and p in sources]
            texts = [t for t in (text_of(r) for r in found) if t]
            if not texts:
                raise ConfigError(f"record {record.id!r} has no source record to compare with: its parents "
                                  f"{list(record.parents)} are not in the dataset or hold no text")
            reference = "\n\n".join(texts)
        items.append(JudgeItem(id=record.id, text=text, subject=subject_of(record, default_subject),
                               reference=reference, generator=record.provenance.model))
    return items
