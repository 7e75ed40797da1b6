"""What a dialogue is about: a note (TextPayload), a table row / case, or sampled attributes, as prompt text."""

from __future__ import annotations

from dataclasses import dataclass

from biosynth.core import (
    AttributeSampler,
    ConfigError,
    GenerationError,
    SampleRequest,
    Scalar,
    StepContext,
    TableRowPayload,
    TextPayload,
)
from biosynth.text import _prompts
from biosynth.text._annotated_ie import sample_attributes


@dataclass(frozen=True)
class Source:
    """The source as the planner sees it, and what the dialogue record inherits (labels)."""

    kind: str  # "note", "record" or "attributes"
    text: str
    labels: dict[str, Scalar]
    sampled: dict[str, Scalar] | None


def build_source(request: SampleRequest, sampler: AttributeSampler | None, fields: tuple[str, ...] | None,
                 ctx: StepContext, generator: str) -> Source:
    """The request's source; a GenerationError when `fields` names attributes the record lacks."""
    sampled = sample_attributes(sampler, request, ctx, generator) if sampler is not None else None
    record = request.input
    if record is None:
        if sampled is None:
            raise ConfigError(f"generator {generator!r} needs a source: give its step `from:` (notes or table rows) "
                              f"or `attributes:` to sample")
        return Source("attributes", _prompts.format_attributes(_select(sampled, fields, generator)), {}, sampled)
    labels = dict(record.labels)
    payload = record.payload
    if isinstance(payload, TextPayload):
        text = payload.text.strip()
        if not text:
            raise GenerationError(f"{generator}: the source note {record.id} is empty")
        if sampled:
            text += "\n\nOther details:\n" + _prompts.format_attributes(_select(sampled, fields, generator))
        return Source("note", text, labels, sampled)
    assert isinstance(payload, TableRowPayload)  # input_modalities guarantees it
    values: dict[str, Scalar] = {**(sampled or {}), **labels, **payload.values}
    return Source("record", _prompts.format_attributes(_select(values, fields, generator)), labels, sampled)


def _select(values: dict[str, Scalar], fields: tuple[str, ...] | None, generator: str) -> dict[str, Scalar]:
    if fields is None:
        return values
    missing = [f for f in fields if f not in values]
    if missing:
        raise GenerationError(f"{generator}: fields {missing} are missing from the source's attributes ({sorted(values)})")
    return {f: values[f] for f in fields}
