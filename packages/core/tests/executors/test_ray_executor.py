"""The Ray executor on a simulated two-node cluster (ray.cluster_utils.Cluster, one CPU a node, shared by every
test here: a Ray start is the expensive part): the same records as the local executor, one model load per actor,
a worker killed mid-step retried with nothing lost or duplicated, a killed driver resumed with `--resume`, media
written by the workers, progress reported as for a local run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from biosynth.core import SyntheticDataset
from biosynth.core._errors import ConfigError, PolicyError
from biosynth.core._executors import LocalExecutor, make_executor
from biosynth.core._hashing import sha256_file
from biosynth.core._recipe import Recipe, parse_recipe
from biosynth.core._runner import Runner

ray = pytest.importorskip("ray", reason="the `ray` extra is not installed")  # core's isolated install runs without it
from ray.cluster_utils import Cluster  # noqa: E402

from biosynth.core._executors._ray import RayExecutor  # noqa: E402

HERE = Path(__file__).parent


def recipe(loads_dir: Path, exit_at: int | None = None) -> Recipe:
    return parse_recipe({
        "name": "scale-out", "seed": 3,
        "steps": [
            {"name": "patients", "generator": "attributes", "count": 24, "batch_size": 4,
             "deduplicate": {"exact": True},  # results must arrive in index order: the first of duplicates is kept
             "params": {"attributes": {"sex": ["female", "male"], "band": ["18-40", "41-65", "66+"]}}},
            {"name": "notes", "generator": "ray_generators:ModelNotes", "from": "patients", "per_input": 3,
             "batch_size": 2, "params": {"loads_dir": str(loads_dir), "exit_at": exit_at}},
        ],
    })


class Recorded:
    """A Progress that keeps what it was told."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def start_step(self, step: str, total: int, done: int) -> None:
        self.calls.append(("start", (step, total, done)))

    def advance(self, produced: int, failed: int) -> None:
        self.calls.append(("advance", (produced, failed)))

    def end_step(self) -> None:
        self.calls.append(("end", None))


def records(out: Path) -> Any:
    return pq.read_table(out / "records.parquet").drop_columns(["created_at"])


def counts(out: Path) -> dict[str, Any]:
    manifest = SyntheticDataset(out).manifest
    steps = {k: s.model_dump(include={"requested", "produced", "failed", "failure_reasons", "removed",
                                      "removal_reasons", "modalities"}) for k, s in manifest.steps.items()}
    return {"steps": steps, "media": manifest.media, "policy": manifest.policy_decisions}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    """Two Ray nodes of one CPU each on this machine; workers import the tests' generators through PYTHONPATH."""
    paths = [str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
        mp.setenv("RAY_AUTH_MODE", "disabled")
        mp.setenv("RAY_USAGE_STATS_ENABLED", "0")  # no usage reports (and no queries to a Prometheus that is not there)
        started = time.monotonic()
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, logging_level="WARNING")
        print(f"two-node Ray cluster up in {time.monotonic() - started:.1f} s")
        yield cluster
        ray.shutdown()
        cluster.shutdown()


@pytest.fixture(scope="module")
def runs(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The recipe run once locally and once on the cluster with a worker killed at sample 15 of `notes`."""
    tmp = tmp_path_factory.mktemp("runs")
    (tmp / "local-loads").mkdir()
    (tmp / "local-loads" / "exited").write_text("")  # the local run must not kill the test process
    (tmp / "ray-loads").mkdir()
    local = Runner(recipe(tmp / "local-loads", exit_at=15), tmp / "local", executor=LocalExecutor(),
                   progress=Recorded()).run()
    executor = RayExecutor()
    progress = Recorded()
    manifest = Runner(recipe(tmp / "ray-loads", exit_at=15), tmp / "ray", executor=executor, progress=progress).run()
    return {"tmp": tmp, "local": local, "ray": manifest, "executor": executor, "progress": progress}


@pytest.mark.slow
def test_ray_makes_the_local_executors_records(runs: dict[str, Any]) -> None:
    tmp = runs["tmp"]
    local, remote = records(tmp / "local"), records(tmp / "ray")
    assert remote.num_rows == local.num_rows == 6 + 18  # 6 distinct patients, 3 notes each
    assert remote.equals(local)  # ids, payloads, parents, provenance: everything but the timestamps
    assert counts(tmp / "ray") == counts(tmp / "local")
    assert counts(tmp / "ray")["steps"]["patients"]["removed"] == 18
    assert [d["backend"] for d in runs["ray"].policy_decisions] == ["fake"]  # the load on the workers, recorded once
    assert SyntheticDataset(tmp / "ray").verify() == []


def test_batches_ran_on_both_nodes_with_one_model_load_per_actor(runs: dict[str, Any]) -> None:
    stats = runs["executor"].stats["notes"]
    assert len(stats.nodes) == 2
    assert stats.batches == 9
    pids = [int(p.name.split("-")[1]) for p in (runs["tmp"] / "ray-loads").glob("load-*")]
    assert len(set(pids)) == len(pids)  # no process loaded the model twice
    assert {pid for _, pid in stats.actors} <= set(pids)  # every actor that made a batch loaded it once
    # the two actors, and the one Ray started again after the kill (the killed one may have died before reporting)
    assert len(stats.actors) <= len(pids) <= len(stats.actors) + 1 and len(pids) in (2, 3)
    assert len(pids) < stats.batches


def test_a_killed_worker_loses_and_duplicates_nothing(runs: dict[str, Any]) -> None:
    tmp = runs["tmp"]
    assert (tmp / "ray-loads" / "exited").exists(), "the worker was not killed"
    table = records(tmp / "ray").to_pylist()
    ids = [r["id"] for r in table if r["step"] == "notes"]
    assert ids == [f"notes-{i:06d}" for i in range(18)]  # every sample once, in order


def test_progress_is_reported_as_for_a_local_run(runs: dict[str, Any]) -> None:
    calls = runs["progress"].calls
    starts = [args for kind, args in calls if kind == "start"]
    assert starts == [("patients", 24, 0), ("notes", 18, 0)]
    per_step: list[int] = []
    for kind, args in calls:
        if kind == "start":
            per_step.append(0)
        elif kind == "advance":
            per_step[-1] += sum(args)
    assert per_step == [24, 18]


KILLABLE = """
name: killable-driver
seed: 5
steps:
  - name: numbers
    generator: "sample_generators:Numbers"
    count: 40
    batch_size: 2
    params: {delay_s: 0.05, fail_every: 9, with_media: true}
"""


def test_a_killed_driver_resumes_to_the_local_result(cluster: Cluster, tmp_path: Path,
                                                     subprocess_env: dict[str, str]) -> None:
    (tmp_path / "r.yaml").write_text(KILLABLE)
    out = tmp_path / "killed"
    cmd = [sys.executable, "-c", "from biosynth.core.cli import main; main()", "run", "r.yaml", "--out", str(out),
           "--executor", "ray", "--address", cluster.address, "--actors", "1"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=subprocess_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(list(out.glob(".work/numbers/batch-*.json"))) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    committed = len(list(out.glob(".work/numbers/batch-*.json")))
    assert 3 <= committed < 20

    recipe_ = parse_recipe(__import__("yaml").safe_load(KILLABLE))
    progress = Recorded()
    Runner(recipe_, out, resume=True, executor=make_executor("ray", actors=1), progress=progress).run()
    Runner(recipe_, tmp_path / "local").run()
    assert records(out).equals(records(tmp_path / "local"))
    assert records(out).num_rows == 40 - 5  # 0, 9, 18, 27, 36 fail
    assert counts(out) == counts(tmp_path / "local")
    media = SyntheticDataset(out).manifest.media  # written by the workers into the dataset folder
    assert len(media) == 35 and all(sha256_file(out / m) == sha256_file(tmp_path / "local" / m) for m in media)
    assert SyntheticDataset(out).verify() == []
    assert progress.calls[0] == ("start", ("numbers", 40, 2 * committed))  # the resumed run starts where it stopped


def test_a_user_error_on_a_worker_is_raised_as_in_a_local_run(cluster: Cluster, tmp_path: Path) -> None:
    refusing = parse_recipe({"name": "refusing", "steps": [
        {"name": "notes", "generator": "ray_generators:Refusing", "count": 2, "batch_size": 2}]})
    with pytest.raises(ConfigError, match="sample 0: the model refuses this parameter") as raised:
        Runner(refusing, tmp_path / "out", executor=RayExecutor(actors=1)).run()
    assert "biosynth: step 'notes' stopped at samples 0..1" in raised.value.__notes__
    assert not (tmp_path / "out").exists()  # nothing was finished, so nothing is kept


def test_real_data_to_a_remote_model_is_refused_on_the_driver_before_anything_goes_to_ray(tmp_path: Path) -> None:
    (tmp_path / "examples.txt").write_text("Real note: 67M with NSTEMI.")
    remote = parse_recipe({"name": "p", "seed": 1, "steps": [
        {"name": "notes", "generator": "sample_generators:Prompted", "count": 2,
         "params": {"examples": "examples.txt", "model": {"backend": "fake", "params": {"remote": True}}}}]})
    executor = RayExecutor(address="ray://192.0.2.1:10001")  # never reached: the plan is refused first
    with pytest.raises(PolicyError, match="would send real data to the remote language model 'fake'"):
        Runner(remote, tmp_path / "out", base_dir=tmp_path, executor=executor).run()
    assert executor.stats == {} and not (tmp_path / "out").exists()
