"""`label_conditioned`: classification data — each text written for a label assigned beforehand.

The label is chosen before generation from a target distribution and stored as the record's label
(`labels[label_field]`); it is never parsed back from the generated text. Assignment is a function
of the step seed and the sample index only, so resumed or re-batched runs give every sample the same
label:

- balanced (default, no `weights`): indices are taken in blocks of len(labels); each block is a
  seeded permutation of the labels, so every prefix of the step is balanced to within one block.
- `weights`: a golden-ratio (Weyl) sequence with a seeded offset, mapped through the cumulative
  weights; the counts of any prefix stay within a few samples of the target proportions.

Everything else (attributes, `from:` records, persona/format/style, few-shot — with
`few_shot.label_field` examples of the sample's own label —, chain-of-thought, retrieval, retries)
works as in `clinical_note`.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Self

from pydantic import Field, model_validator

from biosynth.core import SampleRequest, Scalar, StepContext, derive_seed, rng
from biosynth.text import _prompts
from biosynth.text._clinical_note import ClinicalNote, ClinicalNoteParams

TEMPLATE_ID = "label-conditioned/v1"
USER_TEMPLATE = """\
Task: write a $document_type for the fictional patient described below, as one example for a \
text-classification data set on $task. The document must belong to the class "$label".$label_description

Patient:
$attributes

Content: let the clinical details make the class "$label" evident to a clinician reading the text. $content
Format: $format
Style: $style. About $target_words words.$constraints

Write only the $document_type itself, with no preamble or commentary."""

_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


class LabelConditionedParams(ClinicalNoteParams):
    """Parameters of `label_conditioned` (plus every `clinical_note` parameter)."""

    placeholders: ClassVar[frozenset[str]] = _prompts.PLACEHOLDERS | {"label", "task", "label_description"}

    labels: tuple[str, ...] = Field(min_length=2, description="the classes, e.g. [asthma, COPD, heart failure]")
    weights: tuple[float, ...] | None = Field(None, description="target proportions per label; default balanced")
    label_field: str = Field("label", min_length=1, description="the record label that holds the class")
    task: str = Field("the patient's main clinical problem", min_length=1,
                      description="what the classes classify, written into the prompt")
    label_descriptions: dict[str, str] = Field(default_factory=dict, description="a definition per label")
    document_type: str = Field("clinical note", min_length=1)

    @model_validator(mode="after")
    def _labels(self) -> Self:
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"labels {list(self.labels)} repeat a label")
        if any(not label.strip() for label in self.labels):
            raise ValueError("labels must be non-empty strings")
        if self.weights is not None:
            if len(self.weights) != len(self.labels):
                raise ValueError(f"{len(self.weights)} weights for {len(self.labels)} labels")
            if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError("weights must be non-negative with a positive sum")
        unknown = sorted(set(self.label_descriptions) - set(self.labels))
        if unknown:
            raise ValueError(f"label_descriptions name labels {unknown} that are not in labels {list(self.labels)}")
        return self


def assign_label(labels: tuple[str, ...], weights: tuple[float, ...] | None, step_seed: int, index: int) -> str:
    """The label of sample `index` of a step seeded `step_seed` (see the module doc)."""
    if weights is None:
        block, position = divmod(index, len(labels))
        order = rng(derive_seed(step_seed, "labels", block)).permutation(len(labels))
        return labels[int(order[position])]
    offset = float(rng(derive_seed(step_seed, "labels")).random())
    u = (offset + (index + 1) * _GOLDEN) % 1.0
    total = sum(weights)
    cumulative = 0.0
    for label, weight in zip(labels, weights, strict=True):
        cumulative += weight / total
        if u < cumulative:
            return label
    return next(label for label, weight in zip(reversed(labels), reversed(weights), strict=True) if weight > 0)


class LabelConditioned(ClinicalNote):
    """Writes one text per request for a label assigned from the target distribution (see module doc)."""

    name = "label_conditioned"
    Params = LabelConditionedParams
    base_template_id = TEMPLATE_ID
    default_user_template = USER_TEMPLATE

    params: LabelConditionedParams

    def _conditioning(self, request: SampleRequest, ctx: StepContext, values: dict[str, Scalar]
                      ) -> tuple[dict[str, Scalar], dict[str, object], Scalar]:
        params = self.params
        label = assign_label(params.labels, params.weights, ctx.seed, request.index)
        description = params.label_descriptions.get(label)
        fields: dict[str, Any] = {
            "label": label, "task": params.task,
            "label_description": f" Class definition: {description}" if description else "",
        }
        example_label = label if params.few_shot is not None and params.few_shot.label_field else None
        return {params.label_field: label}, fields, example_label

    def _query(self, document_type: str, values: dict[str, Scalar], fields: dict[str, object]) -> str:
        """The retrieval query leads with the sample's label."""
        return f"{fields['label']}. {super()._query(document_type, values, fields)}"
