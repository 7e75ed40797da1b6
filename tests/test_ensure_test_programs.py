"""`hatch run test` first installs the programs the tests need, or stops at once with the command to run."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ensure_test_programs.py"
spec = importlib.util.spec_from_file_location("ensure_test_programs", SCRIPT)
assert spec is not None and spec.loader is not None
ensure = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ensure)


def which_of(*present: str):
    return lambda name: f"/usr/bin/{name}" if name in present else None


def test_a_present_browser_needs_nothing() -> None:
    assert ensure.missing_packages(which_of("chromium", "espeak-ng", "ffmpeg")) == []
    assert ensure.missing_packages(which_of("chromium-browser", "espeak-ng", "ffmpeg")) == []
    assert ensure.missing_packages(which_of("firefox", "espeak-ng", "ffmpeg")) == ["chromium"]
    assert ensure.missing_packages(which_of("chromium")) == ["espeak-ng", "ffmpeg"]


def test_root_installs_with_apt_and_others_only_with_passwordless_sudo() -> None:
    command = ensure.install_command(["chromium"], euid=0, which=which_of("apt-get"))
    assert command == ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"]
    assert ensure.install_command(["chromium"], euid=1000, which=which_of("apt-get", "sudo"),
                                  sudo_ok=lambda: True)[:3] == ["sudo", "-n", "apt-get"]
    assert ensure.install_command(["chromium"], euid=1000, which=which_of("apt-get", "sudo"),
                                  sudo_ok=lambda: False) is None
    assert ensure.install_command(["chromium"], euid=0, which=which_of()) is None  # not Debian: no apt-get


def test_without_a_way_to_install_it_stops_at_once_with_the_command(tmp_path: Path) -> None:
    """A PATH with no browser and no apt-get: exit 2 and the one command to run, no traceback."""
    bare = tmp_path / "bin"
    bare.mkdir()
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                          env={**os.environ, "PATH": str(bare)})
    assert done.returncode == 2
    assert "sudo apt-get install -y chromium" in done.stderr and "Traceback" not in done.stderr


def test_with_the_browser_on_path_it_passes_silently(tmp_path: Path) -> None:
    bare = tmp_path / "bin"
    bare.mkdir()
    for name in ("chromium", "espeak-ng", "ffmpeg"):
        program = bare / name
        program.write_text("#!/bin/sh\n")
        program.chmod(0o755)
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                          env={**os.environ, "PATH": str(bare)})
    assert done.returncode == 0 and done.stdout == "" and done.stderr == ""
