"""Generators that need no model: attribute sampling (diversity by taxonomy) and safe templates."""

from __future__ import annotations

import string
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from biosynth.core._errors import GenerationError
from biosynth.core._generator import Draft, Generator, GeneratorParams, SampleRequest, StepContext
from biosynth.core._hashing import sha256_text
from biosynth.core._provenance import Strategy
from biosynth.core._records import ImagePayload, Modality, Scalar, TableRowPayload, TextPayload
from biosynth.core._seeding import derive_seed, rng


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Categorical(_Spec):
    type: Literal["categorical"] = "categorical"
    values: tuple[Scalar, ...] = Field(min_length=1)
    weights: tuple[float, ...] | None = None

    @model_validator(mode="after")
    def _weights(self) -> Self:
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError(f"{len(self.weights)} weights for {len(self.values)} values")
            if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError("weights must be non-negative with a positive sum")
        return self


class Integer(_Spec):
    type: Literal["integer"] = "integer"
    low: int
    high: int

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) is below low ({self.low})")
        return self


class Normal(_Spec):
    """A normal distribution truncated to [low, high] by resampling, rounded to `decimals`."""

    type: Literal["normal"] = "normal"
    mean: float
    sd: float = Field(gt=0)
    low: float | None = None
    high: float | None = None
    decimals: int = Field(1, ge=0, le=10)

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.low is not None and self.high is not None and self.high <= self.low:
            raise ValueError(f"high ({self.high}) must exceed low ({self.low})")
        return self


AttributeSpec = Annotated[Categorical | Integer | Normal, Field(discriminator="type")]


class AttributesParams(GeneratorParams):
    attributes: dict[str, AttributeSpec] = Field(min_length=1)
    table: str = "cases"
    label_columns: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # `specialty: [cardiology, oncology]` is a uniform categorical attribute.
        if isinstance(data, dict) and isinstance(data.get("attributes"), dict):
            data = dict(data)
            data["attributes"] = {
                k: {"type": "categorical", "values": v} if isinstance(v, list) else v
                for k, v in data["attributes"].items()
            }
        return data

    @model_validator(mode="after")
    def _labels_exist(self) -> Self:
        missing = sorted(set(self.label_columns) - set(self.attributes))
        if missing:
            raise ValueError(f"label_columns {missing} are not attributes")
        return self


class AttributeSampler(Generator[AttributesParams]):
    """Samples one combination of attributes per record (note type x specialty x age band x ...).

    Each attribute draws from its own seeded stream, so adding an attribute leaves the others' values
    unchanged.
    """

    name = "attributes"

    def _generate_one(self, request: SampleRequest, ctx: StepContext) -> Draft:
        values: dict[str, Scalar] = {}
        for attribute, spec in self.params.attributes.items():
            values[attribute] = _draw(spec, derive_seed(request.seed, attribute))
        labels = {c: values[c] for c in self.params.label_columns}
        return Draft(payload=TableRowPayload(table=self.params.table, values=values), labels=labels,
                     strategy=(Strategy.ATTRIBUTE_SAMPLING,))


def _draw(spec: Categorical | Integer | Normal, seed: int) -> Scalar:
    generator = rng(seed)
    if isinstance(spec, Categorical):
        weights = None
        if spec.weights is not None:
            total = sum(spec.weights)
            weights = [w / total for w in spec.weights]
        return spec.values[int(generator.choice(len(spec.values), p=weights))]
    if isinstance(spec, Integer):
        return int(generator.integers(spec.low, spec.high + 1))
    for _ in range(10_000):
        value = float(generator.normal(spec.mean, spec.sd))
        if (spec.low is None or value >= spec.low) and (spec.high is None or value <= spec.high):
            return round(value, spec.decimals)
    raise GenerationError(f"normal({spec.mean}, {spec.sd}) almost never falls in [{spec.low}, {spec.high}]")



def _check_attribute_specs(value: dict[str, Any]) -> dict[str, Any]:
    AttributeSampler.parse_params({"attributes": value}, where="`attributes`")
    return value


AttributeSpecs = Annotated[dict[str, Any], AfterValidator(_check_attribute_specs)]
"""A parameter holding per-sample attribute specs, checked exactly as the `attributes` generator checks them."""


class TemplateParams(GeneratorParams):
    template: str = Field(min_length=1, description="string.Template text with ${field} placeholders")
    document_type: str | None = None
    template_id: str = "template"

    @model_validator(mode="after")
    def _parses(self) -> Self:
        if not string.Template(self.template).is_valid():
            raise ValueError("template has an invalid placeholder; use ${name} or $name, and $$ for a dollar sign")
        return self


class TemplateText(Generator[TemplateParams]):
    """Renders a text from each input record's values, labels and case id (a rule-based baseline); an image
    record gives its labels, `$caption` (the prompt it was drawn from), `$width` and `$height`.

    `string.Template` is used rather than `str.format` because format strings can reach attributes
    of the values (`{x.__class__}`); templates cannot. A placeholder the record lacks fails that
    sample with the missing names.
    """

    name = "template"
    input_required = True
    input_modalities = (Modality.TABULAR, Modality.EHR, Modality.TEXT, Modality.IMAGE)

    def _generate_one(self, request: SampleRequest, ctx: StepContext) -> Draft:
        assert request.input is not None
        record = request.input
        fields: dict[str, Any] = {"case_id": record.case_id, **record.labels}
        payload = record.payload
        if isinstance(payload, TableRowPayload):
            fields.update(payload.values)
        elif isinstance(payload, TextPayload):
            fields["text"] = payload.text
        elif isinstance(payload, ImagePayload):  # a report for an image: its labels, and the prompt it was drawn from
            fields.update(caption=payload.caption or "", width=payload.width, height=payload.height)
        template = string.Template(self.params.template)
        missing = sorted(set(template.get_identifiers()) - set(fields))
        if missing:
            raise GenerationError(f"template fields missing from the input record: {', '.join(missing)}")
        text = template.substitute({k: "" if v is None else v for k, v in fields.items()})
        return Draft(
            payload=TextPayload(text=text, document_type=self.params.document_type),
            labels=dict(record.labels), strategy=(Strategy.TEMPLATE,),
            extra={"template_id": self.params.template_id, "template_sha256": sha256_text(self.params.template)},
        )
