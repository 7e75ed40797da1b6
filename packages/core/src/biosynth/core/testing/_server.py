"""Waiting for a server a test fixture started on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path


def wait_for_port(proc: subprocess.Popen[bytes], port: int, log: Path, *, what: str = "the server",
                  timeout: float = 120.0) -> None:
    """Return once 127.0.0.1:`port` accepts connections; fail with the end of `log` if `proc` exits first or
    `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-2000:]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{what} did not start within {timeout:.0f} s: " + log.read_text()[-2000:])
