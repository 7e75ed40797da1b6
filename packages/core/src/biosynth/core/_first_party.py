"""The generators biosynth's own packages register, by the distribution that ships each.

Core imports none of these packages; the table only lets a run that skips an optional step name what to install
(`pip install biosynth-audio`) when the generator is not registered at all. A test checks it against the
entry points of the installed packages.
"""

from __future__ import annotations

FIRST_PARTY_GENERATORS: dict[str, str] = {
    "attributes": "biosynth-core", "template": "biosynth-core", "ehr_admission": "biosynth-core",
    "clinical_note": "biosynth-text", "label_conditioned": "biosynth-text", "qa": "biosynth-text",
    "annotated_ie": "biosynth-text", "dialogue": "biosynth-text", "finetuned_text": "biosynth-text",
    "halo": "biosynth-tabular", "llm_prompted": "biosynth-tabular", "llm_finetuned": "biosynth-tabular",
    "sdv": "biosynth-tabular",
    "text_to_image": "biosynth-image", "image_to_image": "biosynth-image", "inpaint": "biosynth-image",
    "class_to_image": "biosynth-image",
    "dialogue_audio": "biosynth-audio",
    "critic_filter": "biosynth-eval",
}
