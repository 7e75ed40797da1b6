"""Record: one synthetic sample with a typed payload, labels, annotations, lineage and provenance."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from biosynth.core._provenance import Provenance

Scalar = str | int | float | bool | None


class Modality(StrEnum):
    TEXT = "text"
    TABULAR = "tabular"
    EHR = "ehr"
    IMAGE = "image"
    AUDIO = "audio"
    DIALOGUE = "dialogue"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TextPayload(_Frozen):
    kind: Literal["text"] = "text"
    text: str
    document_type: str | None = None


class TableRowPayload(_Frozen):
    kind: Literal["table_row"] = "table_row"
    table: str = "main"
    values: dict[str, Scalar]


class Visit(_Frozen):
    codes: tuple[str, ...]
    date: str | None = Field(None, description="ISO date, or None for relative sequences")
    days_since_previous: int | None = Field(None, ge=0)


class VisitSequencePayload(_Frozen):
    kind: Literal["visit_sequence"] = "visit_sequence"
    static: dict[str, Scalar] = Field(default_factory=dict, description="demographics, labels")
    visits: tuple[Visit, ...]
    vocabulary: str | None = Field(None, description="e.g. 'OMOP', 'ICD-10-CM'")


class MediaRef(_Frozen):
    """A file under the dataset's media/ folder, by relative POSIX path and sha256."""

    path: str
    sha256: str
    mime_type: str
    bytes: int = Field(ge=0)

    @model_validator(mode="after")
    def _relative(self) -> Self:
        if self.path.startswith("/") or ".." in self.path.split("/"):
            raise ValueError(f"media path must be relative inside the dataset, got {self.path!r}")
        return self


class ImagePayload(_Frozen):
    kind: Literal["image"] = "image"
    media: MediaRef
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    caption: str | None = None


class AudioSegment(_Frozen):
    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)
    speaker: str | None = None
    text: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end_s < self.start_s:
            raise ValueError(f"segment ends ({self.end_s}) before it starts ({self.start_s})")
        return self


class AudioPayload(_Frozen):
    kind: Literal["audio"] = "audio"
    media: MediaRef
    sample_rate: int = Field(ge=1)
    duration_s: float = Field(ge=0)
    channels: int = Field(1, ge=1)
    segments: tuple[AudioSegment, ...] = ()
    attachments: tuple[MediaRef, ...] = Field(
        (), description="files that belong with the audio (e.g. a transcript, RTTM, a manifest line)")


class Turn(_Frozen):
    speaker: str
    role: str = Field(description="e.g. doctor, patient, paramedic")
    text: str


class DialoguePayload(_Frozen):
    kind: Literal["dialogue"] = "dialogue"
    turns: tuple[Turn, ...]
    setting: str | None = None

    @property
    def speakers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.speaker for t in self.turns))


class QAPayload(_Frozen):
    """A question-answer pair (optionally with the rationale and, for multiple choice, the options)."""

    kind: Literal["qa"] = "qa"
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    rationale: str | None = None
    options: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        lines = [f"Question: {self.question}"]
        lines += [f"Option: {o}" for o in self.options]
        lines.append(f"Answer: {self.answer}")
        if self.rationale:
            lines.append(f"Rationale: {self.rationale}")
        return "\n".join(lines)


Payload = Annotated[
    TextPayload | TableRowPayload | VisitSequencePayload | ImagePayload | AudioPayload | DialoguePayload | QAPayload,
    Field(discriminator="kind"),
]

_MODALITY_OF: dict[str, set[Modality]] = {
    "text": {Modality.TEXT},
    "table_row": {Modality.TABULAR},
    "visit_sequence": {Modality.EHR},
    "image": {Modality.IMAGE},
    "audio": {Modality.AUDIO},
    "dialogue": {Modality.DIALOGUE, Modality.TEXT},
    "qa": {Modality.TEXT},
}


class Span(_Frozen):
    """An entity annotation; `text` must equal the annotated slice of the record's text."""

    start: int = Field(ge=0)
    end: int = Field(ge=0)
    label: str
    text: str
    id: str | None = None
    turn: int | None = Field(None, ge=0, description="turn index, for dialogue payloads")


class Relation(_Frozen):
    head: str = Field(description="id of the head span")
    tail: str = Field(description="id of the tail span")
    label: str


class Record(_Frozen):
    """One synthetic sample.

    `case_id` ties together records of one synthetic patient or encounter across modalities;
    `parents` lists ids of the records it was derived from.
    """

    id: str
    case_id: str
    modality: Modality
    payload: Payload
    labels: dict[str, Scalar] = Field(default_factory=dict)
    spans: tuple[Span, ...] = ()
    relations: tuple[Relation, ...] = ()
    parents: tuple[str, ...] = ()
    provenance: Provenance

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        allowed = _MODALITY_OF[self.payload.kind]
        if self.modality not in allowed:
            raise ValueError(
                f"modality {self.modality.value!r} does not fit a {self.payload.kind!r} payload "
                f"(expected one of {sorted(m.value for m in allowed)})"
            )
        self._check_spans()
        span_ids = {s.id for s in self.spans if s.id}
        for rel in self.relations:
            missing = {rel.head, rel.tail} - span_ids
            if missing:
                raise ValueError(f"relation {rel.label!r} names unknown span ids {sorted(missing)}")
        return self

    def _check_spans(self) -> None:
        for span in self.spans:
            source = self._span_source(span)
            if not span.start <= span.end <= len(source):
                raise ValueError(
                    f"span {span.label!r} [{span.start}, {span.end}) lies outside a text of "
                    f"length {len(source)}"
                )
            if source[span.start : span.end] != span.text:
                raise ValueError(
                    f"span {span.label!r} [{span.start}, {span.end}) covers "
                    f"{source[span.start : span.end]!r}, not {span.text!r}"
                )

    def _span_source(self, span: Span) -> str:
        payload = self.payload
        if isinstance(payload, TextPayload):
            return payload.text
        if isinstance(payload, DialoguePayload):
            if span.turn is None or span.turn >= len(payload.turns):
                raise ValueError(f"span {span.label!r} on a dialogue needs a valid turn index")
            return payload.turns[span.turn].text
        raise ValueError(f"spans need a text or dialogue payload, not {payload.kind!r}")

    @property
    def text(self) -> str | None:
        """The record's main text: a text payload, a dialogue as 'speaker: turn' lines, a QA pair as labelled lines,
        an image's caption (the prompt it was drawn from, unless that held real data)."""
        if isinstance(self.payload, TextPayload):
            return self.payload.text
        if isinstance(self.payload, ImagePayload):
            return self.payload.caption
        if isinstance(self.payload, DialoguePayload):
            return "\n".join(f"{t.speaker}: {t.text}" for t in self.payload.turns)
        if isinstance(self.payload, QAPayload):
            return self.payload.text
        return None

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
