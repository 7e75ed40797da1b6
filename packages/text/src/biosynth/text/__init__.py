"""biosynth text: LLM backends and clinical text generators.

Public names load lazily, so that importing one backend module (e.g. a light HTTP backend) does not
import torch and transformers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from biosynth.text._clinical_note import ClinicalNote, ClinicalNoteParams
    from biosynth.text._transformers_backend import TransformersConfig, TransformersLanguageModel

_EXPORTS = {
    "ClinicalNote": "biosynth.text._clinical_note",
    "ClinicalNoteParams": "biosynth.text._clinical_note",
    "TransformersConfig": "biosynth.text._transformers_backend",
    "TransformersLanguageModel": "biosynth.text._transformers_backend",
}

__all__ = ["ClinicalNote", "ClinicalNoteParams", "TransformersConfig", "TransformersLanguageModel"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'biosynth.text' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
