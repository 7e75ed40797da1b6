"""biosynth tabular: table metadata, OMOP loading and writing, HALO for longitudinal EHR.

Names that need torch (`Halo`, `HaloConfig`, `HaloTraining`, ...) are imported on first use, so the
metadata and OMOP parts work without the `halo` extra.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from biosynth.tabular._fidelity import FidelityReport, halo_fidelity
from biosynth.tabular._metadata import METADATA_VERSION, ColumnSpec, ColumnType, TableMetadata, detect_metadata
from biosynth.tabular._omop import CohortStats, OmopCohort, eunomia_database, load_eunomia, load_omop
from biosynth.tabular._omop_writer import OmopWriteReport, write_omop

if TYPE_CHECKING:
    from biosynth.tabular._halo import Halo, HaloTraining, SampledPatient
    from biosynth.tabular._halo_generator import HaloGenerator
    from biosynth.tabular._halo_network import HaloConfig
    from biosynth.tabular._halo_vocab import HaloVocabulary

_LAZY = {
    "Halo": "biosynth.tabular._halo", "HaloTraining": "biosynth.tabular._halo",
    "SampledPatient": "biosynth.tabular._halo", "HaloConfig": "biosynth.tabular._halo_network",
    "HaloVocabulary": "biosynth.tabular._halo_vocab", "HaloGenerator": "biosynth.tabular._halo_generator",
}

__all__ = [
    "METADATA_VERSION", "CohortStats", "ColumnSpec", "ColumnType", "FidelityReport", "Halo", "HaloConfig",
    "HaloGenerator", "HaloTraining", "HaloVocabulary", "OmopCohort", "OmopWriteReport", "SampledPatient",
    "TableMetadata", "detect_metadata", "eunomia_database", "halo_fidelity", "load_eunomia", "load_omop",
    "write_omop",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'biosynth.tabular' has no attribute {name!r}")
    try:
        return getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as err:
        raise ImportError(f"biosynth.tabular.{name} needs {err.name}: pip install 'biosynth-tabular[halo]'") from err
