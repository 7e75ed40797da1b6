"""What `text_to_image`, `image_to_image` and `inpaint` share: the pipeline and LoRA components, the scheduler,
the prompt, one seeded `torch.Generator` per image, and the output file (PNG or DICOM) with its provenance.

Each image is made by its own pipeline call with its own generator seeded from the sample's seed, so an image
depends only on its request: batch composition never changes it (core's batch-split contract checks this).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

from pydantic import Field, field_validator, model_validator

from biosynth.core import (
    ComponentKind,
    ComponentSpec,
    Draft,
    GenerationError,
    Generator,
    GeneratorParams,
    ImagePayload,
    ModelRef,
    SampleRequest,
    StepContext,
    Strategy,
    derive_seed,
)
from biosynth.image._components import LORA_BACKEND, PIPELINE_BACKEND
from biosynth.image._dicom import DicomParams
from biosynth.image._output import OutputFormat, placeholder, require_dicom, write_image
from biosynth.image._prompt import ImagePrompt, PromptBuilder, PromptParams
from biosynth.image._schedulers import SchedulerName


def _shorthand(value: Any, kind: ComponentKind, backend: str) -> Any:
    """A plain path stands for `{kind: ..., backend: ..., params: {path: ...}}`."""
    if isinstance(value, (str, Path)):
        return {"kind": kind.value, "backend": backend, "params": {"path": str(value)}}
    return value


class DiffusionParams(GeneratorParams):
    """Parameters every diffusion generator shares."""

    pipeline: ComponentSpec = Field(description="a diffusers Stable Diffusion folder (a path, or the spec {kind: "
                                                "diffusion_pipeline, backend: diffusers, params: {path: ...}})")
    loras: tuple[ComponentSpec, ...] = Field((), description="LoRA adapters (paths to .safetensors, or lora_adapter "
                                                              "specs with a `scale`)")
    prompt: PromptParams = PromptParams()
    negative_prompt: str | None = None
    scheduler: SchedulerName | None = Field(None, description="None keeps the folder's scheduler")
    steps: int = Field(30, ge=1, le=1000)
    guidance: float = Field(7.5, ge=0.0, le=50.0)
    width: int | None = Field(None, ge=8, le=4096, multiple_of=8, description="None: the pipeline's default size")
    height: int | None = Field(None, ge=8, le=4096, multiple_of=8)
    grayscale: bool = Field(False, description="store single-channel images (e.g. radiographs)")
    format: OutputFormat = Field("png", description="png (provenance in a text chunk) or dicom (a synthetic Secondary "
                                                    "Capture; the `dicom` extra)")
    dicom: DicomParams = DicomParams()

    @field_validator("pipeline", mode="before")
    @classmethod
    def _pipeline_shorthand(cls, value: Any) -> Any:
        return _shorthand(value, ComponentKind.DIFFUSION_PIPELINE, PIPELINE_BACKEND)

    @field_validator("loras", mode="before")
    @classmethod
    def _lora_shorthand(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [_shorthand(v, ComponentKind.LORA_ADAPTER, LORA_BACKEND) for v in value]
        return value

    @model_validator(mode="after")
    def _kinds(self) -> Self:
        if self.pipeline.kind is not ComponentKind.DIFFUSION_PIPELINE:
            raise ValueError(f"pipeline: expected a diffusion_pipeline, got a {self.pipeline.describe()}")
        for spec in self.loras:
            if spec.kind is not ComponentKind.LORA_ADAPTER:
                raise ValueError(f"loras: expected lora_adapter specs, got a {spec.describe()}")
        return self


ParamsT = TypeVar("ParamsT", bound=DiffusionParams)


def _sdxl_conditioning(pipe: Any, height: int | None, width: int | None,
                       negative_prompt: str | None) -> dict[str, Any] | None:
    """What an SDXL pipeline is conditioned on besides the prompt, which SD 1.x/2.x have no notion of; None for those.

    SDXL's UNet also takes the pooled text embedding of the second encoder and six size ids: the original
    size, the crop's top-left corner and the target size, as (height, width). They are passed explicitly (the
    image's size, no crop: diffusers' defaults) so that the record states what the image was made with. The
    prompt and the negative prompt go to both text encoders; with no negative prompt, a folder whose
    `force_zeros_for_empty_prompt` is set (SDXL base) uses zero embeddings instead of encoding "" as SD 1.x does.
    """
    if getattr(pipe, "text_encoder_2", None) is None or not hasattr(pipe, "_get_add_time_ids"):
        return None
    default = pipe.default_sample_size * pipe.vae_scale_factor
    size = [height or default, width or default]
    zeros = negative_prompt is None and bool(pipe.config.get("force_zeros_for_empty_prompt", False))
    return {"original_size": size, "crops_coords_top_left": [0, 0], "target_size": size,
            "negative_conditioning": "zeros" if zeros else "encoded by both text encoders"}


class DiffusionGenerator(Generator[ParamsT]):
    """Base of the diffusion generators: subclasses name their `task` and add pipeline inputs per request."""

    task: ClassVar[str]

    def _setup(self, ctx: StepContext) -> None:
        require_dicom(self.name, self.params.format)
        resolved = ctx.component(self.params.pipeline)
        self._pipeline = resolved.component
        self._model_ref: ModelRef = resolved.model_ref
        adapters, self._lora_refs = [], []
        for i, spec in enumerate(self.params.loras):
            lora = ctx.component(spec)
            adapters.append((f"lora{i}", lora.component.file, lora.component.scale))
            self._lora_refs.append({**lora.model_ref.model_dump(mode="json"), "scale": lora.component.scale})
        self._pipeline.load_loras(adapters)
        self._prompts = PromptBuilder(self.params.prompt, self.name)
        self._prompts.setup(ctx)
        self._task_setup(ctx)

    def _task_setup(self, ctx: StepContext) -> None:
        """Hook: read the task's inputs once per step."""

    def _task_inputs(self, request: SampleRequest) -> tuple[dict[str, Any], dict[str, Any]]:
        """Hook: the pipeline arguments this task adds (input image, mask, strength) and what it records of them."""
        return {}, {}

    def _generate(self, requests: list[SampleRequest], ctx: StepContext) -> list[Draft | GenerationError]:
        prompts = self._prompts.build(requests, ctx)
        outcomes: list[Draft | GenerationError] = []
        for request, prompt in zip(requests, prompts, strict=True):
            if isinstance(prompt, GenerationError):
                outcomes.append(prompt)
                continue
            try:
                outcomes.append(self._image(request, prompt, ctx))
            except GenerationError as err:
                outcomes.append(err)
        return outcomes

    def _image(self, request: SampleRequest, prompt: ImagePrompt, ctx: StepContext) -> Draft:
        import torch

        params = self.params
        pipe = self._pipeline.for_task(self.task, params.scheduler)
        image_seed = derive_seed(request.seed, "image")
        generator = torch.Generator(device="cpu").manual_seed(image_seed)
        inputs, input_facts = self._task_inputs(request)
        kwargs: dict[str, Any] = {"prompt": prompt.text, "negative_prompt": params.negative_prompt,
                                  "num_inference_steps": params.steps, "guidance_scale": params.guidance,
                                  "generator": generator, "output_type": "pil", **inputs}
        sdxl: dict[str, Any] | None = None
        if self.task == "text_to_image":  # the other tasks take their size from the input image
            kwargs.update({k: v for k, v in (("width", params.width), ("height", params.height)) if v is not None})
            sdxl = _sdxl_conditioning(pipe, params.height, params.width, params.negative_prompt)
            if sdxl is not None:
                kwargs.update({k: tuple(sdxl[k]) for k in ("original_size", "crops_coords_top_left", "target_size")})
        try:
            image = pipe(**kwargs).images[0]
        except (ValueError, RuntimeError) as err:
            raise GenerationError(f"{self.name}: the pipeline failed: {err}") from None
        if params.grayscale:
            image = image.convert("L")
        extra: dict[str, Any] = {
            "image_seed": image_seed, "scheduler": params.scheduler or type(pipe.scheduler).__name__,
            "scheduler_class": type(pipe.scheduler).__name__, "steps": params.steps, "guidance": params.guidance,
            "negative_prompt": params.negative_prompt, "width": image.width, "height": image.height,
            "pipeline_class": type(pipe).__name__, "loras": self._lora_refs, **input_facts,
        }
        if sdxl is not None:
            extra["sdxl"] = sdxl
        if prompt.attributes is not None:
            extra["attributes"] = prompt.attributes
        if prompt.writer is not None:
            extra["prompt_writer"] = prompt.writer
        strategy = (Strategy.DIFFUSION,) + ((Strategy.ATTRIBUTE_SAMPLING,) if prompt.attributes is not None else ())
        draft = Draft(payload=placeholder(image.width, image.height), labels=prompt.labels, model=self._model_ref,
                      prompt=prompt.ref, strategy=strategy, extra=extra)
        media = write_image(self, request, image, draft, ctx, fmt=params.format, dicom=params.dicom,
                            model_name=self._model_ref.name)
        caption = None if prompt.ref.redacted else prompt.text
        payload = ImagePayload(media=media, width=image.width, height=image.height, caption=caption)
        return draft.model_copy(update={"payload": payload})
