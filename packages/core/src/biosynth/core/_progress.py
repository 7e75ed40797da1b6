"""Progress: a bar on an interactive terminal, plain log lines otherwise (CI, files, pipes)."""

from __future__ import annotations

import logging
import os
import sys
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
from rich.progress import Progress as RichProgress

log = logging.getLogger("biosynth")


class Progress(Protocol):
    def start_step(self, step: str, total: int, done: int) -> None: ...
    def advance(self, produced: int, failed: int) -> None: ...
    def end_step(self) -> None: ...


class LogProgress:
    """One log line per batch: `step notes: 48/100 done (46 produced, 2 failed)`."""

    def __init__(self) -> None:
        self._step, self._total, self._done, self._produced, self._failed = "", 0, 0, 0, 0

    def start_step(self, step: str, total: int, done: int) -> None:
        self._step, self._total, self._done, self._produced, self._failed = step, total, done, 0, 0
        resumed = f", {done} already done" if done else ""
        log.info("step %s: %d samples requested%s", step, total, resumed)

    def advance(self, produced: int, failed: int) -> None:
        self._done += produced + failed
        self._produced += produced
        self._failed += failed
        log.info("step %s: %d/%d done (%d produced, %d failed in this run)",
                 self._step, self._done, self._total, self._produced, self._failed)

    def end_step(self) -> None:
        pass


class BarProgress:
    """A rich progress bar per step."""

    def __init__(self, console: Console | None = None) -> None:
        self._bar = RichProgress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[failed]} failed"), TimeRemainingColumn(),
                                 console=console, transient=False)
        self._task: int | None = None
        self._failed = 0

    def start_step(self, step: str, total: int, done: int) -> None:
        self._bar.start()
        self._failed = 0
        self._task = self._bar.add_task(step, total=total, completed=done, failed=0)

    def advance(self, produced: int, failed: int) -> None:
        assert self._task is not None
        self._failed += failed
        self._bar.update(self._task, advance=produced + failed, failed=self._failed)

    def end_step(self) -> None:
        self._bar.stop()


def default_progress() -> Progress:
    """A bar when stderr is an interactive terminal outside CI, else log lines."""
    interactive = sys.stderr.isatty() and not os.environ.get("CI")
    return BarProgress() if interactive else LogProgress()
