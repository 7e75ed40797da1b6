"""The run journal: each finished batch is a Parquet shard plus a JSON commit file.

A batch counts as done only once its commit file exists (written atomically, after the shard), so a
process killed at any point leaves either a whole batch or none: on resume, shards without a commit
file and leftovers of interrupted writes are deleted and the batch is made again, with the same seeds.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from biosynth.core._atomic import atomic_write_bytes, atomic_write_text, is_temporary
from biosynth.core._errors import DatasetError
from biosynth.core._generator import SampleFailure
from biosynth.core._hashing import sha256_bytes, sha256_file
from biosynth.core._manifest import MANIFEST_VERSION, FailureEntry, RemovedEntry
from biosynth.core._nested import find_nested
from biosynth.core._records import MediaRef, Record
from biosynth.core._store import RECORD_SCHEMA, read_table, records_to_table, table_to_records

WORK_DIR = ".work"


@dataclass(frozen=True)
class EncodedBatch:
    """A batch's records as the bytes of its Parquet shard, with what its commit file says about them.

    Encoding happens where the batch was made (a Ray worker, or the local process), so a driver only writes
    bytes: the commit protocol is the same whichever executor made the batch.
    """

    produced: tuple[int, ...]
    shard: bytes | None
    media: dict[str, str]
    modalities: dict[str, int]

    @classmethod
    def encode(cls, records: list[tuple[int, Record]]) -> EncodedBatch:
        shard = None
        if records:
            buffer = io.BytesIO()
            pq.write_table(records_to_table(records), buffer, compression="zstd")
            shard = buffer.getvalue()
        return cls(produced=tuple(i for i, _ in records), shard=shard,
                   media={ref.path: ref.sha256 for _, r in records for _, ref in find_nested(r.payload, MediaRef)},
                   modalities=dict(Counter(r.modality.value for _, r in records)))

    def records(self) -> list[tuple[int, Record]]:
        """The records back, with their indices (e.g. for deduplication on the driver)."""
        if self.shard is None:
            return []
        table = pq.read_table(io.BytesIO(self.shard), schema=RECORD_SCHEMA)
        return list(zip(table.column("index").to_pylist(), table_to_records(table), strict=True))


class BatchCommit(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    start: int
    stop: int
    produced: list[int]
    failures: list[FailureEntry]
    removed: list[RemovedEntry] = Field(default_factory=list)
    shard: str | None
    shard_sha256: str | None
    media: dict[str, str]
    modalities: dict[str, int] = Field(default_factory=dict)


class StepJournal:
    """Committed batches of one step under `<dataset>/.work/<step>/`."""

    def __init__(self, root: Path, step: str) -> None:
        self.dir = root / WORK_DIR / step
        self._commits: dict[int, BatchCommit] | None = None

    def _commit_path(self, start: int) -> Path:
        return self.dir / f"batch-{start:09d}.json"

    def _shard_path(self, start: int) -> Path:
        return self.dir / f"batch-{start:09d}.parquet"

    def commits(self) -> dict[int, BatchCommit]:
        """Committed batches by start index; removes debris of interrupted batches."""
        if self._commits is None:
            self._commits = self._recover()
        return self._commits

    def _recover(self) -> dict[int, BatchCommit]:
        commits: dict[int, BatchCommit] = {}
        if not self.dir.exists():
            return commits
        for path in sorted(self.dir.iterdir()):
            if is_temporary(path):
                path.unlink()
            elif path.suffix == ".json":
                try:
                    commit = BatchCommit.model_validate_json(path.read_text(encoding="utf-8"))
                except ValueError as err:
                    raise DatasetError(f"run journal file {str(path)!r} is corrupt ({err}); "
                                       "delete the output folder and run again") from None
                if commit.shard and sha256_file(self.dir / commit.shard) != commit.shard_sha256:
                    raise DatasetError(f"shard {str(self.dir / commit.shard)!r} does not match its commit "
                                       "file's sha256; the folder was modified outside biosynth")
                commits[commit.start] = commit
        for shard in self.dir.glob("batch-*.parquet"):
            if int(shard.stem.split("-")[1]) not in commits:
                shard.unlink()  # written, but its batch never committed
        return commits

    def commit(self, start: int, stop: int, records: list[tuple[int, Record]], failures: list[SampleFailure],
               removed: list[RemovedEntry] | None = None) -> BatchCommit:
        return self.commit_encoded(start, stop, EncodedBatch.encode(records), failures, removed)

    def commit_encoded(self, start: int, stop: int, batch: EncodedBatch, failures: list[SampleFailure],
                       removed: list[RemovedEntry] | None = None) -> BatchCommit:
        """Write the batch's shard, then its commit file (both atomically): the batch is done once this returns."""
        self.dir.mkdir(parents=True, exist_ok=True)
        shard = sha = None
        if batch.shard is not None:
            path = self._shard_path(start)
            atomic_write_bytes(path, batch.shard)
            shard, sha = path.name, sha256_bytes(batch.shard)
        commit = BatchCommit(
            start=start, stop=stop, produced=list(batch.produced),
            failures=[FailureEntry(index=f.index, reason=f.reason, attempts=f.attempts) for f in failures],
            removed=removed or [],
            shard=shard, shard_sha256=sha, media=dict(batch.media), modalities=dict(batch.modalities),
        )
        atomic_write_text(self._commit_path(start), commit.model_dump_json())
        self.commits()[start] = commit
        return commit

    def done_indices(self) -> set[int]:
        done: set[int] = set()
        for commit in self.commits().values():
            done.update(range(commit.start, commit.stop))
        return done

    def records(self) -> list[tuple[int, Record]]:
        """Every committed record of the step, ordered by index."""
        return list(self.iter_records())

    def iter_records(self) -> Iterator[tuple[int, Record]]:
        """Every committed record of the step, ordered by index, read one shard at a time (batches cover disjoint,
        increasing index ranges, so shard order is index order)."""
        for start in sorted(self.commits()):
            commit = self.commits()[start]
            if commit.shard:
                table = read_table(self.dir / commit.shard)
                yield from sorted(zip(table.column("index").to_pylist(), table_to_records(table), strict=True),
                                  key=lambda pair: pair[0])

    def shard_paths(self) -> list[Path]:
        return [self.dir / c.shard for _, c in sorted(self.commits().items()) if c.shard]

    def produced(self) -> int:
        return sum(len(c.produced) for c in self.commits().values())

    def modalities(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for commit in self.commits().values():
            total.update(commit.modalities)
        return dict(total)

    def failures(self) -> list[FailureEntry]:
        return sorted((f for c in self.commits().values() for f in c.failures), key=lambda f: f.index)

    def removed(self) -> list[RemovedEntry]:
        return sorted((r for c in self.commits().values() for r in c.removed), key=lambda r: r.index)

    def media(self) -> dict[str, str]:
        return {k: v for c in self.commits().values() for k, v in c.media.items()}


def read_manifest_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DatasetError(f"{str(path)!r} is not a readable biosynth manifest ({err})") from None
    if not isinstance(data, dict) or data.get("format") != "biosynth-dataset":
        raise DatasetError(f"{str(path)!r} is not a biosynth dataset manifest (no `format: biosynth-dataset`)")
    version = data.get("format_version", MANIFEST_VERSION)
    if version != MANIFEST_VERSION:
        newer = isinstance(version, int) and version > MANIFEST_VERSION
        raise DatasetError(f"{str(path)!r} has format_version {version!r}, but this biosynth-core reads format_version "
                           f"{MANIFEST_VERSION}" + ("; it was written by a newer biosynth: upgrade biosynth-core to read "
                                                    "it" if newer else ""))
    return data
