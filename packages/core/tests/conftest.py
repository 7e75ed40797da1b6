from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))  # makes `sample_generators` importable as `sample_generators:Name`


@pytest.fixture
def tests_dir() -> Path:
    return HERE


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for `biosynth` subprocesses: the test generators importable, no terminal bar."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["CI"] = "1"
    return env
