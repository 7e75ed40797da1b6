"""biosynth-audio installs alone beside core from its folder (no extras) into an empty virtualenv, and its own
tests pass there: those that need the piper or ASR extras are skipped with the install command."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WITHOUT_EXTRAS = {k: v for k, v in os.environ.items() if k != "BIOSYNTH_SKIPS_FAIL"}


@pytest.mark.slow
def test_core_and_audio_install_and_test_without_the_others(
        tmp_path: Path, isolated_venv: Callable[[list[str], int], Path],
        installed_distributions: Callable[[Path], set[str]]) -> None:
    python = isolated_venv([f"{ROOT / 'packages' / 'core'}[test]", f"{ROOT / 'packages' / 'audio'}[test]"], 1800)
    env_dir = python.parent.parent
    names = installed_distributions(python)
    assert {"biosynth-core", "biosynth-audio", "torchaudio", "soundfile"} <= names
    assert not names & {"biosynth-text", "biosynth-tabular", "biosynth-image", "biosynth-eval"}
    assert not names & {"piper-tts", "faster-whisper"}, "the GPL piper engine and the ASR check are extras"
    plugins = subprocess.run([str(env_dir / "bin" / "biosynth"), "plugins", "--json"], capture_output=True, text=True)
    assert json.loads(plugins.stdout)["packages"] == {"biosynth-core": "0.1.0", "biosynth-audio": "0.1.0"}
    tests = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--import-mode=importlib",
         str(ROOT / "packages" / "audio" / "tests")],
        capture_output=True, text=True, timeout=1800, cwd=tmp_path,
        env=WITHOUT_EXTRAS,  # here a test needing an extra that is not installed may skip
    )
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert " passed" in tests.stdout.splitlines()[-1]
