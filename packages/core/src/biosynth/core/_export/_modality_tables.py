"""Records as typed Arrow tables, one per modality: what the HF and Croissant exporters write as Parquet.

Every table has the same leading columns (ids, lineage, labels and provenance as JSON, the lossless `payload`
JSON) and then typed columns for its modality: a table row's values one column each, a visit history as a
list of structs, a dialogue's turns, an image or audio file as a `{bytes, path}` struct (the layout of the
`datasets` Image/Audio features) with its size, sha256 and media type; an audio record's attachments (transcript,
RTTM, manifest line) travel with it as `{path, mime_type, sha256, data}`. Tabular records of several tables
get one group per table (`tabular-<table>`), since their columns differ.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from biosynth.core._export._folder import ExportError
from biosynth.core._hashing import canonical_json
from biosynth.core._records import (
    AudioPayload,
    DialoguePayload,
    ImagePayload,
    MediaRef,
    Record,
    TableRowPayload,
    TextPayload,
    VisitSequencePayload,
)

MEDIA_STRUCT = pa.struct([pa.field("bytes", pa.binary()), pa.field("path", pa.string())])

COMMON = pa.schema([
    pa.field("id", pa.string(), nullable=False),
    pa.field("case_id", pa.string(), nullable=False),
    pa.field("step", pa.string(), nullable=False),
    pa.field("modality", pa.string(), nullable=False),
    pa.field("payload_kind", pa.string(), nullable=False),
    pa.field("text", pa.string()),
    pa.field("parents", pa.list_(pa.string())),
    pa.field("labels", pa.string(), nullable=False),
    pa.field("spans", pa.string(), nullable=False),
    pa.field("relations", pa.string(), nullable=False),
    pa.field("generator", pa.string(), nullable=False),
    pa.field("model", pa.string()),
    pa.field("provenance", pa.string(), nullable=False),
    pa.field("payload", pa.string(), nullable=False),
])
JSON_COLUMNS = ("labels", "spans", "relations", "provenance", "payload", "static")

VISIT = pa.struct([pa.field("codes", pa.list_(pa.string())), pa.field("date", pa.string()),
                   pa.field("days_since_previous", pa.int64())])
TURN = pa.struct([pa.field("speaker", pa.string()), pa.field("role", pa.string()), pa.field("text", pa.string())])
ATTACHMENT = pa.struct([pa.field("path", pa.string()), pa.field("mime_type", pa.string()),
                        pa.field("sha256", pa.string()), pa.field("data", pa.binary())])
SEGMENT = pa.struct([pa.field("start_s", pa.float64()), pa.field("end_s", pa.float64()),
                     pa.field("speaker", pa.string()), pa.field("text", pa.string())])
MEDIA_COLUMNS = [pa.field("media_path", pa.string()), pa.field("media_sha256", pa.string()),
                 pa.field("mime_type", pa.string()), pa.field("media_bytes", pa.int64())]

_SPECIFIC: dict[str, list[pa.Field]] = {
    "text": [pa.field("document_type", pa.string())],
    "qa": [pa.field("question", pa.string()), pa.field("answer", pa.string()), pa.field("rationale", pa.string()),
           pa.field("options", pa.list_(pa.string()))],
    "dialogue": [pa.field("turns", pa.list_(TURN)), pa.field("setting", pa.string())],
    "visit_sequence": [pa.field("visits", pa.list_(VISIT)), pa.field("static", pa.string()),
                       pa.field("vocabulary", pa.string())],
    "image": [pa.field("image", MEDIA_STRUCT), pa.field("width", pa.int64()), pa.field("height", pa.int64()),
              pa.field("caption", pa.string()), *MEDIA_COLUMNS],
    "audio": [pa.field("audio", MEDIA_STRUCT), pa.field("sampling_rate", pa.int64()),
              pa.field("duration_s", pa.float64()), pa.field("channels", pa.int64()),
              pa.field("segments", pa.list_(SEGMENT)), pa.field("attachments", pa.list_(ATTACHMENT)), *MEDIA_COLUMNS],
}


@dataclass(frozen=True)
class ModalityGroup:
    """One output table: its name, the records it holds and its Arrow schema."""

    name: str
    modality: str
    records: tuple[Record, ...]
    schema: pa.Schema
    value_columns: dict[str, str]  # table-row value key -> column name (tabular groups)

    @property
    def media_column(self) -> str | None:
        return "image" if "image" in self.schema.names else "audio" if "audio" in self.schema.names else None

    @property
    def decodable(self) -> bool:
        """Whether image readers (Pillow) can open every media file: not so for DICOM (`application/dicom`)."""
        refs = [r.payload.media for r in self.records if isinstance(r.payload, ImagePayload | AudioPayload)]
        return all(ref.mime_type.startswith(("image/", "audio/")) for ref in refs)


def group_records(records: list[Record]) -> list[ModalityGroup]:
    """Records grouped by modality (tabular ones by table too), groups in order of first appearance."""
    keyed: dict[str, list[Record]] = {}
    tables = sorted({r.payload.table for r in records if isinstance(r.payload, TableRowPayload)})
    safe_names: dict[str, str] = {}
    for table in tables:  # a file and RecordSet name: letters, digits, `_.-` only, and distinct
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", table).strip("._") or "table"
        while safe in safe_names.values():
            safe += "_"
        safe_names[table] = safe
    for record in records:
        name = record.modality.value
        if isinstance(record.payload, TableRowPayload) and len(tables) > 1:
            name = f"{name}-{safe_names[record.payload.table]}"
        keyed.setdefault(name, []).append(record)
    return [_group(name, group) for name, group in keyed.items()]


def _group(name: str, records: list[Record]) -> ModalityGroup:
    kinds = list(dict.fromkeys(r.payload.kind for r in records))
    fields = list(COMMON)
    for kind in kinds:
        for extra in _SPECIFIC.get(kind, []):
            if extra.name not in {f.name for f in fields}:
                fields.append(extra)
    value_columns: dict[str, str] = {}
    if "table_row" in kinds:
        fields.append(pa.field("table", pa.string()))
        taken = {f.name for f in fields}
        keys = list(dict.fromkeys(k for r in records if isinstance(r.payload, TableRowPayload) for k in r.payload.values))
        for key in keys:
            column = key if key not in taken else f"value_{key}"
            value_columns[key] = column
            values = [r.payload.values.get(key) for r in records if isinstance(r.payload, TableRowPayload)]
            fields.append(pa.field(column, _value_type(values)))
    return ModalityGroup(name=name, modality=records[0].modality.value, records=tuple(records),
                         schema=pa.schema(fields), value_columns=value_columns)


def _value_type(values: list[Any]) -> pa.DataType:
    """The Arrow type of a table-row column: bool, int, float or string; a mixed column is text (non-strings as JSON)."""
    present = [v for v in values if v is not None]
    types = {type(v) for v in present}
    if types == {bool}:
        return pa.bool_()
    if types == {int}:
        return pa.int64()
    if types and types <= {int, float}:
        return pa.float64()
    return pa.string()


def record_batches(group: ModalityGroup, media_bytes: Callable[[MediaRef], bytes], *,
                   batch_size: int = 256) -> Iterator[pa.Table]:
    """The group's rows as tables of up to `batch_size` rows; media bytes are read one batch at a time."""
    for start in range(0, len(group.records), batch_size):
        rows = [_row(group, record, media_bytes) for record in group.records[start:start + batch_size]]
        yield pa.Table.from_pylist(rows, schema=group.schema)


def _row(group: ModalityGroup, record: Record, media_bytes: Callable[[MediaRef], bytes]) -> dict[str, Any]:
    data = record.model_dump(mode="json")
    model = record.provenance.model
    row: dict[str, Any] = {
        "id": record.id, "case_id": record.case_id, "step": record.provenance.step or "",
        "modality": record.modality.value, "payload_kind": record.payload.kind, "text": record.text,
        "parents": list(record.parents), "labels": canonical_json(data["labels"]), "spans": canonical_json(data["spans"]),
        "relations": canonical_json(data["relations"]), "generator": record.provenance.generator,
        "model": model.name if model is not None else None, "provenance": canonical_json(data["provenance"]),
        "payload": canonical_json(data["payload"]),
    }
    payload = record.payload
    if isinstance(payload, TextPayload):
        row["document_type"] = payload.document_type
    elif isinstance(payload, TableRowPayload):
        row["table"] = payload.table
        for key, column in group.value_columns.items():
            value = payload.values.get(key)
            kind = group.schema.field(column).type
            row[column] = json.dumps(value) if pa.types.is_string(kind) and not isinstance(value, str | None) else value
    elif isinstance(payload, VisitSequencePayload):
        row["visits"] = [v.model_dump(mode="json") for v in payload.visits]
        row["static"] = canonical_json(data["payload"]["static"])
        row["vocabulary"] = payload.vocabulary
    elif isinstance(payload, DialoguePayload):
        row["turns"] = [t.model_dump(mode="json") for t in payload.turns]
        row["setting"] = payload.setting
    elif isinstance(payload, ImagePayload):
        row.update(image=_media(record, payload.media, media_bytes), width=payload.width, height=payload.height,
                   caption=payload.caption, **_media_facts(payload.media))
    elif isinstance(payload, AudioPayload):
        row.update(audio=_media(record, payload.media, media_bytes), sampling_rate=payload.sample_rate,
                   duration_s=payload.duration_s, channels=payload.channels,
                   segments=[s.model_dump(mode="json") for s in payload.segments],
                   attachments=[{"path": a.path, "mime_type": a.mime_type, "sha256": a.sha256,
                                 "data": _media(record, a, media_bytes)["bytes"]} for a in payload.attachments],
                   **_media_facts(payload.media))
    else:  # QAPayload
        row.update(question=payload.question, answer=payload.answer, rationale=payload.rationale,
                   options=list(payload.options))
    return row


def _media(record: Record, ref: MediaRef, media_bytes: Callable[[MediaRef], bytes]) -> dict[str, Any]:
    data = media_bytes(ref)
    if len(data) != ref.bytes:
        raise ExportError(f"record {record.id!r}: media file {ref.path!r} holds {len(data)} bytes, "
                          f"its payload says {ref.bytes}")
    return {"bytes": data, "path": ref.path}


def _media_facts(ref: MediaRef) -> dict[str, Any]:
    return {"media_path": ref.path, "media_sha256": ref.sha256, "mime_type": ref.mime_type, "media_bytes": ref.bytes}


def file_reader(root: Path) -> Callable[[MediaRef], bytes]:
    """Read a media file of the dataset at `root` (its sha256 was checked before the export started)."""

    def read(ref: MediaRef) -> bytes:
        path = root / ref.path
        if not path.is_file():
            raise ExportError(f"media file {ref.path!r} is missing from {str(root)!r}")
        return path.read_bytes()

    return read
