"""Records <-> Arrow: one row a record; payload, labels, annotations and provenance as JSON columns.

JSON columns keep one schema for every modality (a table row and an audio file in one file); the
`text` column holds the main text for quick reading. `created_at` is kept out of the provenance JSON
so that two runs of the same recipe differ only in that column.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from biosynth.core._atomic import atomic_path
from biosynth.core._hashing import canonical_json
from biosynth.core._records import Record

RECORD_SCHEMA = pa.schema([
    pa.field("id", pa.string(), nullable=False),
    pa.field("case_id", pa.string(), nullable=False),
    pa.field("step", pa.string(), nullable=False),
    pa.field("index", pa.int64(), nullable=False),
    pa.field("modality", pa.string(), nullable=False),
    pa.field("payload_kind", pa.string(), nullable=False),
    pa.field("text", pa.string()),
    pa.field("payload", pa.string(), nullable=False),
    pa.field("labels", pa.string(), nullable=False),
    pa.field("spans", pa.string(), nullable=False),
    pa.field("relations", pa.string(), nullable=False),
    pa.field("parents", pa.list_(pa.string()), nullable=False),
    pa.field("provenance", pa.string(), nullable=False),
    pa.field("created_at", pa.timestamp("us", tz="UTC"), nullable=False),
], metadata={"biosynth.format": "records", "biosynth.format_version": "1"})

TIMESTAMP_COLUMNS = ("created_at",)


def records_to_table(records: Iterable[tuple[int, Record]]) -> pa.Table:
    """Rows for (index, record) pairs; records without `created_at` are stamped now."""
    columns: dict[str, list[object]] = {f.name: [] for f in RECORD_SCHEMA}
    now = datetime.now(UTC)
    for index, record in records:
        data = record.model_dump(mode="json")
        provenance = data["provenance"]
        created = record.provenance.created_at or now
        provenance.pop("created_at", None)
        columns["id"].append(record.id)
        columns["case_id"].append(record.case_id)
        columns["step"].append(record.provenance.step or "")
        columns["index"].append(index)
        columns["modality"].append(record.modality.value)
        columns["payload_kind"].append(record.payload.kind)
        columns["text"].append(record.text)
        columns["payload"].append(canonical_json(data["payload"]))
        columns["labels"].append(canonical_json(data["labels"]))
        columns["spans"].append(canonical_json(data["spans"]))
        columns["relations"].append(canonical_json(data["relations"]))
        columns["parents"].append(list(record.parents))
        columns["provenance"].append(canonical_json(provenance))
        columns["created_at"].append(created)
    return pa.Table.from_pydict(columns, schema=RECORD_SCHEMA)


def table_to_records(table: pa.Table) -> list[Record]:
    out: list[Record] = []
    for row in table.to_pylist():
        provenance = json.loads(row["provenance"])
        provenance["created_at"] = row["created_at"]
        out.append(Record.model_validate({
            "id": row["id"], "case_id": row["case_id"], "modality": row["modality"],
            "payload": json.loads(row["payload"]), "labels": json.loads(row["labels"]),
            "spans": json.loads(row["spans"]), "relations": json.loads(row["relations"]),
            "parents": row["parents"], "provenance": provenance,
        }))
    return out


def write_table(table: pa.Table, target: Path) -> None:
    """Write Parquet atomically (zstd, statistics on)."""
    with atomic_path(target) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def read_table(path: Path) -> pa.Table:
    """A records file as a table of RECORD_SCHEMA. Read with `pq.ParquetFile`, not `pq.read_table`: the dataset
    machinery behind `read_table` kept ~55 KB per distinct file read (+52 MB after the 938 shards of a 60k-record
    run), so a run's memory grew with its size."""
    with pq.ParquetFile(path) as handle:
        table = handle.read()
    return table if table.schema.equals(RECORD_SCHEMA) else table.cast(RECORD_SCHEMA)
