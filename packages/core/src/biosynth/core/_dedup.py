"""Duplicate removal within a step: exact duplicates, and near-duplicate texts by word-shingle Jaccard.

A step with `deduplicate:` keeps the first record of each group of duplicates (in sample-index order)
and reports every removed sample — with the id of the record it duplicates and the similarity — in the
manifest, so nothing disappears uncounted. The decision for a sample depends only on the records with
lower indices, so a resumed run removes exactly the same samples as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from biosynth.core._records import (
    AudioPayload,
    DialoguePayload,
    ImagePayload,
    QAPayload,
    Record,
    TableRowPayload,
    TextPayload,
    VisitSequencePayload,
)

_WORD = re.compile(r"\w+", re.UNICODE)


class DeduplicateConfig(BaseModel):
    """A step's `deduplicate:` block."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exact: bool = Field(True, description="remove records whose content equals an earlier one (texts compared "
                                          "case- and whitespace-insensitively)")
    near_threshold: float | None = Field(
        None, gt=0.0, le=1.0,
        description="also remove texts whose word-shingle Jaccard similarity to an earlier kept text is at least this")
    shingle: int = Field(3, ge=1, le=10, description="words per shingle for near duplicates")
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations (candidate search only; every "
                                                            "candidate is confirmed with the exact Jaccard)")


@dataclass(frozen=True)
class Duplicate:
    """Why a record is removed: the kept record it duplicates and how similar they are."""

    duplicate_of: str
    similarity: float
    near: bool

    @property
    def reason(self) -> str:
        return "near duplicate" if self.near else "exact duplicate"


def _near_text(record: Record) -> str | None:
    """The text compared for near duplicates: only where the text is the content (an image's caption is its
    prompt, shared by many different images)."""
    return record.text if isinstance(record.payload, (TextPayload, DialoguePayload, QAPayload)) else None


def content_key(record: Record) -> str:
    """The content compared for exact duplicates: normalised text, or canonical JSON of structured payloads."""
    payload = record.payload
    if isinstance(payload, (TextPayload, DialoguePayload, QAPayload)):
        return " ".join((record.text or "").casefold().split())
    if isinstance(payload, TableRowPayload):
        return json.dumps(payload.values, sort_keys=True, default=str)
    if isinstance(payload, VisitSequencePayload):
        return json.dumps({"static": payload.static, "visits": [list(v.codes) for v in payload.visits]},
                          sort_keys=True, default=str)
    if isinstance(payload, (ImagePayload, AudioPayload)):
        return payload.media.sha256
    raise TypeError(f"no duplicate key for payload {payload.kind!r}")  # pragma: no cover - exhaustive


class Deduplicator:
    """Feed records in index order: `check` says whether one duplicates a kept record, `keep` remembers it."""

    def __init__(self, config: DeduplicateConfig) -> None:
        self.config = config
        self._exact: dict[str, str] = {}
        self._lsh = None
        self._shingles: dict[str, frozenset[str]] = {}
        if config.near_threshold is not None:
            from datasketch import MinHashLSH

            # LSH finds candidates in sublinear time; a lower LSH threshold than the user's keeps its
            # false negatives rare, and the exact Jaccard below decides.
            self._lsh = MinHashLSH(threshold=max(0.05, config.near_threshold * 0.8), num_perm=config.num_perm)

    def check(self, record: Record) -> Duplicate | None:
        key = _digest(content_key(record))
        if self.config.exact and key in self._exact:
            return Duplicate(duplicate_of=self._exact[key], similarity=1.0, near=False)
        text = _near_text(record)
        if self._lsh is not None and text is not None:
            shingles = self._shingle_set(text)
            best: tuple[float, str] | None = None
            for candidate in self._lsh.query(self._minhash(shingles)):
                similarity = _jaccard(shingles, self._shingles[candidate])
                threshold = self.config.near_threshold
                assert threshold is not None
                if similarity >= threshold and (best is None or similarity > best[0]
                                                or (similarity == best[0] and candidate < best[1])):
                    best = (similarity, candidate)
            if best is not None:
                return Duplicate(duplicate_of=best[1], similarity=round(best[0], 6), near=True)
        return None

    def keep(self, record: Record) -> None:
        self._exact.setdefault(_digest(content_key(record)), record.id)
        text = _near_text(record)
        if self._lsh is not None and text is not None and record.id not in self._shingles:
            shingles = self._shingle_set(text)
            self._shingles[record.id] = shingles
            self._lsh.insert(record.id, self._minhash(shingles))

    def _shingle_set(self, text: str) -> frozenset[str]:
        words = _WORD.findall(text.casefold())
        k = self.config.shingle
        if len(words) < k:
            return frozenset({" ".join(words)})
        return frozenset(" ".join(words[i:i + k]) for i in range(len(words) - k + 1))

    def _minhash(self, shingles: frozenset[str]):  # type: ignore[no-untyped-def]
        from datasketch import MinHash

        minhash = MinHash(num_perm=self.config.num_perm, seed=1)
        minhash.update_batch([s.encode("utf-8") for s in sorted(shingles)])
        return minhash


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 1.0
