"""`Synthesizer`: the base class of biosynth's learned table generators, in SDV's vocabulary.

API (stable; subclasses: `llm_finetuned`, the SDV adapters, ...)::

    synth = MySynthesizer(...)                       # configuration only (frozen pydantic models advised)
    synth.fit(data: pd.DataFrame, metadata: TableMetadata | None = None) -> Self
        # metadata None -> detect_metadata(data); else every metadata column must be in `data`
        # (extra data columns are refused, naming them) and every row must pass `check_rows`.
        # Then `_fit(data[metadata.names], metadata)`.
    synth.metadata -> TableMetadata                  # ConfigError before fit/load
    synth.sample(n, conditions=None, *, seed=0) -> pd.DataFrame
        # exactly `n` rows, columns in metadata order, each satisfying the metadata (types, ranges,
        # categories, constraints) and the conditions; raises SamplingError (a BiosynthError) with
        # counts and reasons when fewer than `n` valid rows could be made.
    synth.sample_outcome(n, conditions=None, *, seed=0) -> SampleOutcome
        # never raises for a shortfall: `.rows` (valid rows), `.failures` (RowFailure: index, reason,
        # attempts), `.requested`, `.failure_reasons` (reason -> count). `sample` wraps it.
        # `conditions`: a string ("diagnosis = X and age > 65"), a mapping
        # ({"diagnosis": "X", "age": {"gt": 65}}) or a Conditions; parsed and checked against the
        # metadata first (unknown column, unseen category, empty range -> ConfigError naming it).
    synth.save(folder) -> Path                        # atomic: staging folder, then rename
    MySynthesizer.load(folder) -> MySynthesizer       # marker, kind, format version, sha256 checked

Subclasses set `kind` (the generator name written to `biosynth_model.json`, e.g. "llm_finetuned") and
`format_version`, and implement:

    _fit(self, data: pd.DataFrame, metadata: TableMetadata) -> None
    _sample(self, n: int, conditions: Conditions, seed: int) -> SampleOutcome | pd.DataFrame
        # rows the base re-checks with `check_rows`: a violating row becomes a counted failure,
        # never a returned row. Return a SampleOutcome to report your own failures (with attempts).
    _save(self, folder: Path) -> None                 # write *.json / *.safetensors files only
    @classmethod _load(cls, folder: Path, metadata: TableMetadata) -> Self

The base writes `metadata.json` and the marker `biosynth_model.json`
(`{"generator": kind, "format_version": n, "files": {name: sha256}, ...}`, the same marker HALO
writes); any other file type in a save (a pickle, say) is refused. `read_marker(folder)` tells which
generator wrote a folder; `write_model_folder` / `check_model_folder` are the shared save/load steps.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

from biosynth.core import BiosynthError, ConfigError, InputDataError, sha256_file
from biosynth.tabular._metadata import TableMetadata, detect_metadata

if TYPE_CHECKING:
    import pandas as pd

    from biosynth.tabular._conditions import Conditions, ConditionsInput

MARKER = "biosynth_model.json"
METADATA_FILE = "metadata.json"
ALLOWED_SUFFIXES = (".json", ".safetensors")


class SamplingError(BiosynthError):
    """Fewer valid rows than requested could be sampled; the message gives counts and reasons."""


@dataclass(frozen=True)
class RowFailure:
    """A requested row that could not be made valid: why, after how many attempts."""

    index: int
    reason: str
    attempts: int = 1


@dataclass(frozen=True)
class SampleOutcome:
    """Valid rows and counted failures of one `sample_outcome` call."""

    rows: pd.DataFrame
    failures: tuple[RowFailure, ...] = ()
    requested: int = 0
    attempts: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def failure_reasons(self) -> dict[str, int]:
        return dict(Counter(f.reason for f in self.failures).most_common())


class Synthesizer(ABC):
    """Base of learned table generators: `fit`, `sample`, `save`, `load` (see the module docstring)."""

    kind: ClassVar[str]
    format_version: ClassVar[int] = 1

    _metadata: TableMetadata | None = None

    # public API ----------------------------------------------------------------------------------
    @property
    def metadata(self) -> TableMetadata:
        if self._metadata is None:
            raise ConfigError(f"{type(self).__name__} is not fitted: call fit(data) or load(folder) first")
        return self._metadata

    @property
    def fitted(self) -> bool:
        return self._metadata is not None

    def fit(self, data: pd.DataFrame, metadata: TableMetadata | None = None) -> Self:
        """Learn from `data` (a DataFrame); metadata is detected when not given."""
        import pandas as pd

        if not isinstance(data, pd.DataFrame):
            raise InputDataError(f"{type(self).__name__}.fit takes a pandas DataFrame, got {type(data).__name__}")
        if metadata is None:
            metadata = detect_metadata(data)
        else:
            data = _columns_for(data, metadata)
            if len(data) < 2:
                raise InputDataError(f"table {metadata.table!r} has {len(data)} row(s); at least 2 are needed to fit")
            from biosynth.tabular._constraints import check_rows

            broken = check_rows(data, metadata)
            if broken:
                raise InputDataError(f"the data breaks its metadata in {len(broken)} place(s); first: {broken[0]}")
        self._fit(data[list(metadata.names)], metadata)
        self._metadata = metadata
        return self

    def sample_outcome(self, n: int, conditions: ConditionsInput = None, *, seed: int = 0) -> SampleOutcome:
        """Sample `n` rows; invalid ones are counted as failures with reasons, never returned."""
        import pandas as pd

        from biosynth.tabular._conditions import parse_conditions
        from biosynth.tabular._constraints import check_rows

        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigError(f"n must be a non-negative integer, got {n!r}")
        if seed < 0:
            raise ConfigError(f"seed must be non-negative, got {seed}")
        metadata = self.metadata
        parsed = parse_conditions(conditions, metadata)
        produced = self._sample(n, parsed, seed)
        outcome = produced if isinstance(produced, SampleOutcome) else SampleOutcome(rows=produced, requested=n)
        rows = outcome.rows
        missing = [c for c in metadata.names if c not in rows.columns]
        if missing:
            raise RuntimeError(f"{type(self).__name__}._sample returned no column(s) {missing}")
        rows = rows[list(metadata.names)].reset_index(drop=True)
        bad: dict[int, str] = {}
        for violation in check_rows(rows, metadata):
            bad.setdefault(violation.row, str(violation))
        for i, row in enumerate(rows.to_dict("records")):
            unmet = parsed.unmet(row)
            if unmet and i not in bad:
                bad[i] = f"condition not met: {unmet[0]}"
        failures = list(outcome.failures) + [RowFailure(index=i, reason=r) for i, r in sorted(bad.items())]
        kept = rows.drop(index=list(bad)).reset_index(drop=True) if bad else rows
        if len(kept) > n:
            raise RuntimeError(f"{type(self).__name__}._sample returned {len(kept)} rows for n={n}")
        return SampleOutcome(rows=pd.DataFrame(kept), failures=tuple(failures), requested=n,
                             attempts=outcome.attempts or n, extra=dict(outcome.extra))

    def sample(self, n: int, conditions: ConditionsInput = None, *, seed: int = 0) -> pd.DataFrame:
        """Exactly `n` valid rows (SDV's `sample`), or SamplingError with the failure counts."""
        outcome = self.sample_outcome(n, conditions, seed=seed)
        if len(outcome.rows) < n:
            reasons = "; ".join(f"{count}x {reason}" for reason, count in list(outcome.failure_reasons.items())[:5])
            raise SamplingError(f"{type(self).__name__} produced {len(outcome.rows)} valid rows of {n} requested "
                                f"({len(outcome.failures)} failed: {reasons or 'no reason reported'}); "
                                "use sample_outcome() to keep the valid rows")
        return outcome.rows

    def save(self, folder: str | Path) -> Path:
        """Write the model folder atomically: subclass files + metadata.json + biosynth_model.json."""
        metadata = self.metadata

        def write(staging: Path) -> dict[str, Any]:
            self._save(staging)
            metadata.save(staging / METADATA_FILE)
            return self._marker_extra()

        return write_model_folder(folder, self.kind, self.format_version, write)

    @classmethod
    def load(cls, folder: str | Path) -> Self:
        """Load a folder written by `save` of this kind; another generator's or a damaged folder is refused."""
        folder = Path(folder)
        check_model_folder(folder, cls.kind, cls.format_version)
        metadata = TableMetadata.load(folder / METADATA_FILE)
        instance = cls._load(folder, metadata)
        instance._metadata = metadata
        return instance

    # subclass hooks ------------------------------------------------------------------------------
    @abstractmethod
    def _fit(self, data: pd.DataFrame, metadata: TableMetadata) -> None: ...

    @abstractmethod
    def _sample(self, n: int, conditions: Conditions, seed: int) -> SampleOutcome | pd.DataFrame: ...

    @abstractmethod
    def _save(self, folder: Path) -> None: ...

    @classmethod
    @abstractmethod
    def _load(cls, folder: Path, metadata: TableMetadata) -> Self: ...

    def _marker_extra(self) -> dict[str, Any]:
        """Extra JSON facts for the marker (training steps, final loss, ...)."""
        return {}


def _columns_for(data: pd.DataFrame, metadata: TableMetadata) -> pd.DataFrame:
    names = [str(c) for c in data.columns]
    missing = [c for c in metadata.names if c not in names]
    if missing:
        raise InputDataError(f"data lacks column(s) {missing} named in the metadata of table {metadata.table!r}")
    extra = [c for c in names if c not in metadata.names]
    if extra:
        raise InputDataError(f"data has column(s) {extra} that the metadata of table {metadata.table!r} "
                             "does not describe; add them to the metadata or drop them")
    return data.rename(columns=str)


# the model folder (shared with HALO's layout) ----------------------------------------------------
def write_model_folder(folder: str | Path, kind: str, format_version: int,
                       write: Callable[[Path], Mapping[str, Any] | None]) -> Path:
    """Create `folder` atomically: `write(staging)` fills a staging folder, then the marker is added.

    Only JSON and safetensors files are allowed (no pickle); the marker records each file's sha256.
    """
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigError(f"model folder {str(folder)!r} already exists and is not empty; choose a new folder")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        extra = dict(write(staging) or {})
        files: dict[str, str] = {}
        for path in sorted(staging.rglob("*")):
            if path.is_dir():
                continue
            name = path.relative_to(staging).as_posix()
            if name == MARKER:
                raise RuntimeError(f"{kind}: a save may not write {MARKER} itself")
            if path.suffix not in ALLOWED_SUFFIXES:
                raise RuntimeError(f"{kind}: refusing to save {name!r}; model folders hold JSON and safetensors only")
            files[name] = sha256_file(path)
        marker = {**extra, "generator": kind, "format_version": format_version, "files": files}
        (staging / MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n")
        if folder.exists():
            folder.rmdir()
        staging.rename(folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return folder


def read_marker(folder: str | Path) -> dict[str, Any]:
    """The marker of a model folder (`generator`, `format_version`, `files`), or InputDataError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputDataError(f"model folder {str(folder)!r} does not exist or is not a folder")
    marker_path = folder / MARKER
    if not marker_path.is_file():
        raise InputDataError(f"{str(folder)!r} holds no biosynth model: {MARKER} is missing")
    try:
        marker = json.loads(marker_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputDataError(f"{str(marker_path)!r} is not valid JSON: {err}") from None
    if not isinstance(marker, dict):
        raise InputDataError(f"{str(marker_path)!r} must hold a JSON object")
    return marker


def check_model_folder(folder: str | Path, kind: str, format_version: int) -> dict[str, Any]:
    """Check the marker names `kind` and `format_version` and every listed file's sha256; return it."""
    folder = Path(folder)
    marker = read_marker(folder)
    marker_path = folder / MARKER
    if marker.get("generator") != kind:
        raise InputDataError(f"{str(marker_path)!r} describes a model of generator {marker.get('generator')!r}, "
                             f"not {kind!r}")
    if marker.get("format_version") != format_version:
        raise InputDataError(f"{str(marker_path)!r}: format_version {marker.get('format_version')!r} is not "
                             f"supported (expected {format_version})")
    files = marker.get("files")
    if not isinstance(files, dict) or not files:
        raise InputDataError(f"{str(marker_path)!r}: 'files' must map file names to sha256")
    for name, expected in files.items():
        path = folder / str(name)
        if Path(str(name)).suffix not in ALLOWED_SUFFIXES or ".." in Path(str(name)).parts:
            raise InputDataError(f"{str(marker_path)!r} lists {name!r}; only JSON and safetensors files are loaded")
        if not path.is_file():
            raise InputDataError(f"model file {str(path)!r} is missing")
        if sha256_file(path) != expected:
            raise InputDataError(f"model file {str(path)!r} is corrupted: its sha256 differs from the one "
                                 f"recorded in {MARKER}")
    return marker
