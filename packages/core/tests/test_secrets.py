"""An API key set in the environment never reaches any file the run writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from biosynth.core import SyntheticDataset

SECRET = "sk-test-3f9a1c7e5b2d4068a9e1f0c2b7d5e3a1"

RECIPE = """
name: secret
seed: 1
steps:
  - name: notes
    generator: "sample_generators:Prompted"
    count: 3
    params:
      model: {backend: fake, params: {remote: true, api_key_env: BIOSYNTH_TEST_API_KEY}}
"""


def test_api_key_is_read_from_env_and_never_written(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    (tmp_path / "r.yaml").write_text(RECIPE)
    env = {**subprocess_env, "BIOSYNTH_TEST_API_KEY": SECRET}
    cmd = [sys.executable, "-c", "from biosynth.core.cli import main; main()"]
    result = subprocess.run([*cmd, "run", "r.yaml", "--out", "out"], cwd=tmp_path, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    inspected = subprocess.run([*cmd, "inspect", "out", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True)
    record = SyntheticDataset(tmp_path / "out").records()[0]
    assert record.provenance.model.api_key_env == "BIOSYNTH_TEST_API_KEY"
    written = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert len(written) == 2
    for blob in [*(p.read_bytes() for p in written), result.stdout.encode(), result.stderr.encode(),
                 inspected.stdout.encode()]:
        assert SECRET.encode() not in blob
        assert SECRET[-12:].encode() not in blob  # not even a fragment

    missing = subprocess.run([*cmd, "run", "r.yaml", "--out", "out2"], cwd=tmp_path, env=subprocess_env,
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "environment variable BIOSYNTH_TEST_API_KEY is not set" in missing.stderr
