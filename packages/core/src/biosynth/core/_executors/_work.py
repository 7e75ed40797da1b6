"""What an executor gets for one step (its planned generator, context and pending batches) and what it hands back.

The runner plans, checks the policy, builds the requests and commits; an executor only decides where the
batches run. `run_batch` is the one function that turns a batch of requests into outcomes, in-process or on a
Ray worker, so both executors make identical records.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from biosynth.core._generator import Generator, SampleFailure, SampleRequest, StepContext
from biosynth.core._journal import EncodedBatch, StepJournal
from biosynth.core._manifest import RemovedEntry
from biosynth.core._policy import PolicyDecision
from biosynth.core._records import Record
from biosynth.core._seeding import derive_seed


@dataclass(frozen=True)
class Batch:
    """Samples `start`..`stop - 1` of a step: the unit of work, of commit and of resume."""

    start: int
    stop: int
    requests: list[SampleRequest]


@dataclass
class BatchResult:
    """A finished batch: its records (in-process) or their encoded shard (from a worker), failures and removals."""

    start: int
    stop: int
    failures: list[SampleFailure]
    removed: list[RemovedEntry]
    records: list[tuple[int, Record]] | None = None
    encoded: EncodedBatch | None = None
    decisions: list[PolicyDecision] = field(default_factory=list)

    def record_list(self) -> list[tuple[int, Record]]:
        if self.records is None:
            self.records = self.encoded.records() if self.encoded is not None else []
        return self.records

    def encoded_batch(self) -> EncodedBatch:
        if self.encoded is None:
            self.encoded = EncodedBatch.encode(self.records or [])
        return self.encoded

    @property
    def produced(self) -> int:
        return len(self.records) if self.records is not None else len(self.encoded_batch().produced)


@dataclass
class StepWork:
    """One step for an executor: the planned generator, the driver's context and the batches still to make.

    `batches` is lazy (requests are built as they are taken, from inputs read one shard at a time); `ordered`
    asks for results in index order (deduplication keeps the first of a group of duplicates).
    """

    generator: Generator[Any]
    ctx: StepContext
    batches: Iterable[Batch]
    total: int
    ordered: bool = False


def run_batch(generator: Generator[Any], batch: Batch, ctx: StepContext) -> BatchResult:
    """Make one batch: the generator's outcomes sorted into records, failures and removals."""
    try:
        outcomes = generator.generate(batch.requests, ctx)
    except Exception as err:
        err.add_note(f"biosynth: step {ctx.step!r} stopped at samples {batch.start}..{batch.stop - 1}")
        raise
    return BatchResult(
        start=batch.start, stop=batch.stop,
        records=[(r.index, o) for r, o in zip(batch.requests, outcomes, strict=True) if isinstance(o, Record)],
        failures=[o for o in outcomes if isinstance(o, SampleFailure)],
        removed=[o for o in outcomes if isinstance(o, RemovedEntry)],
    )


class StepInputs:
    """The records of a step's `from:` step, streamed in index order one shard at a time (never all in memory).

    `count` comes from the commit files; `take(first, last)` returns positions `first`..`last` and must be
    asked for in increasing order, as the runner's batches are.
    """

    def __init__(self, root: Path, step: str, take: int | None) -> None:
        journal = StepJournal(root, step)
        produced = journal.produced()
        self.count = produced if take is None else min(take, produced)
        self._records = journal.iter_records()
        self._first = 0  # position of self._window[0]
        self._window: list[Record] = []  # the records read and still needed, positions self._first on

    def take(self, first: int, last: int) -> list[Record]:
        if first < self._first:
            raise RuntimeError(f"inputs are read in order; position {first} was already passed")
        read = self._first + len(self._window)  # records taken from the stream so far
        if first >= read:  # skip the inputs of batches done before (resume)
            for _ in range(first - read):
                next(self._records)
            self._window = []
        else:
            self._window = self._window[first - self._first:]
        self._first = first
        while self._first + len(self._window) <= last:
            self._window.append(next(self._records)[1])
        return self._window[:last - first + 1]


def batches(seed: int, requested: int, batch_size: int, per_input: int, done: set[int],
            inputs: StepInputs | None) -> Iterator[Batch]:
    """The batches not yet committed, each with its requests: sample i has seed derive_seed(seed, i) and, with
    inputs, the record at position i // per_input."""
    for start in range(0, requested, batch_size):
        if start in done:
            continue
        stop = min(start + batch_size, requested)
        window = inputs.take(start // per_input, (stop - 1) // per_input) if inputs is not None else None
        yield Batch(start, stop, [
            SampleRequest(index=i, seed=derive_seed(seed, i),
                          input=window[i // per_input - start // per_input] if window is not None else None)
            for i in range(start, stop)
        ])
