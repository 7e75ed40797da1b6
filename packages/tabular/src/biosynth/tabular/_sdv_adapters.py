"""SDV baselines (GaussianCopula, CTGAN, TVAE) behind biosynth's `Synthesizer` and the `sdv` generator.

Optional extra `biosynth-tabular[sdv]`. SDV is under the Business Source License 1.1 (not an open-source
licence): check it allows your use before installing the extra.

Seeds: SDV has no public seed argument. Fitting runs under seeded numpy / random / torch states (restored
afterwards); sampling first calls `reset_sampling()` (SDV's "state right after fitting") and then sets the
model's random state to our seed through `_set_random_state`, the hook SDV itself uses for its fixed seed
73251 — so the same seed gives the same rows.

Saving: SDV models are pickled objects and biosynth neither writes nor loads pickles, so `save` / `load`
raise a ConfigError; fitting is seeded and deterministic, so refit from the data instead.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from biosynth.core import (
    ConfigError,
    Draft,
    GenerationError,
    Generator,
    GeneratorParams,
    InputFile,
    ModelRef,
    SampleFailure,
    SampleRequest,
    StepContext,
    Strategy,
    TableRowPayload,
    Validation,
    derive_seed,
    sha256_file,
)
from biosynth.tabular._conditions import Conditions, parse_conditions
from biosynth.tabular._metadata import ColumnType, TableMetadata
from biosynth.tabular._synthesizer import SampleOutcome, Synthesizer, not_a_folder

if TYPE_CHECKING:
    import pandas as pd

SdvKind = Literal["gaussian_copula", "ctgan", "tvae"]
_CLASSES = {"gaussian_copula": "GaussianCopulaSynthesizer", "ctgan": "CTGANSynthesizer", "tvae": "TVAESynthesizer"}
LICENSE = "BUSL-1.1"


class SdvConfig(BaseModel):
    """Which SDV synthesizer and its few knobs (epochs for CTGAN / TVAE)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    synthesizer: SdvKind = "gaussian_copula"
    epochs: int | None = Field(None, ge=1, description="CTGAN / TVAE training epochs (SDV's default: 300)")
    batch_size: int | None = Field(None, ge=10, description="CTGAN / TVAE batch size (a multiple of 10)")
    seed: int = Field(0, ge=0, description="seed of the fit")
    max_tries: int = Field(20, ge=1, description="sampling rounds to meet conditions (reject sampling)")


class SdvSynthesizer(Synthesizer):
    """An SDV single-table synthesizer with biosynth's metadata, seeds and failure accounting."""

    kind = "sdv"
    format_version = 1

    def __init__(self, config: SdvConfig | None = None, **overrides: Any) -> None:
        self.config = SdvConfig.model_validate({**(config or SdvConfig()).model_dump(), **overrides})
        self._sdv: Any = None

    def _fit(self, data: pd.DataFrame, metadata: TableMetadata) -> None:
        import sdv.single_table as single_table

        cls = getattr(single_table, _CLASSES[self.config.synthesizer])
        kwargs: dict[str, Any] = {}
        if self.config.synthesizer != "gaussian_copula":
            kwargs["enable_gpu"] = False
            if self.config.epochs is not None:
                kwargs["epochs"] = self.config.epochs
            if self.config.batch_size is not None:
                if self.config.batch_size % 10:
                    raise ConfigError(f"SDV batch_size must be a multiple of 10, got {self.config.batch_size}")
                kwargs["batch_size"] = self.config.batch_size
        synth = cls(sdv_metadata(metadata), enforce_min_max_values=True, enforce_rounding=True, **kwargs)
        with _seeded(self.config.seed):
            synth.fit({metadata.table: _for_sdv(data, metadata)})
        self._sdv = synth

    def _sample(self, n: int, conditions: Conditions, seed: int) -> SampleOutcome:
        import pandas as pd

        rows = self._draw(n, seed, 0)
        if not conditions:
            return SampleOutcome(rows=_from_sdv(rows, self.metadata), requested=n, attempts=n)
        kept: list[pd.DataFrame] = []
        have, tries = 0, 0
        while tries < self.config.max_tries:
            frame = _from_sdv(rows if tries == 0 else self._draw(max(n, 64), seed, tries), self.metadata)
            tries += 1
            ok = [not conditions.unmet(r) for r in frame.to_dict("records")]
            kept.append(frame[ok])
            have += int(sum(ok))
            if have >= n:
                break
        out = pd.concat(kept, ignore_index=True).head(n)
        failures = tuple(SampleFailure(index=i, reason=f"condition not met in {tries} sampling round(s): {conditions}",
                                    attempts=tries) for i in range(len(out), n))
        return SampleOutcome(rows=out, failures=failures, requested=n, attempts=tries)

    def _draw(self, n: int, seed: int, round_: int) -> pd.DataFrame:
        self._sdv.reset_sampling()
        self._sdv._set_random_state(derive_seed(seed, "sdv", round_))  # SDV's own seeding hook (no public one)
        sampled = self._sdv.sample(num_rows=n)
        return sampled[self.metadata.table] if isinstance(sampled, dict) else sampled

    def save(self, folder: str | Path) -> Path:
        raise ConfigError("SDV models cannot be saved without pickle, and biosynth writes no pickles; fitting is "
                          "seeded and deterministic, so refit from the data (the `sdv` generator does this)")

    @classmethod
    def load(cls, folder: str | Path) -> Self:
        raise ConfigError(f"cannot load {str(folder)!r}: SDV models are pickles, which biosynth does not load; "
                          "refit from the data")

    def _save(self, folder: Path) -> None:  # pragma: no cover - save() refuses first
        raise ConfigError("SDV models cannot be saved without pickle")

    @classmethod
    def _load(cls, folder: Path, metadata: TableMetadata) -> Self:  # pragma: no cover - load() refuses first
        raise ConfigError("SDV models cannot be loaded without pickle")


def sdv_metadata(metadata: TableMetadata) -> Any:
    """SDV's Metadata for one table, from biosynth's TableMetadata."""
    from sdv.metadata import Metadata

    columns: dict[str, dict[str, Any]] = {}
    for spec in metadata.columns:
        if spec.type is ColumnType.NUMERICAL:
            columns[spec.name] = {"sdtype": "numerical"}  # SDV 2 infers the representation
        elif spec.type is ColumnType.CATEGORICAL:
            columns[spec.name] = {"sdtype": "categorical"}
        elif spec.type is ColumnType.BOOLEAN:
            columns[spec.name] = {"sdtype": "boolean"}
        elif spec.type is ColumnType.DATETIME:
            columns[spec.name] = {"sdtype": "datetime", "datetime_format": "%Y-%m-%d %H:%M:%S"}
        elif spec.type is ColumnType.ID:
            columns[spec.name] = {"sdtype": "id"}
        else:
            raise ConfigError(f"column {spec.name!r} is free text; the SDV adapters model numbers, categories, "
                              "booleans, dates and ids only")
    return Metadata.load_from_dict({"tables": {metadata.table: {"columns": columns}}})


def _for_sdv(data: pd.DataFrame, metadata: TableMetadata) -> pd.DataFrame:
    import pandas as pd

    out = data.copy()
    for spec in metadata.columns:
        if spec.type is ColumnType.DATETIME:
            out[spec.name] = pd.to_datetime(out[spec.name]).dt.strftime("%Y-%m-%d %H:%M:%S")
    return out


def _from_sdv(rows: pd.DataFrame, metadata: TableMetadata) -> pd.DataFrame:
    import pandas as pd

    out = rows.reset_index(drop=True).copy()
    for spec in metadata.columns:
        if spec.type is ColumnType.DATETIME:
            out[spec.name] = pd.to_datetime(out[spec.name])
    return out


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed numpy's and Python's global generators and torch's for a block, then restore them."""
    import torch

    np_state, py_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=[]):
        np.random.seed(seed)
        random.seed(seed)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)


# the generator -----------------------------------------------------------------------------------


class SdvParams(GeneratorParams):
    data: InputFile = Field(description="CSV or Parquet table to fit on (real data by default)")
    metadata: InputFile | None = Field(None, description="table metadata JSON; detected from `data` when absent")
    synthesizer: SdvKind = "gaussian_copula"
    epochs: int | None = Field(None, ge=1, description="CTGAN / TVAE epochs")
    batch_size: int | None = Field(None, ge=10)
    fit_seed: int = Field(0, ge=0)
    conditions: str | dict[str, Any] | None = None

    _files_not_folders = field_validator("data", "metadata")(not_a_folder)


class SdvGenerator(Generator[SdvParams]):
    """`sdv`: fits the chosen SDV synthesizer on `data` once per step, then one row per request.

    Row i is drawn with its request's seed (one SDV draw per row, so batching does not change it).
    """

    name = "sdv"

    def _setup(self, ctx: StepContext) -> None:
        from biosynth.core import read_table

        p = self.params
        p.data.check("data")
        metadata = None
        if p.metadata is not None:
            p.metadata.check("metadata")
            metadata = TableMetadata.load(p.metadata.path)
        config = SdvConfig(synthesizer=p.synthesizer, epochs=p.epochs, batch_size=p.batch_size, seed=p.fit_seed)
        self._synth = SdvSynthesizer(config).fit(read_table(p.data.path, "parameter `data`"), metadata)
        self._conditions: Conditions = parse_conditions(p.conditions, self._synth.metadata)
        import sdv

        self._model_ref = ModelRef(name=f"sdv:{_CLASSES[p.synthesizer]}", backend="sdv", revision=sdv.__version__,
                                   license=LICENSE)
        self._data_sha256 = sha256_file(p.data.path)

    def _generate(self, requests: list[SampleRequest], ctx: StepContext) -> list[Draft | GenerationError]:
        out: list[Draft | GenerationError] = []
        table = self._synth.metadata.table
        for request in requests:
            outcome = self._synth.sample_outcome(1, self._conditions, seed=request.seed)
            if outcome.failures or outcome.rows.empty:
                reason = outcome.failures[0].reason if outcome.failures else "SDV returned no row"
                out.append(GenerationError(reason, attempts=outcome.attempts or 1))
                continue
            row = outcome.rows.iloc[0].to_dict()
            values = {k: v.isoformat() if hasattr(v, "isoformat") else _plain(v) for k, v in row.items()}
            extra = {"fit_seed": self.params.fit_seed, "fitted_on_sha256": self._data_sha256}
            if self._conditions:
                extra["conditions"] = str(self._conditions)
            out.append(Draft(payload=TableRowPayload(table=table, values=values), model=self._model_ref,
                             strategy=(Strategy.LEARNED_GENERATOR,), validation=Validation.PASSED, extra=extra))
        return out


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) and not isinstance(value, str) else value
