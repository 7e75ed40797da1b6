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
        # never raises for a shortfall: `.rows` (valid rows), `.failures` (core's SampleFailure: index,
        # reason, attempts), `.requested`, `.failure_reasons` (reason -> count). `sample` wraps it.
        # `conditions`: a string ("diagnosis = X and age > 65"), a mapping
        # ({"diagnosis": "X", "age": {"gt": 65}}) or a Conditions; parsed and checked against the
        # metadata first (unknown column, unseen category, empty range -> ConfigError naming it).
    synth.save(folder, overwrite=False) -> Path       # core's write_model_folder: staged, fsynced, one rename;
                                                      # overwrite replaces only a folder holding biosynth's marker
    MySynthesizer.load(folder) -> MySynthesizer       # core's check_model_folder: kind, format version, sha256
    synth.weights_sha256() -> str                     # core's weights_sha256 of the saved folder (a model fitted
                                                      # in memory is saved to a temporary folder first)

Subclasses set `kind` (the generator name written to `biosynth_model.json`, e.g. "llm_finetuned") and
`format_version`, and implement:

    _fit(self, data: pd.DataFrame, metadata: TableMetadata) -> None
    _sample(self, n: int, conditions: Conditions, seed: int) -> SampleOutcome | pd.DataFrame
        # rows the base re-checks with `check_rows`: a violating row becomes a counted failure,
        # never a returned row. Return a SampleOutcome to report your own failures (with attempts).
    _save(self, folder: Path) -> None                 # write *.json / *.safetensors files only
    @classmethod _load(cls, folder: Path, metadata: TableMetadata) -> Self

The base writes `metadata.json`; core's `write_model_folder` adds the marker `biosynth_model.json`
(`{"kind": kind, "format_version": n, "files": {name: sha256}, ...}`, as for every model biosynth saves)
and refuses any other file type (a pickle, say). Folders written before the marker was shared (key
`"generator"` instead of `"kind"`) still load: core's `read_marker` reads the old key.
"""

from __future__ import annotations

import tempfile
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

from biosynth.core import (
    BiosynthError,
    ComponentKind,
    ComponentSpec,
    ConfigError,
    InputDataError,
    InputFile,
    SampleFailure,
    check_model_folder,
    read_marker,
    weights_sha256,
    write_model_folder,
)
from biosynth.tabular._metadata import TableMetadata, detect_metadata

if TYPE_CHECKING:
    import pandas as pd

    from biosynth.tabular._conditions import Conditions, ConditionsInput

METADATA_FILE = "metadata.json"


class SamplingError(BiosynthError):
    """Fewer valid rows than requested could be sampled; the message gives counts and reasons."""


@dataclass(frozen=True)
class SampleOutcome:
    """Valid rows and counted failures of one `sample_outcome` call."""

    rows: pd.DataFrame
    failures: tuple[SampleFailure, ...] = ()
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
    _folder: Path | None = None  # the folder it was loaded from (its fingerprint), None when fitted in memory

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
        self._folder = None
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
        failures = list(outcome.failures) + [SampleFailure(index=i, reason=r) for i, r in sorted(bad.items())]
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

    def save(self, folder: str | Path, *, overwrite: bool = False) -> Path:
        """Write the model folder atomically: subclass files + metadata.json + biosynth_model.json.

        An existing non-empty `folder` is refused, unless `overwrite` is set and it holds biosynth's marker.
        """
        metadata = self.metadata

        def write(staging: Path) -> dict[str, Any]:
            self._save(staging)
            metadata.save(staging / METADATA_FILE)
            return self._marker_extra()

        return write_model_folder(folder, self.kind, self.format_version, write, replace=overwrite)

    def weights_sha256(self) -> str:
        """The model's fingerprint (core's `weights_sha256`): of the folder it was loaded from, or, for a model
        fitted in memory, of the folder `save` writes (so a model and its saved folder have one fingerprint)."""
        _ = self.metadata  # not fitted: ConfigError
        if self._folder is not None:
            return weights_sha256(self._folder)
        with tempfile.TemporaryDirectory(prefix="biosynth-fingerprint-") as tmp:
            return weights_sha256(self.save(Path(tmp) / "model"))

    @classmethod
    def load(cls, folder: str | Path) -> Self:
        """Load a folder written by `save` of this kind; another generator's or a damaged folder is refused."""
        folder = Path(folder)
        check_model_folder(folder, cls.kind, cls.format_version)
        metadata = TableMetadata.load(folder / METADATA_FILE)
        instance = cls._load(folder, metadata)
        instance._metadata = metadata
        instance._folder = folder
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


def model_kind(folder: str | Path) -> str | None:
    """Which kind of model a biosynth model folder holds (`llm_finetuned`, `halo`, ...), read from its marker."""
    kind = read_marker(folder).get("kind")
    return str(kind) if kind is not None else None


def check_folder_params(params: Mapping[str, Any], kind: str, what: str) -> Path:
    """A saved-model component's params (`{path: FOLDER}`), checked without loading: the folder exists and its
    marker names `kind`. Returns the folder."""
    unknown = sorted(set(params) - {"path"})
    if unknown or "path" not in params:
        raise ConfigError(f"{what}: parameters are {{path: FOLDER}}, got {sorted(params)}")
    folder = Path(str(params["path"]))
    found = model_kind(folder)  # InputDataError naming the folder when absent or unmarked
    if found != kind:
        raise InputDataError(f"{what}: {str(folder)!r} holds a {found!r} model, not {kind!r}")
    return folder


def not_a_folder(value: InputFile | None) -> InputFile | None:
    """A params validator: a table or metadata parameter names a file, so `biosynth validate` refuses a folder."""
    if value is not None and value.path.is_dir():
        raise ValueError(f"{str(value.path)!r} is a folder; expected a table or metadata file")
    return value


def saved_model_spec(value: Any, kind: ComponentKind, backend: str) -> Any:
    """A generator's `model` parameter as a ComponentSpec: the plain path shorthand (`model: models/halo`) and
    `{path: ...}` become `{kind, backend, params: {path}}`; a full spec is kept. Use as a `mode="before"` validator."""
    if isinstance(value, str | Path):
        return {"kind": kind.value, "backend": backend, "params": {"path": str(value)}}
    if isinstance(value, Mapping) and "path" in value and not {"kind", "backend", "params"} & set(value):
        if set(value) - {"path", "real"}:
            raise ValueError(f"a saved model is a folder path or a component spec, got keys {sorted(value)}")
        return {"kind": kind.value, "backend": backend, "params": {"path": str(value["path"])}}
    return value


def check_model_spec(spec: ComponentSpec | None, kind: ComponentKind) -> ComponentSpec | None:
    """Refuse a spec of another kind in a saved-model parameter (e.g. a language model given as a HALO model)."""
    if spec is not None and spec.kind is not kind:
        raise ValueError(f"expected a {kind.value} component (a saved model folder), got a {spec.describe()}")
    return spec
