"""A saved HALO model folder's names and its torch-free checks: the marker (kind, version, every file's sha256, so
a truncated weights file is caught here), the settings and the vocabulary JSON. The CLI runs them before it imports
torch, so a damaged folder or a bad condition is named in about two seconds."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from biosynth.core import MARKER, InputDataError, check_model_folder
from biosynth.tabular._ehr.halo_settings import HaloConfig
from biosynth.tabular._ehr.halo_vocab import HaloVocabulary

GENERATOR_NAME = "halo"
FORMAT_VERSION = 1
CONFIG_FILE = "halo_config.json"
VOCAB_FILE = "vocabulary.json"
WEIGHTS_FILE = "model.safetensors"


@dataclass(frozen=True)
class HaloFolder:
    """A saved model folder whose files have been checked: its marker, network settings and vocabulary."""

    path: Path
    marker: dict[str, Any]
    config: HaloConfig
    vocabulary: HaloVocabulary


def read_halo_folder(folder: Path) -> HaloFolder:
    """The marker, network settings and vocabulary of a folder written by `Halo.save`, every file checked; the
    weights' tensors are left to `Halo.load` (which takes the result, so nothing is read twice)."""
    if not folder.is_dir():
        raise InputDataError(f"HALO model folder {str(folder)!r} does not exist or is not a folder")
    marker = check_model_folder(folder, GENERATOR_NAME, FORMAT_VERSION)  # kind, version, files' sha256
    if set(marker["files"]) != {WEIGHTS_FILE, CONFIG_FILE, VOCAB_FILE}:
        raise InputDataError(f"{str(folder / MARKER)!r}: 'files' must list {WEIGHTS_FILE}, {CONFIG_FILE}, {VOCAB_FILE}")
    config = _parse(HaloConfig, folder / CONFIG_FILE)
    vocabulary = _parse(HaloVocabulary, folder / VOCAB_FILE)
    if config.max_visits is None:
        raise InputDataError(f"{str(folder / CONFIG_FILE)!r}: max_visits must be set in a saved model")
    return HaloFolder(folder, marker, config, vocabulary)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputDataError(f"{str(path)!r} is not valid JSON: {err}") from None


_M = TypeVar("_M", bound=BaseModel)


def _parse(model: type[_M], path: Path) -> _M:
    try:
        return model.model_validate(_read_json(path))
    except ValidationError as err:
        raise InputDataError(f"{str(path)!r} is not a valid {model.__name__}: {err}") from None
