"""The training provenance of a fine-tuned model: the record kept in the folder's marker
(`biosynth_model.json`, kind `finetuned_lm`; earlier releases wrote `biosynth_finetune.json`) and a model
card (README.md)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from biosynth.core import MARKER, ConfigError, InputDataError, check_model_folder, is_model_folder, sha256_file

MODEL_KIND = "finetuned_lm"
MODEL_FORMAT = 1
LEGACY_RECORD_FILE = "biosynth_finetune.json"  # the record of folders written before core's marker
CARD_FILE = "README.md"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BaseModelInfo(_Frozen):
    name: str
    source: str = Field(description="the folder or file it was loaded from")
    gguf_file: str | None = None
    sha256: str | None = Field(None, description="sha256 of the GGUF file or of the *.safetensors weights")
    revision: str | None = None
    license: str | None = None


class DataFileInfo(_Frozen):
    path: str
    kind: str
    sha256: str
    rows: int


class LossInfo(_Frozen):
    first: float
    final: float
    per_epoch: tuple[float, ...]
    per_step: tuple[float, ...]


class FinetuneRecord(_Frozen):
    """Everything needed to tell how a fine-tuned model was made (kept in the folder's marker)."""

    format: Literal["biosynth-finetune/1"] = "biosynth-finetune/1"
    created: datetime
    mode: str
    method: Literal["full", "lora"]
    saved: Literal["merged", "adapter"] = Field(description="merged weights, or (LoRA) the adapter alone")
    base_model: BaseModelInfo
    data: tuple[DataFileInfo, ...]
    examples: int
    sequences: int = Field(description="training sequences (more than examples when long documents were split)")
    truncated_examples: int
    split_examples: int
    trained_tokens_per_epoch: int
    labels: dict[str, int] | None = None
    prompt_format: str
    hyperparameters: dict[str, Any]
    config: dict[str, Any] = Field(description="the FinetuneConfig as given (to repeat the run)")
    seed: int
    steps: int
    epochs: float
    loss: LossInfo
    weights_sha256: str | None = Field(description="core `weights_sha256` of the saved weights file (or, "
                                                   "sharded, of the folder as saved by save_pretrained)")
    adapter_sha256: str | None = Field(None, description="core `weights_sha256` of adapter_model.safetensors")
    libraries: dict[str, str]
    device: str
    threads: int
    duration_s: float


def render_card(record: FinetuneRecord, *, title: str) -> str:
    """A Hugging Face style model card: YAML front matter (license, base model, provenance) and a summary."""
    front: dict[str, Any] = {
        "license": record.base_model.license or "other",
        "base_model": record.base_model.name,
        "library_name": "transformers",
        "pipeline_tag": "text-generation",
        "tags": ["biosynth", "synthetic-data", "fine-tuned", record.mode, record.method],
        "biosynth": {
            "format": record.format, "created": record.created.isoformat(), "mode": record.mode,
            "method": record.method, "saved": record.saved,
            "base_model": record.base_model.model_dump(mode="json"),
            "data": [d.model_dump(mode="json") for d in record.data],
            "seed": record.seed, "steps": record.steps, "epochs": record.epochs,
            "final_loss": record.loss.final, "per_epoch_loss": list(record.loss.per_epoch),
            "weights_sha256": record.weights_sha256, "adapter_sha256": record.adapter_sha256,
            "hyperparameters": record.hyperparameters, "libraries": record.libraries,
        },
    }
    base = record.base_model
    lines = [
        "---", yaml.safe_dump(front, sort_keys=False, allow_unicode=True).rstrip(), "---", "",
        f"# {title}", "",
        f"A {record.mode} fine-tune ({'LoRA' if record.method == 'lora' else 'full'}) of **{base.name}**, made with "
        f"`biosynth text finetune` on {record.created:%Y-%m-%d}. The machine-readable provenance is in "
        f"`{MARKER}`.", "",
        "## How to prompt it", "", record.prompt_format, "",
        "## Training provenance", "",
        "| | |", "|---|---|",
        f"| base model | {base.name} (sha256 `{base.sha256 or 'unknown'}`, license {base.license or 'unknown'}) |",
        f"| mode / method | {record.mode} / {record.method} ({record.saved} weights saved) |",
        f"| examples | {record.examples} in {record.sequences} sequences ({record.truncated_examples} truncated to "
        f"max_length, {record.split_examples} split into windows), {record.trained_tokens_per_epoch} trained "
        "tokens per epoch |",
        f"| steps / epochs | {record.steps} / {record.epochs:g} |",
        f"| loss | first {record.loss.first:.4f}, final {record.loss.final:.4f}; per epoch "
        f"{', '.join(f'{v:.4f}' for v in record.loss.per_epoch)} |",
        f"| seed | {record.seed} |",
        f"| weights sha256 | `{record.weights_sha256 or '-'}` |",
        f"| device / threads / time | {record.device} / {record.threads} / {record.duration_s:.1f} s |",
        f"| libraries | {', '.join(f'{k} {v}' for k, v in record.libraries.items())} |",
        "", "### Training data", "", "| file | kind | rows | sha256 |", "|---|---|---|---|",
        *(f"| {d.path} | {d.kind} | {d.rows} | `{d.sha256}` |" for d in record.data),
    ]
    if record.labels:
        lines += ["", "### Labels", "", "| label | examples |", "|---|---|",
                  *(f"| {label} | {count} |" for label, count in record.labels.items())]
    lines += ["", "### Hyperparameters", "", "| name | value |", "|---|---|",
              *(f"| {k} | {v} |" for k, v in record.hyperparameters.items()), ""]
    return "\n".join(lines)


def read_record(folder: Path) -> tuple[FinetuneRecord, str]:
    """A fine-tuned folder's training record and the sha256 of the file it came from.

    Read from core's marker (checked by `check_model_folder`: kind, format, every file's sha256), or, for
    a folder written before the marker was shared, from its `biosynth_finetune.json`.
    """
    if is_model_folder(folder):
        marker = check_model_folder(folder, MODEL_KIND, MODEL_FORMAT, allowed_suffixes=None)
        source = folder / MARKER
        facts = {k: v for k, v in marker.items() if k in FinetuneRecord.model_fields}
    elif (folder / LEGACY_RECORD_FILE).is_file():
        source = folder / LEGACY_RECORD_FILE
        facts = None
    else:
        raise ConfigError(f"{str(folder)!r} holds no {MARKER}; give a folder written by `biosynth text finetune`")
    try:
        record = (FinetuneRecord.model_validate(facts) if facts is not None
                  else FinetuneRecord.model_validate_json(source.read_bytes()))
    except (OSError, ValidationError) as err:
        raise InputDataError(f"{str(source)!r} does not hold a readable fine-tuning record ({err})") from None
    return record, sha256_file(source)
