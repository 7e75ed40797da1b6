"""Run by `hatch run test` before pytest: the system programs the tests need, installed when missing.

The tests need programs that no Python package provides: a Chromium, which opens the evaluation
report in a headless browser test (a browser downloaded by a test tool at run time cannot be had on
these machines; Debian's `chromium` can), and for biosynth-audio Debian's `espeak-ng` (the espeak voice)
and `ffmpeg` (FFmpeg's libraries, which torchaudio's file I/O needs). When it is missing this script installs it with apt-get if
it may (root, or sudo without a password); otherwise it stops at once, with exit status 2 and the one
command to run, before any test starts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping

# Debian package -> the executables any of which satisfies it
NEEDED: Mapping[str, tuple[str, ...]] = {"chromium": ("chromium", "chromium-browser"), "espeak-ng": ("espeak-ng",),
                                         "ffmpeg": ("ffmpeg",)}


def missing_packages(which: Callable[[str], str | None] = shutil.which) -> list[str]:
    return [package for package, programs in NEEDED.items() if not any(which(p) for p in programs)]


def install_command(packages: list[str], *, euid: int, which: Callable[[str], str | None] = shutil.which,
                    sudo_ok: Callable[[], bool] | None = None) -> list[str] | None:
    """The apt-get command this process may run to install `packages`, or None when it may not."""
    if which("apt-get") is None:
        return None
    command = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]
    if euid == 0:
        return command
    if which("sudo") is not None and (sudo_ok or _sudo_without_password)():
        return ["sudo", "-n", *command]
    return None


def _sudo_without_password() -> bool:
    return subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0


def main() -> int:
    missing = missing_packages()
    if not missing:
        return 0
    command = install_command(missing, euid=os.geteuid())
    wanted = " ".join(missing)
    if command is None:
        print(f"the tests need Debian's {wanted} (a headless browser for the evaluation report; espeak-ng and ffmpeg "
              "for the audio tests); "
              f"install it, then run `hatch run test` again:\n    sudo apt-get install -y {wanted}", file=sys.stderr)
        return 2
    print(f"installing what the tests need: {wanted} ({' '.join(command)})", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    prefix = command[:2] if command[0] == "sudo" else []
    update = subprocess.run([*prefix, "apt-get", "update", "-qq"], env=env)
    done = subprocess.run(command, env=env) if update.returncode == 0 else update
    still = missing_packages()
    if done.returncode != 0 or still:
        print(f"could not install {' '.join(still) or wanted} (apt-get exit {done.returncode}); install it, then run "
              f"`hatch run test` again:\n    sudo apt-get install -y {wanted}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
