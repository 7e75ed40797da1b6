"""The options of `biosynth image finetune`, the ones users know from diffusers' `train_text_to_image_lora.py`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from biosynth.core import ConfigError

MODEL_KIND = "image_lora"
MODEL_FORMAT = 1
LrSchedule = Literal["constant", "constant_with_warmup", "linear", "cosine", "cosine_with_restarts", "polynomial"]


class ImageFinetuneConfig(BaseModel):
    """One fine-tuning run: data, base pipeline, LoRA, optimisation, augmentation, checkpoints and validation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data: Path = Field(description="a folder of images with metadata.jsonl / captions.csv, or class sub-folders")
    out: Path
    base: Path = Field(description="the diffusers Stable Diffusion folder to adapt")
    caption_column: str = "text"
    image_column: str = "file_name"
    class_prompt: str = Field("$label", description="class sub-folders: the caption, with $label for the folder name")
    rank: int = Field(4, ge=1, le=256)
    train_text_encoder: bool = False
    learning_rate: float = Field(1e-4, gt=0)
    lr_scheduler: LrSchedule = "constant"
    warmup_steps: int = Field(0, ge=0)
    max_steps: int = Field(100, ge=1)
    batch_size: int = Field(1, ge=1)
    gradient_accumulation: int = Field(1, ge=1)
    max_grad_norm: float = Field(1.0, ge=0.0)
    resolution: int = Field(512, ge=8, multiple_of=8)
    center_crop: bool = False
    random_flip: bool = False
    snr_gamma: float | None = Field(None, gt=0, description="Min-SNR weighting (5.0 is the paper's choice)")
    noise_offset: float = Field(0.0, ge=0.0)
    prediction_type: Literal["epsilon", "v_prediction"] | None = Field(None, description="default: the scheduler's")
    checkpoint_every: int | None = Field(None, ge=1, description="save a resumable checkpoint every N steps")
    resume: bool = Field(False, description="continue from the latest checkpoint in <out>.checkpoints/")
    validation_prompts: tuple[str, ...] = ()
    validation_every: int | None = Field(None, ge=1, description="render the validation prompts every N steps")
    validation_steps: int = Field(20, ge=1, description="inference steps of a validation image")
    seed: int = Field(0, ge=0)
    device: str = "cpu"
    threads: int | None = Field(None, ge=1)
    overwrite: bool = False

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.validation_every is not None and not self.validation_prompts:
            raise ValueError("validation_every needs at least one validation prompt")
        return self

    @property
    def checkpoints(self) -> Path:
        """Where resumable checkpoints go: beside the output, never inside the atomically written folder."""
        return self.out.parent / f"{self.out.name}.checkpoints"


def build_config(**values: object) -> ImageFinetuneConfig:
    """A config from keyword values; invalid values become one ConfigError naming each field."""
    try:
        return ImageFinetuneConfig.model_validate(values)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in err.errors())
        raise ConfigError(f"fine-tuning options: {problems}") from None
