"""Running the `biosynth` CLI in a fresh interpreter and seeing which heavy modules it imported."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence

_SCRIPT = """import sys
from biosynth.core.cli import main
watched, sys.argv = sys.argv[1].split(","), ["biosynth", *sys.argv[2:]]
try:
    main()
finally:
    print("modules loaded:", ",".join(m for m in watched if m in sys.modules), file=sys.stderr)
"""


def run_cli_watching(args: Sequence[str], *, watch: Sequence[str] = ("torch",), timeout: float = 600.0
                     ) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `biosynth ARGS` in a new Python process; return it and which of the `watch` modules were imported by
    the time it ended (exit status and output untouched: the report goes to stderr's last line)."""
    done = subprocess.run([sys.executable, "-c", _SCRIPT, ",".join(watch), *args], capture_output=True, text=True,
                          timeout=timeout)
    reports = [line for line in done.stderr.splitlines() if line.startswith("modules loaded:")]
    if not reports:
        raise AssertionError(f"the CLI process ended without its module report (exit {done.returncode}): "
                             f"{done.stderr[-2000:]}")
    loaded = {m for m in reports[-1].removeprefix("modules loaded:").strip().split(",") if m}
    return done, loaded
