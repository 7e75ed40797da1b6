"""biosynth-audio installs alone beside core from its folder (no extras) into an empty virtualenv, and its own
tests pass there: those that need the piper or ASR extras are skipped with the install command."""

from __future__ import annotations

import json
import os
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WITHOUT_EXTRAS = {k: v for k, v in os.environ.items() if k != "BIOSYNTH_SKIPS_FAIL"}


@pytest.mark.slow
def test_core_and_audio_install_and_test_without_the_others(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         f"{ROOT / 'packages' / 'core'}[test]", f"{ROOT / 'packages' / 'audio'}[test]"],
        capture_output=True, text=True, timeout=1800,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format", "json"], capture_output=True, text=True)
    names = {p["name"].lower() for p in json.loads(listed.stdout)}
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
