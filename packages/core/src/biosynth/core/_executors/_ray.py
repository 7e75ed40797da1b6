"""The Ray executor: a step's batches run on model-holding actors of a Ray cluster, through Ray Data.

What goes to the workers: the step's planned generator (its name, validated parameters and component specs;
no model is loaded on the driver), the step's seed, the policy configuration, whether the step reads real data,
and per batch the sample requests (index, seed, input record). Each actor loads the step's models once (on its
first batch) and keeps them for every batch it is given; one row of the Ray dataset is one batch of the step's
`batch_size` samples. The actor encodes its records as the batch's Parquet shard and hands it back; the driver
commits it through the run journal exactly as the local executor's batches are committed, so `--resume` works
after a driver or a worker dies, with either executor.

The policy is checked on the driver at plan time, before anything is sent; a component a generator loads at run
time is checked again by the actor's own `StepContext.component` (same policy, same refusal).

Media files (images, audio) are written by the workers into the dataset folder, and image-to-image steps read
their parents' files there: on a cluster of several machines `--out` must be on storage every node mounts. An
actor refuses to work when it cannot see the folder.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import json
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from biosynth.core._errors import BiosynthError, ConfigError, DatasetError
from biosynth.core._executors._work import Batch, BatchResult, StepWork, run_batch
from biosynth.core._generator import Generator, SampleFailure, SampleRequest, StepContext
from biosynth.core._journal import EncodedBatch
from biosynth.core._manifest import Environment, RemovedEntry
from biosynth.core._policy import Policy, PolicyDecision
from biosynth.core._recipe import PolicyConfig
from biosynth.core._records import Record
from biosynth.core._registry import default_registry

log = logging.getLogger("biosynth")
MANIFEST = "manifest.json"


def _import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as err:
        raise ConfigError(f"--executor ray needs Ray Data ({err}); install it with: pip install 'biosynth-core[ray]'"
                          ) from None
    return ray


@dataclass
class StepStats:
    """Where a step's batches ran: Ray node ids and actors (node, pid), and how many batches."""

    nodes: set[str] = field(default_factory=set)
    actors: set[tuple[str, int]] = field(default_factory=set)
    batches: int = 0


class RayExecutor:
    """Runs batches on a pool of Ray actors per step (Ray Data `map_batches` with an actor pool).

    `address`: None starts a local Ray instance (unless this process is already connected), `auto` joins the
    cluster started with `ray start` on this machine, `ray://host:10001` connects through Ray Client. `actors`:
    the most actors per step (default: one per CPU of the cluster, at most one per batch). A worker that dies
    mid-batch is replaced by Ray and its batch retried, up to `max_task_retries` times. Workers use their own
    installed plugins (the default registry) and must run the driver's biosynth versions.
    """

    name: ClassVar[str] = "ray"

    def __init__(self, *, address: str | None = None, actors: int | None = None, cpus_per_actor: float = 1.0,
                 gpus_per_actor: float = 0.0, max_task_retries: int = 3) -> None:
        if actors is not None and actors < 1:
            raise ConfigError(f"--actors must be at least 1, got {actors}")
        self.ray = _import_ray()
        self.address = address
        self.actors = actors
        self.cpus_per_actor = cpus_per_actor
        self.gpus_per_actor = gpus_per_actor
        self.max_task_retries = max_task_retries
        self.stats: dict[str, StepStats] = {}
        self._started = False
        self._versions: dict[str, str] | None = None  # the driver's biosynth packages, which workers must match

    def _connect(self) -> None:
        if self.ray.is_initialized():
            return
        try:
            self.ray.init(address=self.address, include_dashboard=False, logging_level=logging.WARNING)
        except (ConnectionError, ValueError, RuntimeError) as err:
            raise ConfigError(f"cannot connect to the Ray cluster at --address {self.address!r}: {err}") from None
        self._started = True

    def close(self) -> None:
        """Shut down the Ray instance this executor started (not one it joined)."""
        if self._started and self.ray.is_initialized():
            self.ray.shutdown()
        self._started = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run_step(self, work: StepWork) -> Iterator[BatchResult]:
        rows = [{"start": b.start, "stop": b.stop, "requests": _encode_requests(b)} for b in work.batches]
        if not rows:
            return
        self._connect()
        from ray.data import ActorPoolStrategy, DataContext

        data_context = DataContext.get_current()
        data_context.enable_progress_bars = False  # progress is the runner's, as for a local run
        data_context.print_on_execution_start = False
        data_context.execution_options.preserve_order = work.ordered
        cpus = self.ray.cluster_resources().get("CPU", 1.0)
        actors = min(len(rows), self.actors or max(1, int(cpus // self.cpus_per_actor)))
        # A Ray task costs tens of milliseconds to schedule and hand back; a step of many cheap batches gives each task
        # several batches (up to 16, while every actor still gets 8 tasks or more). Each batch is still its own row,
        # made with its own seeds and committed on its own.
        per_task = max(1, min(16, len(rows) // (actors * 8)))
        ctx = work.ctx
        if self._versions is None:
            self._versions = Environment.capture().biosynth
        worker_args = {
            "generator": work.generator, "step": ctx.step, "seed": ctx.seed, "root": str(Path(ctx.root).resolve()),
            "policy": ctx.policy.config, "real_data": ctx.real_data, "versions": self._versions,
        }
        with warnings.catch_warnings():
            # Ray 2.60 has no named parameter for `max_task_retries` (its default retries a batch forever when the
            # worker dies each time): it goes as a Ray remote argument, deprecated but honoured until Ray 2.64
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*is deprecated")
            dataset = self.ray.data.from_items(rows).map_batches(
                _BatchWorker, fn_constructor_kwargs=worker_args, batch_size=per_task, batch_format="numpy",
                compute=ActorPoolStrategy(size=actors), num_cpus=self.cpus_per_actor,
                num_gpus=self.gpus_per_actor or None, max_task_retries=self.max_task_retries,
            )
        stats = self.stats.setdefault(ctx.step, StepStats())
        log.info("step %s: %d batches on %d Ray actors, %d batches a task", ctx.step, len(rows), actors, per_task)
        try:
            for row in dataset.iter_rows():
                meta = json.loads(row["meta"])
                if "error" in meta:
                    raise _rebuild(meta["error"])
                stats.nodes.add(meta["node"])
                stats.actors.add((meta["node"], meta["pid"]))
                stats.batches += 1
                shard = bytes(row["shard"])
                yield BatchResult(
                    start=int(row["start"]), stop=int(row["stop"]),
                    encoded=EncodedBatch(produced=tuple(meta["produced"]), shard=shard or None, media=meta["media"],
                                         modalities=meta["modalities"]),
                    failures=[SampleFailure(**f) for f in meta["failures"]],
                    removed=[RemovedEntry.model_validate(r) for r in meta["removed"]],
                    decisions=[PolicyDecision(**d) for d in meta["decisions"]],
                )
        except Exception as err:
            err.add_note(f"biosynth: on Ray ({self.ray.__version__}); finished batches were committed as they came")
            raise
        log.info("step %s: ran on %d Ray actors across %d nodes", ctx.step, len(stats.actors), len(stats.nodes))


def _encode_requests(batch: Batch) -> str:
    return json.dumps([{"index": r.index, "seed": r.seed,
                        "input": r.input.model_dump(mode="json") if r.input is not None else None}
                       for r in batch.requests])


def _check_versions(driver: dict[str, str], node: str) -> None:
    """Refuse to work on a node whose biosynth packages differ from the driver's: the manifest records the driver's
    environment, and every record's provenance must hold for it."""
    worker = {}
    for name in driver:
        try:
            worker[name] = md.version(name)
        except md.PackageNotFoundError:
            worker[name] = "not installed"
    if worker != driver:
        raise DatasetError(f"a Ray worker on node {node} runs other biosynth packages ({worker}) than the driver "
                           f"({driver}); install the same versions on every node")


def _describe(err: BiosynthError) -> dict[str, Any]:
    return {"module": type(err).__module__, "name": type(err).__qualname__, "message": str(err),
            "notes": list(getattr(err, "__notes__", []))}


def _rebuild(error: dict[str, Any]) -> BiosynthError:
    """A worker's user error (a bad parameter, a policy refusal) as the same BiosynthError class on the driver, so
    the CLI reports it as for a local run (exit 2, no traceback). Ray passes exceptions on as text only."""
    cls: type[BiosynthError] = BiosynthError
    if str(error["module"]).startswith("biosynth."):  # only biosynth's own error classes are looked up
        found = getattr(importlib.import_module(error["module"]), error["name"], None)
        if isinstance(found, type) and issubclass(found, BiosynthError):
            cls = found
    try:
        err = cls(error["message"])
    except TypeError:  # a subclass with another constructor
        err = BiosynthError(error["message"])
    for note in error["notes"]:
        err.add_note(note)
    return err


class _BatchWorker:
    """A Ray Data actor: holds the step's generator (and so its loaded models) for every batch it is given."""

    def __init__(self, *, generator: Generator[Any], step: str, seed: int, root: str, policy: PolicyConfig,
                 real_data: bool, versions: dict[str, str]) -> None:
        import ray

        self.generator = generator
        self.root = Path(root)
        self.ctx = StepContext(step=step, seed=seed, root=self.root, policy=Policy(policy),
                               registry=default_registry(), real_data=real_data)
        self.node = ray.get_runtime_context().get_node_id()
        self.versions = versions
        self.reported = 0  # policy decisions already sent to the driver
        self.checked_root = False

    def __call__(self, rows: dict[str, Any]) -> dict[str, list[Any]]:
        if not self.checked_root:  # checked here, not in __init__: Ray retries a failed actor start over and over
            _check_versions(self.versions, self.node)
            if not (self.root / MANIFEST).is_file():
                raise DatasetError(f"the output folder {str(self.root)!r} is not visible on Ray node {self.node}: with "
                                   "--executor ray on several machines, --out must be on storage every node mounts")
            self.checked_root = True
        out: dict[str, list[Any]] = {"start": [], "stop": [], "shard": [], "meta": []}
        for start, stop, encoded in zip(rows["start"], rows["stop"], rows["requests"], strict=True):
            requests = [SampleRequest(index=r["index"], seed=r["seed"],
                                      input=Record.model_validate(r["input"]) if r["input"] is not None else None)
                        for r in json.loads(str(encoded))]
            try:
                result = run_batch(self.generator, Batch(int(start), int(stop), requests), self.ctx)
            except BiosynthError as err:  # a user error: the driver raises it as a local run would
                out["start"].append(int(start))
                out["stop"].append(int(stop))
                out["shard"].append(b"")
                out["meta"].append(json.dumps({"error": _describe(err)}))
                continue
            batch = result.encoded_batch()
            decisions = self.ctx.decisions[self.reported:]
            self.reported = len(self.ctx.decisions)
            out["start"].append(int(start))
            out["stop"].append(int(stop))
            out["shard"].append(batch.shard or b"")
            out["meta"].append(json.dumps({
                "produced": list(batch.produced), "media": batch.media, "modalities": batch.modalities,
                "failures": [{"index": f.index, "reason": f.reason, "attempts": f.attempts} for f in result.failures],
                "removed": [r.model_dump(mode="json") for r in result.removed],
                "decisions": [d.as_dict() for d in decisions], "node": self.node, "pid": os.getpid(),
            }))
        return out
