"""Self-preference: a judge of the same model family as the generator rates that generator's output higher
(Panickssery et al., 2024; Zheng et al., 2023). The family is read from both provenances (`ModelRef`), so the
refusal is a rule in code, not a convention.

A model's family is the same weights (equal sha256), or the leading word of its name, lower case, after any
organisation prefix and file extension: `SmolLM2-135M-Instruct.Q4_1.gguf` -> `smollm`, `meta-llama/Llama-3.1-8B`
-> `llama`, `gpt-4o-mini` -> `gpt`. A few well-known derivatives map to their base family (Meditron, Asclepius,
Vicuna and others are Llama fine-tunes; BioMistral is Mistral): a fine-tune shares its base model's preferences.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from biosynth.core import ConfigError, ModelRef

DERIVED = {  # fine-tunes named apart from their base family
    "meditron": "llama", "asclepius": "llama", "vicuna": "llama", "alpaca": "llama", "openbiollm": "llama",
    "medalpaca": "llama", "pmc": "llama", "clinicalcamel": "llama", "codellama": "llama", "biomistral": "mistral",
    "mixtral": "mistral", "zephyr": "mistral", "openhermes": "mistral", "chatgpt": "gpt", "o1": "gpt",
    "o3": "gpt", "tinyllama": "llama",
}
_WORD = re.compile(r"[a-z]+")


class SelfPreferenceError(ConfigError):
    """The judge and the generator are of one model family, and the caller did not force it."""


def model_family(ref: ModelRef) -> str:
    """The family of a model (see the module doc)."""
    name = ref.name.strip().lower().rsplit("/", 1)[-1]
    name = re.sub(r"\.(gguf|safetensors|bin|onnx)$", "", name)
    match = _WORD.match(name)
    family = match.group(0) if match else name
    compact = re.sub(r"[^a-z0-9]", "", name)
    for derived, base in DERIVED.items():
        if family == derived or compact.startswith(derived):
            return base
    return family


def same_family(a: ModelRef, b: ModelRef) -> bool:
    if a.sha256 and b.sha256 and a.sha256 == b.sha256:
        return True
    return model_family(a) == model_family(b)


def check_self_preference(judge: ModelRef, generators: Iterable[ModelRef | None], *, force: bool = False) -> list[str]:
    """Refuse a judge of a generator's family (SelfPreferenceError) unless `force`; return the warnings to report.

    Records without a model (template or learned generators) cannot share a family with the judge.
    """
    shared = sorted({f"{g.name} ({g.backend})" for g in generators if g is not None and same_family(judge, g)})
    if not shared:
        return []
    message = (f"the judge {judge.name!r} ({judge.backend}) is of model family {model_family(judge)!r}, like the "
               f"generator{'s' if len(shared) > 1 else ''} {', '.join(shared)}: a judge prefers its own family's text "
               "(self-preference bias)")
    if not force:
        raise SelfPreferenceError(f"{message}; use a judge of another family, or force it (--force-self-judge, "
                                  "`force_self_judge: true`) and the report will say so")
    return [f"{message}; forced, so these scores may be inflated"]
