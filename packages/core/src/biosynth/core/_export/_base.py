"""The exporter protocol: find an exporter by format name, check the dataset and the target, stage, stamp, rename.

Writing an exporter (for the authors of biosynth-* packages)
-----------------------------------------------------------
1. Subclass `Exporter` and set the class attributes:

   - `format`: the name users pass to `biosynth export DATASET --to FORMAT`; register the class under the
     same name in your pyproject: ``[project.entry-points."biosynth.exporters"] FORMAT = "pkg.mod:Class"``;
   - `description`: one line for listings and errors;
   - `format_version`: an int, bumped when the layout you write changes;
   - `requires`: import names of optional libraries you need (e.g. ``("datasets",)``), checked before any
     work, and `extra`: the pip requirement that installs them (``"biosynth-eval[hf]"``); a missing one is an
     ExportError saying ``pip install '<extra>'``. Import those libraries inside `_export`, never at the
     top of the module, so the registry can list the exporter without them;
   - `Options`: a frozen `ExportOptions` subclass (pydantic, extra fields forbidden). The CLI's repeated
     ``-O key=value`` fills it (strings, coerced by pydantic); bad options are an ExportError naming them.

2. Implement `_export(self, ctx: ExportContext) -> dict[str, Any]`. Write files under `ctx.staging` (an
   empty folder that becomes `--out` only when you return). Read records with `ctx.records()` /
   `ctx.cases()`, media with `ctx.media_path(ref)`, identifiers with `ctx.key` and the functions in
   `_identifiers` (`imaging_uids`, `resource_uuid`, `derived_uid`), report progress with `ctx.advance(n)`
   after `ctx.start(total)` (shown in about 20 steps). Return JSON-able facts (counts, notes); they are stamped
   into the marker.
   Raise `ExportError` for input you cannot export (name the record id and field and what was expected);
   never skip a record silently: count what you leave out and why in the returned facts.

3. Do not override `export`: it checks the optional libraries, that the dataset is complete and its files
   match their sha256, and that `--out` is new, empty or an earlier biosynth export (`--overwrite`); then it
   calls `_export` on a staging folder, writes `biosynth_export.json` (format, options, the dataset's
   manifest identity, every file's sha256, your facts, software versions) and renames the folder into place.
   A failed export leaves `--out` as it was.

Tests: subclass nothing special; export a small dataset made by `run_recipe` and read the result back with an
independent reader (see packages/core/tests/export/).
"""

from __future__ import annotations

import importlib.metadata as md
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from biosynth.core._dataset import MANIFEST, SyntheticDataset
from biosynth.core._errors import DatasetError
from biosynth.core._export._folder import EXPORT_MARKER, ExportError, check_export_target, publish, staging_folder
from biosynth.core._export._identifiers import dataset_key
from biosynth.core._hashing import sha256_file
from biosynth.core._manifest import software_versions
from biosynth.core._progress import Progress, default_progress
from biosynth.core._records import MediaRef, Record
from biosynth.core._registry import Group, Registry, biosynth_distributions, default_registry
from biosynth.core._requirements import missing_modules
from biosynth.core._validation import describe_validation_error

MARKER_FORMAT_VERSION = 1


class ExportOptions(BaseModel):
    """Options of an exporter (subclass it; fields need defaults so `--to FORMAT` alone works)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


@dataclass(frozen=True)
class ExportResult:
    format: str
    out: Path
    files: dict[str, str]
    facts: dict[str, Any]


@dataclass
class ExportContext:
    """What `_export` works with: the dataset, the staging folder, the options, the identity key, progress."""

    dataset: SyntheticDataset
    staging: Path
    options: ExportOptions
    key: str
    format: str
    progress: Progress
    _records: list[Record] | None = field(default=None, repr=False)
    _pending: tuple[int, int] = field(default=(0, 0), repr=False)
    _every: int = field(default=1, repr=False)

    def records(self) -> list[Record]:
        """Every record of the dataset, in the records file's order (read once)."""
        if self._records is None:
            self._records = self.dataset.records()
        return self._records

    def cases(self) -> dict[str, list[Record]]:
        """Records grouped by `case_id`, cases and records in the records file's order."""
        grouped: dict[str, list[Record]] = {}
        for record in self.records():
            grouped.setdefault(record.case_id, []).append(record)
        return grouped

    def media_path(self, ref: MediaRef) -> Path:
        """The file a MediaRef names inside the dataset (its sha256 was checked before `_export`)."""
        path = self.dataset.root / ref.path
        if not path.is_file():
            raise ExportError(f"media file {ref.path!r} is missing from {str(self.dataset.root)!r}")
        return path

    def start(self, total: int) -> None:
        """Begin progress over `total` items; `advance` reports them in about 20 steps (one log line each)."""
        self._every = max(1, total // 20)
        self.progress.start_step(f"export {self.format}", total, 0)

    def advance(self, done: int = 1, failed: int = 0) -> None:
        self._pending = (self._pending[0] + done, self._pending[1] + failed)
        if sum(self._pending) >= self._every:
            self.flush()

    def flush(self) -> None:
        if sum(self._pending):
            self.progress.advance(*self._pending)
            self._pending = (0, 0)


class Exporter:
    """Base class of every exporter; see the module documentation for the contract."""

    format: ClassVar[str]
    description: ClassVar[str] = ""
    format_version: ClassVar[int] = 1
    requires: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str | None] = None
    Options: ClassVar[type[ExportOptions]] = ExportOptions

    def __init__(self, options: ExportOptions | Mapping[str, Any] | None = None) -> None:
        if isinstance(options, ExportOptions):
            if not isinstance(options, self.Options):
                raise ExportError(f"{self.format} export: options must be {self.Options.__name__}, "
                                  f"got {type(options).__name__}")
            self.options = options
            return
        try:
            self.options = self.Options.model_validate(dict(options or {}))
        except ValidationError as err:
            raise ExportError(describe_validation_error(err, what=f"{self.format} export options")) from None

    def export(self, dataset: SyntheticDataset | str | Path, out: str | Path, *, overwrite: bool = False,
               progress: Progress | None = None) -> ExportResult:
        """Export `dataset` into the folder `out` (see the module documentation); returns files and facts."""
        self.check_requirements()
        ds = dataset if isinstance(dataset, SyntheticDataset) else _open_dataset(dataset)
        if not ds.complete:
            raise ExportError(f"dataset {str(ds.root)!r} is unfinished (status {ds.manifest.status!r}); finish it "
                              "with `biosynth run ... --resume` before exporting")
        problems = ds.verify()
        if problems:
            raise ExportError(f"dataset {str(ds.root)!r} is damaged: " + "; ".join(problems))
        target = check_export_target(out, overwrite=overwrite, dataset_root=ds.root)
        progress = progress or default_progress()
        with staging_folder(target) as staging:
            ctx = ExportContext(dataset=ds, staging=staging, options=self.options, key=dataset_key(ds.manifest),
                                format=self.format, progress=progress)
            try:
                facts = dict(self._export(ctx) or {})
                ctx.flush()
            finally:
                progress.end_step()
            marker = publish(staging, target, lambda files: self._marker(ds, files, facts))
        return ExportResult(format=self.format, out=target, files=marker["files"], facts=facts)

    def _export(self, ctx: ExportContext) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def check_requirements(cls) -> None:
        """An ExportError naming the extra to install when an optional library is missing."""
        missing = missing_modules(*cls.requires)
        if missing:
            hint = f"pip install '{cls.extra}'" if cls.extra else f"pip install {' '.join(missing)}"
            raise ExportError(f"the {cls.format!r} exporter needs {', '.join(missing)}, which is not installed: "
                              f"{hint}")

    def _marker(self, ds: SyntheticDataset, files: dict[str, str], facts: dict[str, Any]) -> dict[str, Any]:
        manifest = ds.manifest
        return {
            "marker": "biosynth-export", "marker_version": MARKER_FORMAT_VERSION,
            "format": self.format, "format_version": self.format_version,
            "exporter": f"{type(self).__module__}:{type(self).__qualname__}",
            "options": self.options.model_dump(mode="json"),
            "dataset": {
                "path": str(ds.root.resolve()), "recipe": manifest.recipe.get("name"),
                "recipe_sha256": manifest.recipe_sha256, "seed": manifest.seed,
                "manifest_sha256": sha256_file(ds.root / MANIFEST), "records_file": manifest.records_file,
                "records_sha256": manifest.records_sha256, "produced": manifest.produced,
            },
            "files": files, "facts": facts,
            "software": {**biosynth_distributions(), **software_versions(_distributions(self.requires))},
            "exported_at": datetime.now(UTC).isoformat(),
        }


def _distributions(modules: tuple[str, ...]) -> list[str]:
    """The distributions that provide `modules` (import names), for the marker's software versions."""
    provided = md.packages_distributions()
    return sorted({dist for module in modules for dist in provided.get(module.split(".")[0], [module])})


def _open_dataset(path: str | Path) -> SyntheticDataset:
    try:
        return SyntheticDataset(path)
    except DatasetError as err:
        raise ExportError(str(err)) from None


def exporter_names(registry: Registry | None = None) -> list[str]:
    return (registry or default_registry()).names(Group.EXPORTERS)


def get_exporter(format: str, options: Mapping[str, Any] | None = None, *,
                 registry: Registry | None = None) -> Exporter:
    """The exporter registered as `format` (entry-point group `biosynth.exporters`), built with `options`."""
    registry = registry or default_registry()
    cls = registry.get(Group.EXPORTERS, format)  # unknown -> RegistryError listing what is installed
    if not (isinstance(cls, type) and issubclass(cls, Exporter)):
        raise ExportError(f"exporter {format!r} is {cls!r}, not a biosynth Exporter subclass")
    return cls(options)


def export_dataset(dataset: SyntheticDataset | str | Path, format: str, out: str | Path, *,
                   options: Mapping[str, Any] | None = None, overwrite: bool = False,
                   progress: Progress | None = None, registry: Registry | None = None) -> ExportResult:
    """Export `dataset` to `format` in the folder `out` (what `biosynth export` runs)."""
    return get_exporter(format, options, registry=registry).export(dataset, out, overwrite=overwrite,
                                                                   progress=progress)


__all__ = ["EXPORT_MARKER", "ExportContext", "ExportError", "ExportOptions", "ExportResult",
           "Exporter", "export_dataset", "exporter_names", "get_exporter"]
