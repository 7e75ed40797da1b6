"""`finetune(config)`: task-adaptive, domain-adaptive or instruction tuning of a causal LM, full or LoRA.

The output is a plain transformers model folder (safetensors, tokenizer, model card with the training
provenance) written by core's `write_model_folder`: staged, then renamed into place, with the training
record in its marker `biosynth_model.json` (kind `finetuned_lm`). The `transformers` backend loads it like
any other folder.
"""

from __future__ import annotations

import logging
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import torch
from torch.nn import functional as F
from transformers import PreTrainedModel, get_linear_schedule_with_warmup

from biosynth.core import ConfigError, seeded_torch, software_versions, weights_sha256, write_model_folder
from biosynth.text._backends.transformers import TransformersLanguageModel, _max_positions
from biosynth.text._finetune.config import FinetuneConfig, FinetuneMode, base_model_backend, check_output_folder
from biosynth.text._finetune.data import Corpus, read_corpus
from biosynth.text._finetune.encode import Encoded, Sequence, encode_corpus, prompt_format
from biosynth.text._finetune.model_card import (
    CARD_FILE,
    MODEL_FORMAT,
    MODEL_KIND,
    BaseModelInfo,
    DataFileInfo,
    FinetuneRecord,
    LossInfo,
    render_card,
)

log = logging.getLogger("biosynth.text")

FINETUNE_HINT = "pip install 'biosynth-text[finetune]'"
_IGNORE = -100  # label of positions without loss (prompt, padding)


class TrainingProgress(Protocol):
    def start(self, total_steps: int) -> None: ...
    def update(self, step: int, loss: float) -> None: ...
    def end(self) -> None: ...


def finetune(config: FinetuneConfig, *, progress: TrainingProgress | None = None) -> Path:
    """Fine-tune `config.base_model` on `config.data` and write the model folder `config.out` atomically.

    Returns the output folder. User errors (bad data, missing model, existing output) raise biosynth
    errors before any training; an interrupted run leaves no output folder behind.
    """
    check_output_folder(config.out, overwrite=config.overwrite)
    return finetune_corpus(config, read_corpus(config.data, config.mode, config.columns), progress=progress)


def finetune_corpus(config: FinetuneConfig, corpus: Corpus, *, progress: TrainingProgress | None = None) -> Path:
    """`finetune` on a corpus already read from `config.data` (the CLI reads it before importing torch)."""
    started = time.perf_counter()
    check_output_folder(config.out, overwrite=config.overwrite)
    if config.lora:
        _require_peft()
    base = _load_base(config)
    model, tokenizer = base.model, base.tokenizer
    if config.chat_template:
        tokenizer.chat_template = config.chat_template
    context = _max_positions(model)
    max_length = config.max_length or min(1024, context or 1024)
    if context is not None and max_length > context:
        raise ConfigError(f"max_length {max_length} exceeds the base model's context of {context} tokens")
    encoded = encode_corpus(corpus, tokenizer, config, max_length)
    log.info("fine-tuning %s (%s, %s): %d examples from %d source(s) in %d sequences of at most %d tokens "
             "(%d truncated, %d split)", base.model_ref.name, config.mode.value, config.method, len(corpus.examples),
             len(corpus.sources), len(encoded.sequences), max_length, encoded.truncated, encoded.split)

    with seeded_torch(config.seed):  # LoRA's initial weights and dropout draw from the global generator
        trainable: torch.nn.Module = _with_lora(model, config) if config.lora else model
        pad_id = base._pad_id
        result = _train(trainable, encoded, config, pad_id=pad_id, device=base._device,
                        progress=progress or default_progress())
    trainable.eval()

    keep_template = config.keep_chat_template
    if keep_template is None:
        keep_template = config.mode is not FinetuneMode.TASK_ADAPTIVE
    labels = corpus.label_counts if config.mode is FinetuneMode.TASK_ADAPTIVE else None
    def write(staging: Path) -> dict[str, Any]:
        weights_sha, adapter_sha = _save_weights(trainable, staging, config)
        if not keep_template:
            tokenizer.chat_template = None
        tokenizer.save_pretrained(staging)
        ref = base.model_ref
        record = FinetuneRecord(
            created=datetime.now(UTC), mode=config.mode.value, method="lora" if config.lora else "full",
            saved="merged" if (not config.lora or config.merge_adapter) else "adapter",
            base_model=BaseModelInfo(name=ref.name, source=base._source.location, gguf_file=base._source.gguf_file,
                                     sha256=ref.sha256, revision=ref.revision, license=ref.license),
            data=tuple(DataFileInfo(path=s.path, kind=s.kind, sha256=s.sha256, rows=s.rows) for s in corpus.sources),
            examples=len(corpus.examples), sequences=len(encoded.sequences), truncated_examples=encoded.truncated,
            split_examples=encoded.split,
            trained_tokens_per_epoch=encoded.trained_tokens, labels=labels,
            prompt_format=prompt_format(config, labels, keeps_template=keep_template),
            hyperparameters=_hyperparameters(config, max_length), config=config.model_dump(mode="json"),
            seed=config.seed, steps=result.steps,
            epochs=round(result.epochs, 4),
            loss=LossInfo(first=result.losses[0], final=result.losses[-1], per_epoch=result.per_epoch,
                          per_step=result.losses),
            weights_sha256=weights_sha, adapter_sha256=adapter_sha, libraries=_libraries(config.lora),
            device=str(base._device), threads=torch.get_num_threads(),
            duration_s=round(time.perf_counter() - started, 2),
        )
        (staging / CARD_FILE).write_text(render_card(record, title=config.out.resolve().name), encoding="utf-8")
        # The folder's fingerprint (what samples record as the model's sha256) covers the card too.
        return {**record.model_dump(mode="json"), "model_sha256": weights_sha256(staging)}

    write_model_folder(config.out, MODEL_KIND, MODEL_FORMAT, write, allowed_suffixes=None, replace=config.overwrite)
    log.info("fine-tuned in %d steps, loss %.4f -> %.4f; wrote %s", result.steps, result.losses[0],
             result.losses[-1], config.out)
    return config.out


# -- loading -----------------------------------------------------------------------------------
def _load_base(config: FinetuneConfig) -> TransformersLanguageModel:
    """The base model through the `transformers` backend's loader (safetensors or GGUF, never remote code)."""
    backend_config = base_model_backend(config)
    base = TransformersLanguageModel(backend_config)
    _make_dense(base.model, backend_config.model or "the embedded model")
    return base


def _make_dense(model: PreTrainedModel, name: str) -> None:
    """Drop the quantizer that transformers attaches to a model read from GGUF once its weights are dequantized
    (it marks the model as not serializable); refuse a model whose weights are still packed."""
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is None:
        return
    method = str(getattr(quantizer.quantization_config, "quant_method", "unknown"))
    if "gguf" in method.lower() and not getattr(quantizer, "packed_modules", None):  # every weight dequantized
        quantizer.remove_quantization_config(model)
        return
    raise ConfigError(f"base model {name!r} was loaded with quantized weights ({method}), which cannot be trained "
                      "or saved as safetensors; give a dense model (with GGUF: uninstall the `kernels` package, "
                      "so that transformers dequantizes the file)")


def _require_peft() -> None:
    try:
        import peft  # noqa: F401
    except ImportError:
        raise ConfigError(f"LoRA fine-tuning needs the peft package: {FINETUNE_HINT}") from None


def _with_lora(model: PreTrainedModel, config: FinetuneConfig) -> torch.nn.Module:
    from peft import LoraConfig, get_peft_model

    targets: list[str] | str = list(config.lora_target_modules) if config.lora_target_modules else "all-linear"
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=targets, task_type="CAUSAL_LM")
    try:
        return get_peft_model(model, lora)
    except ValueError as err:  # e.g. target modules that the model does not have
        raise ConfigError(f"LoRA could not be applied to the base model ({err}); check lora_target_modules") from None


# -- training ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Result:
    steps: int
    epochs: float
    losses: tuple[float, ...]
    per_epoch: tuple[float, ...]


def _train(model: torch.nn.Module, encoded: Encoded, config: FinetuneConfig, *, pad_id: int, device: torch.device,
           progress: TrainingProgress) -> _Result:
    """AdamW with a linear schedule; the loss is the mean over the trained tokens of each optimizer step.

    A plain torch loop rather than transformers' Trainer: Trainer brings accelerate's launcher, its own
    data pipeline and checkpoint/log folders; this loop is short, starts at once, masks the prompt tokens
    itself, and gives bitwise-equal weights for equal seeds and data on one device.
    """
    sequences = encoded.sequences
    n = len(sequences)
    batches_per_epoch = math.ceil(n / config.batch_size)
    steps_per_epoch = math.ceil(batches_per_epoch / config.gradient_accumulation)
    total = config.max_steps or steps_per_epoch * config.epochs
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=config.effective_learning_rate, weight_decay=config.weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, config.warmup_steps, total)
    order_rng = torch.Generator().manual_seed(config.seed)
    losses: list[float] = []
    per_epoch: list[float] = []
    model.train()
    progress.start(total)
    try:
        while len(losses) < total:
            order = torch.randperm(n, generator=order_rng).tolist()
            batches = [[sequences[i] for i in order[s : s + config.batch_size]] for s in range(0, n, config.batch_size)]
            epoch_losses: list[float] = []
            for g in range(0, len(batches), config.gradient_accumulation):
                group = batches[g : g + config.gradient_accumulation]
                collated = [_collate(batch, pad_id, device) for batch in group]
                tokens = sum(int((labels[:, 1:] != _IGNORE).sum()) for _, _, labels in collated)
                step_loss = 0.0
                for ids, mask, labels in collated:
                    logits = model(input_ids=ids, attention_mask=mask, use_cache=False).logits
                    loss = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(),
                                           ignore_index=_IGNORE, reduction="sum") / tokens
                    loss.backward()
                    step_loss += float(loss.detach())
                if not math.isfinite(step_loss):
                    raise ConfigError(f"the training loss became {step_loss} at step {len(losses) + 1}; lower the "
                                      "learning rate (or use dtype float32)")
                if config.max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(parameters, config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(step_loss)
                epoch_losses.append(step_loss)
                progress.update(len(losses), step_loss)
                if len(losses) >= total:
                    break
            per_epoch.append(sum(epoch_losses) / len(epoch_losses))
    finally:
        progress.end()
    return _Result(steps=len(losses), epochs=len(losses) / steps_per_epoch, losses=tuple(losses),
                   per_epoch=tuple(per_epoch))


def _collate(batch: list[Sequence], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ids, attention mask, and labels (-100 on prompt and padding)."""
    width = max(len(s.input_ids) for s in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), _IGNORE, dtype=torch.long)
    for row, sequence in enumerate(batch):
        length = len(sequence.input_ids)
        ids[row, :length] = torch.tensor(sequence.input_ids)
        mask[row, :length] = 1
        labels[row, sequence.prompt_length : length] = ids[row, sequence.prompt_length : length]
    return ids.to(device), mask.to(device), labels.to(device)


# -- saving ------------------------------------------------------------------------------------
def _save_weights(model: torch.nn.Module, folder: Path, config: FinetuneConfig) -> tuple[str | None, str | None]:
    """Save merged weights (and/or the LoRA adapter); return the sha256 of the weights and of the adapter."""
    adapter_sha: str | None = None
    if config.lora:
        from peft import PeftModel

        assert isinstance(model, PeftModel)
        if config.keep_adapter:
            adapter_dir = folder if not config.merge_adapter else folder / "adapter"
            model.save_pretrained(str(adapter_dir), safe_serialization=True)
            adapter_sha = weights_sha256(adapter_dir / "adapter_model.safetensors")
        if not config.merge_adapter:
            return None, adapter_sha
        model = model.merge_and_unload()
    assert isinstance(model, PreTrainedModel)
    model.save_pretrained(folder, safe_serialization=True)
    shards = sorted(folder.glob("*.safetensors"))
    weights = shards[0] if len(shards) == 1 else folder  # the weights file, or (shards) the folder so far
    return weights_sha256(weights), adapter_sha


# -- provenance --------------------------------------------------------------------------------
def _hyperparameters(config: FinetuneConfig, max_length: int) -> dict[str, Any]:
    values: dict[str, Any] = {
        "epochs": config.epochs, "max_steps": config.max_steps, "batch_size": config.batch_size,
        "gradient_accumulation": config.gradient_accumulation, "learning_rate": config.effective_learning_rate,
        "optimizer": "AdamW", "scheduler": "linear", "warmup_steps": config.warmup_steps,
        "weight_decay": config.weight_decay, "max_grad_norm": config.max_grad_norm, "max_length": max_length,
        "dtype": config.dtype,
    }
    if config.mode is FinetuneMode.TASK_ADAPTIVE:
        values["label_prefix"] = config.label_prefix
    if config.mode is FinetuneMode.INSTRUCTION and config.system_prompt:
        values["system_prompt"] = config.system_prompt
    if config.lora:
        values.update(lora_r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      lora_target_modules=list(config.lora_target_modules or ["all-linear"]),
                      merge_adapter=config.merge_adapter, keep_adapter=config.keep_adapter)
    return values


def _libraries(lora: bool) -> dict[str, str]:
    names = ["biosynth-core", "biosynth-text", "torch", "transformers", "tokenizers", "safetensors"]
    return {"python": platform.python_version(), **software_versions([*names, *(["peft"] if lora else [])])}


# -- progress ----------------------------------------------------------------------------------
class LogTrainingProgress:
    """Log lines, about twenty per run (CI, pipes, files)."""

    def __init__(self) -> None:
        self._total = 0

    def start(self, total_steps: int) -> None:
        self._total = total_steps
        log.info("fine-tuning: %d steps", total_steps)

    def update(self, step: int, loss: float) -> None:
        if step == self._total or step % max(1, self._total // 20) == 0:
            log.info("fine-tuning: step %d/%d, loss %.4f", step, self._total, loss)

    def end(self) -> None:
        pass


class BarTrainingProgress:
    """A rich progress bar with the last loss (interactive terminals)."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(TextColumn("[bold]fine-tuning"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn())
        self._task: Any = None

    def start(self, total_steps: int) -> None:
        self._bar.start()
        self._task = self._bar.add_task("fine-tuning", total=total_steps, loss="-")

    def update(self, step: int, loss: float) -> None:
        self._bar.update(self._task, completed=step, loss=f"{loss:.4f}")

    def end(self) -> None:
        self._bar.stop()


def default_progress() -> TrainingProgress:
    """A bar when stderr is an interactive terminal outside CI, else log lines."""
    if sys.stderr.isatty() and not os.environ.get("CI"):
        return BarTrainingProgress()
    return LogTrainingProgress()
