"""SIGKILL a run at several points, resume it, and compare with an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from biosynth.core import SyntheticDataset
from biosynth.core._hashing import sha256_file

RECIPE = """
name: killable
seed: 11
steps:
  - name: images
    generator: "sample_generators:Numbers"
    count: 36
    batch_size: 3
    params: {delay_s: 0.02, with_media: true, fail_every: 7}
  - name: captions
    generator: "sample_generators:Numbers"
    from: images
    batch_size: 4
    params: {delay_s: 0.02}
"""
CMD = [sys.executable, "-c", "from biosynth.core.cli import main; main()", "run", "r.yaml", "--out"]


def committed(out: Path) -> int:
    return len(list((out / ".work").glob("*/batch-*.json"))) if (out / ".work").exists() else 0


def kill_after(out: Path, batches: int, extra_s: float, env: dict[str, str], cwd: Path) -> bool:
    """Start (or resume) a run and SIGKILL it once `batches` batches are committed; False if it finished first."""
    args = [*CMD, str(out)] + (["--resume"] if (out / "manifest.json").exists() else [])
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while committed(out) < batches and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(extra_s)
    if proc.poll() is not None:
        return False
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return True


@pytest.mark.slow
def test_killed_runs_resume_to_the_uninterrupted_result(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    (tmp_path / "r.yaml").write_text(RECIPE)
    clean = subprocess.run([*CMD, "clean"], cwd=tmp_path, env=subprocess_env, capture_output=True, text=True)
    assert clean.returncode == 0, clean.stderr

    out = tmp_path / "killed"
    kills = 0
    # kill points: before the first commit, mid step 1, across the step boundary, mid step 2
    for batches, extra in [(0, 0.3), (2, 0.013), (5, 0.031), (12, 0.0), (16, 0.007), (19, 0.019)]:
        kills += kill_after(out, batches, extra, subprocess_env, tmp_path)
    assert kills >= 4, "the run finished before it could be interrupted; slow the generator down"
    resumed = subprocess.run([*CMD, str(out), "--resume"], cwd=tmp_path, env=subprocess_env,
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr

    a = pq.read_table(tmp_path / "clean" / "records.parquet").drop_columns(["created_at"])
    b = pq.read_table(out / "records.parquet").drop_columns(["created_at"])
    assert b.num_rows == a.num_rows == 30 + 30  # 36 images, 6 failed (0, 7, ..., 35), one caption each
    assert b.equals(a)
    assert len(set(b.column("id").to_pylist())) == b.num_rows

    clean_manifest = SyntheticDataset(tmp_path / "clean").manifest
    manifest = SyntheticDataset(out).manifest
    assert {k: (s.requested, s.produced, s.failed) for k, s in manifest.steps.items()} == \
           {k: (s.requested, s.produced, s.failed) for k, s in clean_manifest.steps.items()}
    assert manifest.media == clean_manifest.media
    assert SyntheticDataset(out).verify() == []
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == sorted(["manifest.json", "records.parquet", *manifest.media])
    assert all(sha256_file(out / m) == sha256_file(tmp_path / "clean" / m) for m in manifest.media)


def test_ctrl_c_exits_130_says_how_to_resume_and_resume_finishes(tmp_path: Path,
                                                                 subprocess_env: dict[str, str]) -> None:
    (tmp_path / "r.yaml").write_text(RECIPE)
    out = tmp_path / "interrupted"
    # SIGINT's default action restored in the child: a shell that starts the tests in the background (`cmd &`)
    # ignores SIGINT, every child inherits that, and Python then installs no KeyboardInterrupt handler
    proc = subprocess.Popen([*CMD, str(out)], cwd=tmp_path, env=subprocess_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while committed(out) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, "the run finished before it could be interrupted; slow the generator down"
    os.kill(proc.pid, signal.SIGINT)  # what Ctrl-C sends
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "Aborted!" not in stderr
    assert f"Resume with: biosynth run r.yaml --out {out} --resume" in stderr
    assert 2 <= committed(out)

    resumed = subprocess.run([*CMD, str(out), "--resume"], cwd=tmp_path, env=subprocess_env,
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert SyntheticDataset(out).manifest.steps["images"].requested == 36
    assert SyntheticDataset(out).verify() == []
