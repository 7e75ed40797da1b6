"""What `biosynth text finetune` is asked to do: one frozen configuration (light: no torch import)."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from biosynth.core import ConfigError, check_model_target
from biosynth.text._backends.transformers import TransformersConfig, _resolve_source


class FinetuneMode(StrEnum):
    """How the corpus is turned into training sequences."""

    TASK_ADAPTIVE = "task-adaptive"  # "<label>\n\n<text>": sampling is conditioned on the label
    DOMAIN_ADAPTIVE = "domain-adaptive"  # plain domain text, causal LM
    INSTRUCTION = "instruction"  # prompt/response pairs in the chat template, loss on the response only


class FinetuneColumns(BaseModel):
    """Names of the fields read from JSONL objects and CSV columns."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str = "text"
    label: str = "label"
    prompt: str = "prompt"
    response: str = "response"


class FinetuneConfig(BaseModel):
    """A fine-tuning run: base model, corpus, mode, method, hyperparameters, output folder."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data: tuple[Path, ...] = Field(min_length=1, description="JSONL or CSV files, or folders of .txt files")
    out: Path = Field(description="output model folder (written atomically)")
    base_model: str | None = Field(
        None, description="a model folder (safetensors), a .gguf file; None: the embedded SmolLM2-135M-Instruct")
    gguf_file: str | None = Field(None, description="a .gguf file inside the `base_model` folder")
    mode: FinetuneMode = FinetuneMode.DOMAIN_ADAPTIVE
    columns: FinetuneColumns = FinetuneColumns()
    label_prefix: str = Field(
        "{label}", description="task-adaptive: the text put before each document ('{label}' is replaced); "
                               "a blank line separates it from the document")
    system_prompt: str | None = Field(None, description="instruction: a system message put before every prompt")
    chat_template: str | None = Field(None, description="a Jinja chat template replacing the tokenizer's")
    keep_chat_template: bool | None = Field(
        None, description="keep the tokenizer's chat template in the output; None: dropped for task-adaptive "
                          "(so a recipe's prompt is the plain label prefix), kept otherwise")
    # method
    lora: bool = Field(False, description="train a LoRA adapter (needs biosynth-text[finetune]) instead of all weights")
    lora_r: int = Field(8, ge=1)
    lora_alpha: int = Field(16, ge=1)
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0)
    lora_target_modules: tuple[str, ...] | None = Field(None, description="None: every linear layer but the output")
    merge_adapter: bool = Field(True, description="LoRA: merge the adapter into the saved weights (a plain model)")
    keep_adapter: bool = Field(False, description="LoRA: also save the adapter alone in <out>/adapter/")
    # hyperparameters
    epochs: int = Field(1, ge=1)
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimizer steps (overrides epochs)")
    batch_size: int = Field(4, ge=1)
    gradient_accumulation: int = Field(1, ge=1)
    learning_rate: float | None = Field(None, gt=0.0, description="None: 5e-5 for full fine-tuning, 2e-4 for LoRA")
    weight_decay: float = Field(0.0, ge=0.0)
    warmup_steps: int = Field(0, ge=0)
    max_grad_norm: float | None = Field(1.0, gt=0.0)
    max_length: int | None = Field(None, ge=2, description="tokens per sequence; None: min(1024, model context)")
    seed: int = Field(0, ge=0)
    # runtime (recorded, not part of the result's identity)
    dtype: Literal["float32", "bfloat16"] = "float32"
    device: str = Field("cpu", description="'cpu', 'cuda', 'cuda:N' or 'auto'")
    threads: int | None = Field(None, ge=1, description="torch CPU threads (torch.set_num_threads)")
    overwrite: bool = Field(False, description="replace an existing non-empty output folder")

    @field_validator("device")
    @classmethod
    def _torch_device(cls, value: str) -> str:
        """Checked here, so a typo is refused before the base model loads (torch is imported only for rare names)."""
        if re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", value):
            return value
        import torch

        try:
            torch.device(value)
        except (RuntimeError, ValueError):
            raise ValueError(f"{value!r} is not a torch device; expected 'cpu', 'cuda', 'cuda:N' or 'auto'") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if "{label}" not in self.label_prefix:
            raise ValueError("label_prefix must contain '{label}'")
        if not self.lora and (self.keep_adapter or not self.merge_adapter):
            raise ValueError("keep_adapter and merge_adapter apply to LoRA only (set lora)")
        if self.lora and not self.merge_adapter and not self.keep_adapter:
            raise ValueError("with merge_adapter off, set keep_adapter, or nothing would be saved")
        if self.gguf_file is not None and self.base_model is None:
            raise ValueError("gguf_file names a file inside base_model; give base_model too")
        return self

    @property
    def effective_learning_rate(self) -> float:
        return self.learning_rate if self.learning_rate is not None else (2e-4 if self.lora else 5e-5)

    @property
    def method(self) -> str:
        return "lora" if self.lora else "full"


def build_config(**values: object) -> FinetuneConfig:
    """A FinetuneConfig from keyword values; invalid values become one ConfigError naming each field."""
    try:
        return FinetuneConfig.model_validate(values)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg'].removeprefix('Value error, ')}"
                             for e in err.errors())
        raise ConfigError(f"fine-tuning options: {problems}") from None


def check_output_folder(out: Path, *, overwrite: bool) -> None:
    """Refuse, before any training, what core's `write_model_folder` will refuse when the model is saved."""
    check_model_target(out, replace=overwrite, what="output folder")


def base_model_backend(config: FinetuneConfig) -> TransformersConfig:
    """The `transformers` backend's settings for the base model, its files checked without torch (a missing
    config.json, a truncated safetensors or GGUF file is named before torch and transformers load); a hub id is
    refused: fine-tuning needs a local model, whose weights are hashed into the model card."""
    backend = TransformersConfig.model_validate({
        "model": config.base_model, "gguf_file": config.gguf_file, "dtype": config.dtype, "device": config.device,
        "num_threads": config.threads})
    if _resolve_source(backend).kind == "hub":
        raise ConfigError(f"base model {config.base_model!r} is not a local folder or .gguf file; fine-tuning needs a "
                          "local model (its weights are hashed into the model card)")
    return backend
