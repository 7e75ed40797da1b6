"""The runner: executes a recipe step by step in batches, resumable after a crash at any point."""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from biosynth.core._atomic import atomic_path, atomic_write_text, is_temporary
from biosynth.core._components import check_component
from biosynth.core._dedup import Deduplicator
from biosynth.core._errors import DatasetError, InputDataError
from biosynth.core._executors import Executor, LocalExecutor, StepInputs, StepWork, batches
from biosynth.core._generator import Generator, StepContext, generator_class
from biosynth.core._hashing import sha256_file
from biosynth.core._inputs import InputFingerprint, find_input_files
from biosynth.core._journal import WORK_DIR, StepJournal, read_manifest_json
from biosynth.core._manifest import Environment, Manifest, RemovedEntry, StepSummary
from biosynth.core._policy import Policy, PolicyDecision
from biosynth.core._progress import Progress, default_progress
from biosynth.core._recipe import Recipe, Step
from biosynth.core._records import Record
from biosynth.core._registry import Registry, default_registry
from biosynth.core._skips import Missing, missing_component, missing_generator
from biosynth.core._store import RECORD_SCHEMA, read_table

log = logging.getLogger("biosynth")
MANIFEST = "manifest.json"
ROW_GROUP_ROWS = 1024  # rows per row group of records.parquet


@dataclass
class PlannedStep:
    """A step ready to run: its generator built, inputs checked, backends allowed by the policy."""

    step: Step
    generator: Generator[Any]
    seed: int
    inputs: list[tuple[str, InputFingerprint]] = field(default_factory=list)
    decisions: list[PolicyDecision] = field(default_factory=list)

    @property
    def real_data(self) -> bool:
        return any(fp.real for _, fp in self.inputs)


class Plan(list[PlannedStep]):
    """The steps to run, in order; `skipped` names optional steps left out and why."""

    def __init__(self) -> None:
        super().__init__()
        self.skipped: dict[str, str] = {}
        self.requirements: dict[str, str] = {}  # what each skipped step lacks: the distribution (or module) to install


def plan(recipe: Recipe, *, base_dir: Path | None = None, registry: Registry | None = None) -> Plan:
    """Check everything that can be checked without generating: generators, params, files, policy.

    `biosynth validate` runs exactly this. An `optional` step whose generator or a component backend is not
    installed, or cannot be imported, is skipped (with the steps derived from it, which must be optional too);
    `Plan.skipped` says why and `Plan.requirements` what to install.
    """
    registry = registry or default_registry()
    policy = Policy(recipe.policy)
    planned = Plan()
    for step in recipe.order():
        if step.from_ in planned.skipped:
            if not step.optional:
                raise DatasetError(f"step {step.name!r} needs step {step.from_!r}, which is skipped "
                                   f"({planned.skipped[step.from_]}); mark {step.name!r} `optional: true` too, or "
                                   "install what the skipped step needs")
            planned.skipped[step.name] = f"derived from the skipped step {step.from_!r}"
            planned.requirements[step.name] = planned.requirements[step.from_]
            continue
        missing = missing_generator(registry, step.generator) if step.optional else None
        if missing is not None:
            _skip(planned, step, missing)
            continue
        cls = generator_class(registry, step.generator)
        where = f"step {step.name!r} (generator {step.generator!r}) params"
        params = cls.parse_params(step.params, base_dir=base_dir, where=where)
        generator = cls(params)
        if cls.input_required and step.from_ is None:
            raise DatasetError(f"step {step.name!r}: generator {step.generator!r} derives samples from other "
                               "records; give the step `from: <step>`")
        inputs = []
        for parameter, file in find_input_files(generator.params):
            field = f"steps.{step.name}.params.{parameter}"
            file.check(field)
            try:
                inputs.append((parameter, InputFingerprint.of(step.name, parameter, file)))
            except OSError as err:  # e.g. no permission to read it
                raise InputDataError(f"input file {str(err.filename or file.path)!r} (parameter `{field}`) cannot be "
                                     f"read ({err.strerror or err})") from None
        entry = PlannedStep(step=step, generator=generator, seed=recipe.step_seed(step), inputs=inputs)
        lacking = [m for _, spec in generator.components() if step.optional and (m := missing_component(registry, spec))]
        if lacking:
            _skip(planned, step, lacking[0])
            continue
        for _, spec in generator.components():
            remote = check_component(registry, spec)
            entry.decisions.append(policy.check(step=step.name, backend=spec.backend, remote=remote,
                                                real_data=entry.real_data, kind=spec.kind.value))
        planned.append(entry)
    return planned


def _skip(planned: Plan, step: Step, missing: Missing) -> None:
    planned.skipped[step.name] = missing.reason
    planned.requirements[step.name] = missing.requirement
    log.info("skipping optional step %r: %s", step.name, missing.reason)


class Runner:
    """Run a recipe into a dataset folder.

    Each batch is committed atomically to a journal under `<out>/.work/`; `resume=True` continues an
    interrupted run (same recipe and seed) from its committed batches. When every step is done the
    journal is merged into `records.parquet` and the manifest is marked complete.
    """

    def __init__(self, recipe: Recipe, out: str | Path, *, base_dir: Path | None = None,
                 registry: Registry | None = None, resume: bool = False, progress: Progress | None = None,
                 executor: Executor | None = None) -> None:
        self.recipe = recipe
        self.root = Path(out)
        self.base_dir = base_dir
        self.registry = registry or default_registry()
        self.resume = resume
        self.progress = progress or default_progress()
        self.executor: Executor = executor or LocalExecutor()  # where batches run; planning and commits stay here

    def run(self) -> Manifest:
        planned = plan(self.recipe, base_dir=self.base_dir, registry=self.registry)
        try:
            created_root = not self.root.exists()
        except OSError as err:  # e.g. a name longer than the file system allows
            raise self._unusable(err) from None
        started = not (self.root / MANIFEST).exists()  # this call starts the run (it writes the manifest)
        manifest = self._open_output(planned)
        if manifest.status == "complete":
            log.info("dataset in %s is already complete; nothing to do", self.root)
            return manifest
        try:
            for entry in planned:
                self._run_step(entry, manifest)
        except BaseException as err:
            if started and not any(StepJournal(self.root, entry.step.name).commits() for entry in planned):
                self._discard(created_root)  # nothing was finished: a failed run leaves nothing behind
                err.add_note(f"biosynth: no batch was finished, so nothing was kept in {str(self.root)!r}")
            else:
                err.add_note(f"biosynth: finished batches are kept in {str(self.root)!r}: rerun with --resume to "
                             "continue")
            raise
        return self._finalize(manifest, planned)

    def _discard(self, created_root: bool) -> None:
        """Remove what this run wrote (its manifest and journal), and the folder itself if the run created it."""
        shutil.rmtree(self.root / WORK_DIR, ignore_errors=True)
        (self.root / MANIFEST).unlink(missing_ok=True)
        shutil.rmtree(self.root / "media", ignore_errors=True)  # the folder was empty when this run started
        if created_root:
            with contextlib.suppress(OSError):  # only when empty: never removes a file biosynth did not write
                self.root.rmdir()

    # -- output folder -------------------------------------------------------------------------
    def _unusable(self, err: OSError) -> DatasetError:
        return DatasetError(f"output folder {str(self.root)!r} cannot be created ({err.strerror or err}); choose "
                            "another --out folder")

    def _open_output(self, planned: Plan) -> Manifest:
        fingerprint = self.recipe.fingerprint()
        if self.root.exists() and not self.root.is_dir():
            raise DatasetError(f"output {str(self.root)!r} is a file; expected a folder for the dataset")
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise self._unusable(err) from None
        manifest_path = self.root / MANIFEST
        if manifest_path.exists():
            existing = read_manifest_json(manifest_path)
            if existing.get("recipe_sha256") != fingerprint:
                name = (existing.get("recipe") or {}).get("name") if isinstance(existing.get("recipe"), dict) else None
                raise DatasetError(
                    f"output folder {str(self.root)!r} holds a different dataset (recipe {name!r}, seed "
                    f"{existing.get('seed')}, sha256 {str(existing.get('recipe_sha256'))[:12]}…), not this recipe "
                    f"({self.recipe.name!r}, seed {self.recipe.seed}); choose another --out folder"
                )
            if not self.resume:
                state = "a complete" if existing.get("status") == "complete" else "an unfinished"
                raise DatasetError(
                    f"output folder {str(self.root)!r} already holds {state} run of this recipe; "
                    "pass --resume to continue it, or choose another --out folder"
                )
            manifest = Manifest.model_validate(existing)
            for leftover in self.root.iterdir():  # biosynth's folder (its manifest): an interrupted write's leftovers
                if is_temporary(leftover) and leftover.is_file():
                    leftover.unlink()
            log.info("resuming the run in %s", self.root)
            now = Environment.capture().biosynth
            if now != manifest.environment.biosynth:
                log.warning("biosynth versions changed since this run started (%s, now %s); records made before "
                            "and after the change may not be comparable", manifest.environment.biosynth, now)
            return manifest
        if any(self.root.iterdir()):
            raise DatasetError(
                f"output folder {str(self.root)!r} is not empty and holds no biosynth dataset "
                f"({MANIFEST} is missing); choose an empty or new folder"
            )
        manifest = Manifest(
            recipe_sha256=fingerprint, recipe=self.recipe.resolved(), seed=self.recipe.seed,
            skipped_steps=dict(planned.skipped), skipped_requirements=dict(planned.requirements),
            environment=Environment.capture(),
            inputs=[fp for entry in planned for _, fp in entry.inputs],
            policy_decisions=[d.as_dict() for entry in planned for d in entry.decisions],
        )
        self._save(manifest)
        return manifest

    def _save(self, manifest: Manifest) -> None:
        manifest.updated_at = datetime.now(UTC)
        atomic_write_text(self.root / MANIFEST, manifest.model_dump_json(indent=2, by_alias=True) + "\n")

    # -- steps ---------------------------------------------------------------------------------
    def _inputs_for(self, step: Step) -> StepInputs | None:
        return None if step.from_ is None else StepInputs(self.root, step.from_, step.take)  # streamed, not loaded

    def _run_step(self, entry: PlannedStep, manifest: Manifest) -> None:
        step, generator = entry.step, entry.generator
        inputs = self._inputs_for(step)
        requested = step.count if inputs is None else inputs.count * step.per_input
        assert requested is not None
        journal = StepJournal(self.root, step.name)
        commits = journal.commits()
        ctx = StepContext(step=step.name, seed=entry.seed, root=self.root, policy=Policy(self.recipe.policy),
                          registry=self.registry, real_data=entry.real_data)
        done = sum(c.stop - c.start for c in commits.values())
        dedup = None
        if step.deduplicate is not None:
            dedup = Deduplicator(step.deduplicate)
            for _, kept in journal.iter_records():  # batches already committed (on --resume), in index order
                dedup.keep(kept)
        self.progress.start_step(step.name, requested, done)
        pending = batches(entry.seed, requested, step.batch_size, step.per_input, set(commits), inputs)
        work = StepWork(generator, ctx, pending, total=requested, ordered=dedup is not None)
        try:
            for result in self.executor.run_step(work):  # the executor decides only where batches run
                ctx.decisions += [d for d in result.decisions if d not in ctx.decisions]  # made on a worker
                failures, removed = result.failures, result.removed  # removed: the generator's own removals
                if dedup is None:
                    journal.commit_encoded(result.start, result.stop, result.encoded_batch(), failures, removed)
                    produced = result.produced
                else:
                    records, duplicates = _deduplicate(dedup, result.record_list())
                    removed = sorted(removed + duplicates, key=lambda r: r.index)
                    journal.commit(result.start, result.stop, records, failures, removed)
                    produced = len(records)
                self.progress.advance(produced, len(failures) + len(removed))
        finally:
            self.progress.end_step()
        manifest.steps[step.name] = self._summary(entry, journal, requested)
        known = {(d["step"], d.get("kind", "language_model"), d["backend"]) for d in manifest.policy_decisions}
        manifest.policy_decisions += [d.as_dict() for d in ctx.decisions if (d.step, d.kind, d.backend) not in known]
        self._save(manifest)

    @staticmethod
    def _summary(entry: PlannedStep, journal: StepJournal, requested: int) -> StepSummary:
        failures = journal.failures()  # counts come from the commit files: no shard is read again
        removed = journal.removed()
        summary = None
        if type(entry.generator).summarize is not Generator.summarize:  # only then are the shards read again
            summary = entry.generator.summarize([record for _, record in journal.records()])
        return StepSummary(summary=summary,
            generator=entry.step.generator, generator_version=entry.generator.version(),
            requested=requested, produced=journal.produced(), failed=len(failures),
            failure_reasons=dict(Counter(f.reason for f in failures).most_common()),
            failures=failures, removed=len(removed), removal_reasons=dict(Counter(r.reason for r in removed)),
            removed_samples=removed, modalities=journal.modalities(),
        )

    # -- finish --------------------------------------------------------------------------------
    def _finalize(self, manifest: Manifest, planned: list[PlannedStep]) -> Manifest:
        target = self.root / manifest.records_file
        media: dict[str, str] = {}
        with atomic_path(target) as tmp:
            with pq.ParquetWriter(tmp, RECORD_SCHEMA, compression="zstd") as writer:
                pending: list[pa.Table] = []  # shards gathered into row groups of ROW_GROUP_ROWS: a writer keeps
                for entry in planned:  # ~30 KB per row group until it closes, so a row group per shard grew with size
                    journal = StepJournal(self.root, entry.step.name)
                    media.update(journal.media())
                    for shard in journal.shard_paths():
                        pending.append(read_table(shard))
                        if sum(t.num_rows for t in pending) >= ROW_GROUP_ROWS:
                            writer.write_table(pa.concat_tables(pending))
                            pending = []
                if pending:
                    writer.write_table(pa.concat_tables(pending))
        self._remove_orphan_media(media)
        manifest.status = "complete"
        manifest.records_sha256 = sha256_file(target)
        manifest.media = dict(sorted(media.items()))
        manifest.schema_ = {
            "records": {f.name: str(f.type) for f in RECORD_SCHEMA},
            "steps": {name: sorted(s.modalities) for name, s in manifest.steps.items()},
        }
        self._save(manifest)
        shutil.rmtree(self.root / WORK_DIR, ignore_errors=True)
        log.info("done: %d requested, %d produced, %d failed -> %s",
                 manifest.requested, manifest.produced, manifest.failed, self.root)
        return manifest

    def _remove_orphan_media(self, referenced: dict[str, str]) -> None:
        media_root = self.root / "media"
        if not media_root.exists():
            return
        for path in media_root.rglob("*"):
            if path.is_file() and path.relative_to(self.root).as_posix() not in referenced:
                path.unlink()  # written by a batch that never committed


def _deduplicate(dedup: Deduplicator, records: list[tuple[int, Record]]
                 ) -> tuple[list[tuple[int, Record]], list[RemovedEntry]]:
    kept: list[tuple[int, Record]] = []
    removed: list[RemovedEntry] = []
    for index, record in records:  # index order: the first of a group of duplicates is kept
        duplicate = dedup.check(record)
        if duplicate is None:
            dedup.keep(record)
            kept.append((index, record))
        else:
            removed.append(RemovedEntry(index=index, reason=duplicate.reason, duplicate_of=duplicate.duplicate_of,
                                        similarity=duplicate.similarity))
    return kept, removed


def run_recipe(recipe: Recipe, out: str | Path, **kwargs: Any) -> Manifest:
    """Run `recipe` into `out` (see `Runner`)."""
    return Runner(recipe, out, **kwargs).run()
