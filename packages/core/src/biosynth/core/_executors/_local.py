"""The local executor: batches run one after another in this process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from biosynth.core._executors._work import BatchResult, StepWork, run_batch


class LocalExecutor:
    """Runs each batch in the calling process, in index order (the default)."""

    name: ClassVar[str] = "local"

    def run_step(self, work: StepWork) -> Iterator[BatchResult]:
        for batch in work.batches:
            yield run_batch(work.generator, batch, work.ctx)

    def close(self) -> None:
        pass
