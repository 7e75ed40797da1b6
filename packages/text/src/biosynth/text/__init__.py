"""biosynth text: LLM backends and clinical text generators.

Public names load lazily, so that importing one backend module (e.g. a light HTTP backend) does not
import torch and transformers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from biosynth.core import StructuredPrompt, StructuredResult, generate_structured
    from biosynth.text._annotated_ie import AnnotatedIE, AnnotatedIEParams
    from biosynth.text._backends.transformers import TransformersConfig, TransformersLanguageModel
    from biosynth.text._clinical_note import ClinicalNote, ClinicalNoteParams
    from biosynth.text._dialogue.generator import Dialogue, DialogueParams
    from biosynth.text._finetune.config import FinetuneColumns, FinetuneConfig, FinetuneMode
    from biosynth.text._finetune.generator import FinetunedText, FinetunedTextParams
    from biosynth.text._finetune.training import finetune
    from biosynth.text._label_conditioned import LabelConditioned, LabelConditionedParams
    from biosynth.text._qa import QAPair, QuestionAnswer, QuestionAnswerParams

_EXPORTS = {
    "AnnotatedIE": "biosynth.text._annotated_ie",
    "AnnotatedIEParams": "biosynth.text._annotated_ie",
    "ClinicalNote": "biosynth.text._clinical_note",
    "ClinicalNoteParams": "biosynth.text._clinical_note",
    "Dialogue": "biosynth.text._dialogue.generator",
    "DialogueParams": "biosynth.text._dialogue.generator",
    "FinetuneColumns": "biosynth.text._finetune.config",
    "FinetuneConfig": "biosynth.text._finetune.config",
    "FinetuneMode": "biosynth.text._finetune.config",
    "finetune": "biosynth.text._finetune.training",
    "FinetunedText": "biosynth.text._finetune.generator",
    "FinetunedTextParams": "biosynth.text._finetune.generator",
    "LabelConditioned": "biosynth.text._label_conditioned",
    "LabelConditionedParams": "biosynth.text._label_conditioned",
    "QAPair": "biosynth.text._qa",
    "QuestionAnswer": "biosynth.text._qa",
    "QuestionAnswerParams": "biosynth.text._qa",
    "StructuredPrompt": "biosynth.core",
    "StructuredResult": "biosynth.core",
    "generate_structured": "biosynth.core",
    "TransformersConfig": "biosynth.text._backends.transformers",
    "TransformersLanguageModel": "biosynth.text._backends.transformers",
}

__all__ = ["AnnotatedIE", "AnnotatedIEParams", "ClinicalNote", "ClinicalNoteParams", "Dialogue", "DialogueParams",
           "FinetuneColumns", "FinetuneConfig", "FinetuneMode", "finetune", "FinetunedText", "FinetunedTextParams",
           "LabelConditioned", "LabelConditionedParams", "QAPair", "QuestionAnswer", "QuestionAnswerParams",
           "StructuredPrompt", "StructuredResult", "generate_structured",
           "TransformersConfig", "TransformersLanguageModel"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'biosynth.text' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
