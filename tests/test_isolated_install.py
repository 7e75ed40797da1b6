"""Packages install alone from their folders into an empty virtualenv, and their own tests pass there."""

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
def test_core_and_image_install_and_test_without_the_others(
        tmp_path: Path, isolated_venv: Callable[[list[str], int], Path],
        installed_distributions: Callable[[Path], set[str]]) -> None:
    python = isolated_venv([f"{ROOT / 'packages' / 'core'}[test]", str(ROOT / "packages" / "image")], 900)
    env_dir = python.parent.parent
    names = installed_distributions(python)
    assert {"biosynth-core", "biosynth-image"} <= names
    assert not names & {"biosynth-text", "biosynth-tabular", "biosynth-audio", "biosynth-eval"}
    assert not names & {"torch", "transformers"}, "core must stay light"
    assert "ray" not in names, "Ray is the optional extra biosynth-core[ray]"
    (tmp_path / "r.yaml").write_text("name: r\nsteps:\n  - {name: rows, generator: attributes, count: 3, "
                                     "params: {attributes: {sex: [female, male]}}}\n")
    biosynth = str(env_dir / "bin" / "biosynth")
    local = subprocess.run([biosynth, "run", "r.yaml", "--out", "local"], capture_output=True, text=True, cwd=tmp_path)
    assert local.returncode == 0 and "3 requested, 3 produced" in local.stdout, local.stderr  # runs without Ray
    on_ray = subprocess.run([biosynth, "run", "r.yaml", "--out", "ray", "--executor", "ray"], capture_output=True,
                            text=True, cwd=tmp_path)
    assert on_ray.returncode == 2 and "pip install 'biosynth-core[ray]'" in on_ray.stderr, on_ray.stderr
    assert "Traceback" not in on_ray.stderr and not (tmp_path / "ray").exists()
    plugins = subprocess.run([str(env_dir / "bin" / "biosynth"), "plugins", "--json"], capture_output=True, text=True)
    assert json.loads(plugins.stdout)["packages"] == {"biosynth-core": "0.1.0", "biosynth-image": "0.1.0"}
    tests = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--import-mode=importlib",
         str(ROOT / "packages" / "core" / "tests"), str(ROOT / "packages" / "image" / "tests")],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,
        env=WITHOUT_EXTRAS,  # here a test needing an extra that is not installed may skip
    )
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert " passed" in tests.stdout.splitlines()[-1]
