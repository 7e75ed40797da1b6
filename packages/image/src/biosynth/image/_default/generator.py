"""`class_to_image`: images of a class from the default model (`biosynth image train-default`), one seeded DDIM
run per image; the class is fixed, taken from the parent record, or balanced over the model's classes."""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field, field_validator, model_validator

from biosynth.core import (
    ComponentKind,
    ComponentSpec,
    Draft,
    GenerationError,
    Generator,
    GeneratorParams,
    ImagePayload,
    SampleRequest,
    StepContext,
    Strategy,
    derive_seed,
    target_value,
)
from biosynth.image._default.model import BACKEND
from biosynth.image._dicom import DicomParams
from biosynth.image._output import OutputFormat, placeholder, require_dicom, write_image


class ClassToImageParams(GeneratorParams):
    model: ComponentSpec = Field(description="a `train-default` folder (a path, or {kind: diffusion_pipeline, "
                                             "backend: biosynth_ddpm, params: {path: ...}})")
    label: str | None = Field(None, description="make every image of this class")
    label_field: str | None = Field(None, description="take the class from this label or field of the parent record")
    label_name: str = Field("label", min_length=1, description="the label the class is recorded under")
    steps: int = Field(50, ge=1, le=1000, description="DDIM steps")
    format: OutputFormat = "png"
    dicom: DicomParams = DicomParams()

    @field_validator("model", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"kind": ComponentKind.DIFFUSION_PIPELINE.value, "backend": BACKEND, "params": {"path": value}}
        return value

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if self.label is not None and self.label_field is not None:
            raise ValueError("give `label` or `label_field`, not both (neither: balanced over the model's classes)")
        if self.model.kind is not ComponentKind.DIFFUSION_PIPELINE:
            raise ValueError(f"model: expected a diffusion_pipeline, got a {self.model.describe()}")
        return self


class ClassToImage(Generator[ClassToImageParams]):
    """One image per request: its class, then a DDIM run (eta 0) from noise seeded by the sample's seed."""

    name = "class_to_image"

    def _setup(self, ctx: StepContext) -> None:
        require_dicom(self.name, self.params.format)
        resolved = ctx.component(self.params.model)
        self._model, self._model_ref = resolved.component, resolved.model_ref
        classes = self._model.classes
        if self.params.label is not None and self.params.label not in classes:
            raise GenerationError(f"{self.name}: label {self.params.label!r} is not one of the model's classes {classes}")
        self._balanced = {c: 1 / len(classes) for c in classes}

    def _class(self, request: SampleRequest, ctx: StepContext) -> str:
        if self.params.label is not None:
            return self.params.label
        if self.params.label_field is None:
            return str(target_value(self._balanced, ctx.seed, request.index))
        record = request.input
        values: dict[str, Any] = dict(record.labels) if record is not None else {}
        if record is not None and hasattr(record.payload, "values"):
            values = {**record.payload.values, **values}
        value = values.get(self.params.label_field)
        if value is None or str(value) not in self._model.classes:
            raise GenerationError(f"{self.name}: the record's {self.params.label_field!r} is {value!r}, not one of the "
                                  f"model's classes {self._model.classes}")
        return str(value)

    def _generate_one(self, request: SampleRequest, ctx: StepContext) -> Draft:
        label = self._class(request, ctx)
        image_seed = derive_seed(request.seed, "image")
        image = self._model.sample(self._model.classes.index(label), image_seed, self.params.steps)
        labels = {**(dict(request.input.labels) if request.input is not None else {}), self.params.label_name: label}
        draft = Draft(payload=placeholder(image.width, image.height), labels=labels, model=self._model_ref,
                      strategy=(Strategy.DIFFUSION, Strategy.LEARNED_GENERATOR),
                      extra={"image_seed": image_seed, "steps": self.params.steps, "scheduler": "ddim", "class": label})
        media = write_image(self, request, image, draft, ctx, fmt=self.params.format, dicom=self.params.dicom,
                            model_name=self._model_ref.name)
        return draft.model_copy(update={"payload": ImagePayload(media=media, width=image.width, height=image.height,
                                                                caption=label)})
