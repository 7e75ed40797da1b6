"""What every benchmark prints around its measures: the command that reproduces it, the machine's load average at the
start and at the end, and the versions of what it compares (issue 17)."""

from __future__ import annotations

import importlib.metadata as md
import os
import shlex
import sys
from collections.abc import Sequence


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min; {os.cpu_count()} CPUs)"


def versions(distributions: Sequence[str]) -> str:
    shown = []
    for dist in distributions:
        try:
            shown.append(f"{dist} {md.version(dist)}")
        except md.PackageNotFoundError:
            shown.append(f"{dist} not installed")
    return ", ".join(shown)


def print_start(distributions: Sequence[str]) -> None:
    """The command (as typed, from the repository root), the load average now, and the compared packages' versions."""
    script = os.path.relpath(sys.argv[0]) if sys.argv and sys.argv[0] else "benchmarks/<script>.py"
    print(f"command: python {shlex.join([script, *sys.argv[1:]])}")
    print(f"load average at the start: {load_average()}")
    print(f"versions: python {sys.version.split()[0]}, {versions(distributions)}", flush=True)


def print_end() -> None:
    print(f"load average at the end: {load_average()}", flush=True)
