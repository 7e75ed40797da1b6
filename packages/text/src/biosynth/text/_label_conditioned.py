"""`label_conditioned`: classification data — each text written for a label assigned beforehand.

The label is chosen before generation from a target distribution and stored as the record's label
(`labels[label_field]`); it is never parsed back from the generated text. Assignment is core's
balanced assignment (`TargetDistribution`, `target_value`): a function of the step seed and the sample
index only, so resumed or re-batched runs give every sample the same label. Indices are cut into
blocks whose size makes the target proportions whole numbers (len(labels) when balanced, the default;
at most 100), each block a seeded shuffle of its quota, so every whole block meets the target exactly.
Each record keeps its target in `provenance.extra["balance"]`, and the step's summary in the manifest
is the achieved label distribution (`achieved_distribution`).

Everything else (attributes, `from:` records, persona/format/style, few-shot — with
`few_shot.label_field` examples of the sample's own label —, chain-of-thought, retrieval, retries)
works as in `clinical_note`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, ClassVar, Self

from pydantic import Field, model_validator

from biosynth.core import (
    Completion,
    Draft,
    Generator,
    Record,
    SampleRequest,
    Scalar,
    StepContext,
    TargetDistribution,
    achieved_distribution,
    balance_facts,
    target_value,
)
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


def label_target(labels: tuple[str, ...], weights: tuple[float, ...] | None, column: str) -> dict[str, float]:
    """The labels' target probabilities (core `TargetDistribution`): balanced, or proportional to `weights`."""
    distribution = "balanced" if weights is None else dict(zip(labels, weights, strict=True))
    probabilities = TargetDistribution(column=column, distribution=distribution).resolve(labels)
    return {str(label): p for label, p in probabilities.items()}


class LabelConditioned(ClinicalNote, Generator[LabelConditionedParams]):
    """Writes one text per request for a label assigned from the target distribution (see module doc).

    `Params` comes from the generic argument, which narrows `clinical_note`'s parameters.
    """

    name = "label_conditioned"
    base_template_id = TEMPLATE_ID
    default_user_template = USER_TEMPLATE

    params: LabelConditionedParams

    def _conditioning(self, request: SampleRequest, ctx: StepContext, values: dict[str, Scalar]
                      ) -> tuple[dict[str, Scalar], dict[str, object], Scalar]:
        params = self.params
        label = str(target_value(self._target, ctx.seed, request.index))
        description = params.label_descriptions.get(label)
        fields: dict[str, Any] = {
            "label": label, "task": params.task,
            "label_description": f" Class definition: {description}" if description else "",
        }
        example_label = label if params.few_shot is not None and params.few_shot.label_field else None
        return {params.label_field: label}, fields, example_label

    @functools.cached_property
    def _target(self) -> dict[str, float]:
        return label_target(self.params.labels, self.params.weights, self.params.label_field)

    def _draft(self, prompt: Any, completion: Completion, output: Any, attempts: int, llm_seed: int,
               ctx: StepContext) -> Draft:
        draft = super()._draft(prompt, completion, output, attempts, llm_seed, ctx)
        field = self.params.label_field
        balance = balance_facts(field, prompt.labels[field], self._target)
        return draft.model_copy(update={"extra": {**draft.extra, "balance": balance}})

    def summarize(self, records: Sequence[Record]) -> dict[str, Any] | None:
        """The achieved label distribution against the target (the manifest's step summary)."""
        achieved = achieved_distribution(records, self.params.label_field, target=self._target)
        return {"labels": achieved.model_dump(mode="json")}

    def _query(self, document_type: str, values: dict[str, Scalar], fields: dict[str, object]) -> str:
        """The retrieval query leads with the sample's label."""
        return f"{fields['label']}. {super()._query(document_type, values, fields)}"
