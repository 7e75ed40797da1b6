"""Executors: where a step's batches run. The runner plans, applies the policy and commits; an executor
only runs batches (`run_step` yields each finished batch). `local` runs them in this process; `ray` runs them
on model-holding actors of a Ray cluster (the `ray` extra)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from biosynth.core._errors import ConfigError
from biosynth.core._executors._local import LocalExecutor
from biosynth.core._executors._work import Batch, BatchResult, StepInputs, StepWork, batches, run_batch

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    name: str

    def run_step(self, work: StepWork) -> Iterator[BatchResult]: ...
    def close(self) -> None: ...


def make_executor(name: str, *, address: str | None = None, actors: int | None = None) -> Executor:
    """The executor `name` (`local` or `ray`); `address` and `actors` apply to Ray only."""
    if name == "local":
        if address is not None or actors is not None:
            raise ConfigError("--address and --actors apply to --executor ray only")
        return LocalExecutor()
    if name == "ray":
        from biosynth.core._executors._ray import RayExecutor

        return RayExecutor(address=address, actors=actors)
    raise ConfigError(f"--executor must be one of {', '.join(EXECUTORS)}; got {name!r}")


__all__ = ["EXECUTORS", "Batch", "BatchResult", "Executor", "LocalExecutor", "StepInputs", "StepWork", "batches",
           "make_executor", "run_batch"]
