"""Benchmark: biosynth's runner at scale (issue 18), on this machine; not part of the test suite.

1. Ray's overhead against the local executor: the same recipe, each run a `biosynth run` in a fresh process (imports
   and model loads included), with `--executor local` and with `--executor ray` joining a Ray instance on this
   machine, once with one actor (equal resources: Ray's own overhead) and once with one actor per CPU. Two
   workloads: `template` (`attributes` -> `template` notes, two per patient: sampling, stamping, validating and
   encoding every record, little else) and `llm` (`attributes` -> `clinical_note` by the embedded SmolLM2-135M,
   real per-batch model work; each actor loads the model once). The records are checked equal (every column but
   the timestamps) before a ratio is printed. Ray's start (`ray.init`) is timed apart: on a cluster it is paid
   once, not per run. Runs are interleaved, `--repeats` times; the fastest of each counts.
2. Peak memory of the local runner: the same recipe at each `--sizes` (total records), each in a fresh process
   (`VmHWM`, the RSS high-water mark of that process), with the ratio of the largest to the smallest size.

Goals (issue 18): Ray overhead <= 15% with one actor; local peak memory <= 1.2x from 1k to 100k records. Every
measure is printed, misses included.

    python benchmarks/scale.py --overhead-records 60000 --llm-notes 16 --sizes 1000 10000 100000 --repeats 1

Needs: biosynth-core[ray], and biosynth-text with the embedded SmolLM2 for the model workload.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from biosynth.core._executors import LocalExecutor
from biosynth.core._recipe import Recipe, parse_recipe
from biosynth.core._runner import Runner

OVERHEAD_GOAL = 0.15
MEMORY_GOAL = 1.2


class Quiet:
    """No progress output: the benchmark times the runner, not the terminal."""

    def start_step(self, step: str, total: int, done: int) -> None: ...
    def advance(self, produced: int, failed: int) -> None: ...
    def end_step(self) -> None: ...


def recipe(records: int, batch_size: int) -> Recipe:
    """The template workload: `records` records in all, a third patients, two thirds notes written from them."""
    patients = max(1, records // 3)
    return parse_recipe({
        "name": "scale", "seed": 18,
        "steps": [
            {"name": "patients", "generator": "attributes", "count": patients, "batch_size": batch_size,
             "params": {"label_columns": ["diagnosis"], "attributes": ATTRIBUTES}},
            {"name": "notes", "generator": "template", "from": "patients", "per_input": 2, "batch_size": batch_size,
             "params": {"document_type": "discharge_summary", "template":
                        "Patient $case_id, a $age-year-old $sex, was admitted with $diagnosis. Systolic blood "
                        "pressure on admission was $systolic mmHg. Treatment was started and the patient was "
                        "discharged in a stable condition with follow-up in two weeks."}},
        ],
    })


ATTRIBUTES = {
    "age": {"type": "integer", "low": 18, "high": 95},
    "sex": ["female", "male"],
    "diagnosis": ["hypertension", "type 2 diabetes", "asthma", "COPD", "heart failure"],
    "systolic": {"type": "normal", "mean": 135, "sd": 18, "low": 80, "high": 230, "decimals": 0},
}


def llm_recipe(notes: int, batch_size: int) -> Recipe:
    """The model workload: `notes` clinical notes (biosynth-text) by the embedded SmolLM2-135M, one patient each."""
    return parse_recipe({
        "name": "scale-llm", "seed": 18,
        "steps": [
            {"name": "patients", "generator": "attributes", "count": notes, "params": {"attributes": ATTRIBUTES}},
            {"name": "notes", "generator": "clinical_note", "from": "patients", "batch_size": batch_size,
             "params": {"fields": ["age", "sex", "diagnosis", "systolic"], "target_words": 40, "max_attempts": 1,
                        "model": {"backend": "transformers", "params": {"batch_size": batch_size}},
                        "decoding": {"temperature": 0.7, "top_p": 0.9, "max_new_tokens": 48}}},
        ],
    })


def run_once(records: int, batch_size: int, out: Path, executor: Any) -> float:
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    Runner(recipe(records, batch_size), out, executor=executor, progress=Quiet()).run()
    return time.perf_counter() - started


def run_cli(recipe_file: Path, out: Path, args: list[str]) -> float:
    """`biosynth run` in a fresh process, as a user runs it: imports, model loads and all, timed from outside."""
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "CI": "1"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", "from biosynth.core.cli import main; main()", "run", str(recipe_file),
                           "--out", str(out), *args], capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"biosynth run {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return seconds


def table(out: Path) -> Any:
    return pq.read_table(out / "records.parquet").drop_columns(["created_at"])


def overhead(workload: str, size: int, args: argparse.Namespace, work: Path) -> None:
    import ray
    import yaml

    made = recipe(size, args.batch_size) if workload == "template" else llm_recipe(size, args.llm_batch_size)
    recipe_file = work / f"{workload}.yaml"
    recipe_file.write_text(yaml.safe_dump(made.model_dump(mode="json", by_alias=True), sort_keys=False))
    unit = "records" if workload == "template" else "notes"
    print(f"\n## Ray overhead, {workload} workload: {size} {unit} ({made.steps[-1].batch_size} a batch), "
          f"best of {args.repeats}, each a `biosynth run` in a fresh process")
    address = ray.get_runtime_context().gcs_address
    cpus = os.cpu_count() or 1
    setups = {"local": ["--executor", "local"], "ray, 1 actor": ["--executor", "ray", "--address", address, "--actors", "1"],
              f"ray, {cpus} actors": ["--executor", "ray", "--address", address, "--actors", str(cpus)]}
    times: dict[str, list[float]] = {name: [] for name in setups}
    for _ in range(args.repeats):
        for name, cli in setups.items():
            times[name].append(run_cli(recipe_file, work / f"{workload}-{name.replace(' ', '_')}", cli))
            print(f"  {name}: {times[name][-1]:.2f} s", flush=True)
    reference = table(work / f"{workload}-local")
    for name in setups:
        other = table(work / f"{workload}-{name.replace(' ', '_')}")
        assert other.equals(reference), f"{name} made other records than the local executor"
    print(f"records equal across executors (every column but created_at): yes, {reference.num_rows} rows")
    local = min(times["local"])
    for name in setups:
        best = min(times[name])
        line = f"{name:>16}: best {best:.2f} s"
        if name != "local":
            ratio = best / local - 1
            verdict = "meets" if ratio <= OVERHEAD_GOAL else "misses"
            line += f", {ratio:+.1%} against local ({verdict} the <= {OVERHEAD_GOAL:.0%} goal" + (
                ")" if name == "ray, 1 actor" else "; more actors than local uses)")
        print(line)


def memory_child(records: int, batch_size: int, out: Path) -> None:
    seconds = run_once(records, batch_size, out, LocalExecutor())
    print(json.dumps({"records": pq.ParquetFile(out / "records.parquet").metadata.num_rows,
                      "peak_rss_mib": peak_rss_kib() / 1024, "seconds": seconds}))


def peak_rss_kib() -> int:
    """This process's RSS high-water mark (VmHWM). Not `ru_maxrss`: Linux carries the parent's mark at fork over
    into it, so a child of a large parent would report the parent's size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def memory(args: argparse.Namespace, work: Path) -> None:
    print(f"\n## Local runner peak memory (RSS high-water, a fresh process per size), batch_size {args.batch_size}")
    peaks: dict[int, float] = {}
    for size in args.sizes:
        out = work / f"memory-{size}"
        child = subprocess.run([sys.executable, __file__, "--memory-child", str(size), "--batch-size",
                                str(args.batch_size), "--out", str(out)], capture_output=True, text=True, check=False)
        if child.returncode != 0:
            print(f"  {size} records: FAILED\n{child.stderr[-2000:]}")
            continue
        result = json.loads(child.stdout.strip().splitlines()[-1])
        peaks[size] = result["peak_rss_mib"]
        print(f"  {size:>7} records asked, {result['records']:>7} written: peak RSS {result['peak_rss_mib']:.1f} MiB, "
              f"{result['seconds']:.1f} s ({result['records'] / result['seconds']:,.0f} records/s)")
        shutil.rmtree(out, ignore_errors=True)
    if len(peaks) >= 2:
        small, large = min(peaks), max(peaks)
        ratio = peaks[large] / peaks[small]
        verdict = "meets" if ratio <= MEMORY_GOAL else "misses"
        print(f"peak at {large} / peak at {small}: {ratio:.3f}x ({verdict} the <= {MEMORY_GOAL}x goal)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--overhead-records", type=int, default=60_000, help="template workload size (0: skip)")
    parser.add_argument("--llm-notes", type=int, default=16, help="model workload size (0: skip)")
    parser.add_argument("--llm-batch-size", type=int, default=8)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000, 10_000, 100_000])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.batch_size, args.out)
        return
    import ray

    print("command: python " + " ".join(sys.argv))
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(f"ray {ray.__version__}; python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="biosynth-scale-") as tmp:
        if args.overhead_records or args.llm_notes:
            started = time.perf_counter()
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level="ERROR")
            print(f"ray.init (a local instance, {os.cpu_count()} CPUs): {time.perf_counter() - started:.1f} s; paid once "
                  "per cluster, not counted below (each run joins it with --address)")
            if args.overhead_records:
                overhead("template", args.overhead_records, args, Path(tmp))
            if args.llm_notes:
                overhead("llm", args.llm_notes, args, Path(tmp))
            ray.shutdown()
        memory(args, Path(tmp))
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
