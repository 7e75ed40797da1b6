"""biosynth tabular: table metadata and constraints, LLM row generators, OMOP loading and writing, HALO.

Names that need torch (`Halo`, `HaloGenerator`, `FinetunedLM`, ...) are imported on first use, so the
metadata and OMOP parts work without the `halo` extra. Target distributions, per-sample failures, model
folders and fingerprints are core's (`biosynth.core.TargetDistribution`, `achieved_distribution`,
`SampleFailure`, `write_model_folder`, `weights_sha256`); `BalanceTarget` is the name tabular's generators
have always documented for `TargetDistribution`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from biosynth.core import TargetDistribution
from biosynth.tabular._conditions import Condition, Conditions, parse_conditions
from biosynth.tabular._constraints import FixedCombinations, Inequality, Violation, check_rows
from biosynth.tabular._ehr.omop import CohortStats, OmopCohort, eunomia_database, load_eunomia, load_omop
from biosynth.tabular._ehr.omop_writer import OmopWriteReport, write_omop
from biosynth.tabular._llm.prompted import LlmPrompted
from biosynth.tabular._llm.row_model import TableRow, row_model
from biosynth.tabular._metadata import METADATA_VERSION, ColumnSpec, ColumnType, TableMetadata, detect_metadata
from biosynth.tabular._synthesizer import SampleOutcome, SamplingError, Synthesizer

BalanceTarget = TargetDistribution
"""The target distribution of a generator's `target` parameter (core's `TargetDistribution`)."""

if TYPE_CHECKING:
    from biosynth.tabular._ehr.halo import Halo, LengthCalibration, SampledPatient, length_statistic
    from biosynth.tabular._ehr.halo_generator import HaloGenerator, HaloModel
    from biosynth.tabular._ehr.halo_settings import HaloConfig, HaloTraining
    from biosynth.tabular._ehr.halo_vocab import HaloVocabulary

_LAZY = {
    "Halo": "biosynth.tabular._ehr.halo", "HaloTraining": "biosynth.tabular._ehr.halo_settings",
    "SampledPatient": "biosynth.tabular._ehr.halo", "LengthCalibration": "biosynth.tabular._ehr.halo",
    "length_statistic": "biosynth.tabular._ehr.halo",
    "HaloConfig": "biosynth.tabular._ehr.halo_settings",
    "HaloVocabulary": "biosynth.tabular._ehr.halo_vocab", "HaloGenerator": "biosynth.tabular._ehr.halo_generator",
    "HaloModel": "biosynth.tabular._ehr.halo_generator", "FinetunedRowModel": "biosynth.tabular._llm.finetuned_generator",
    "FinetunedLM": "biosynth.tabular._llm.finetuned", "FinetunedConfig": "biosynth.tabular._llm.finetuned",
    "LlmFinetuned": "biosynth.tabular._llm.finetuned_generator",
    "SdvSynthesizer": "biosynth.tabular._sdv_adapters", "SdvGenerator": "biosynth.tabular._sdv_adapters",
}

__all__ = [
    "BalanceTarget", "Condition", "Conditions", "FixedCombinations", "Inequality", "LlmPrompted",
    "SampleOutcome", "SamplingError", "Synthesizer", "TableRow", "Violation",
    "check_rows", "parse_conditions", "row_model",
    "FinetunedConfig", "FinetunedLM", "FinetunedRowModel", "LlmFinetuned", "SdvGenerator", "SdvSynthesizer",
    "METADATA_VERSION", "CohortStats", "ColumnSpec", "ColumnType", "Halo", "HaloConfig",
    "HaloGenerator", "HaloModel", "HaloTraining", "HaloVocabulary", "LengthCalibration", "OmopCohort", "OmopWriteReport",
    "SampledPatient",
    "TableMetadata", "detect_metadata", "eunomia_database", "length_statistic", "load_eunomia", "load_omop",
    "write_omop",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'biosynth.tabular' has no attribute {name!r}")
    try:
        return getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as err:
        extra = "sdv" if "._sdv" in module else "finetuned" if ".finetuned" in module else "halo"
        raise ImportError(f"biosynth.tabular.{name} needs {err.name}: pip install 'biosynth-tabular[{extra}]'") from err
