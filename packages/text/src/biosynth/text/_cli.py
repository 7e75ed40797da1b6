"""`biosynth text ...`: fine-tune a causal LM for synthetic text generation.

Registered under the `biosynth.cli` entry-point group; torch and transformers are imported only once a
command runs, so `biosynth --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from biosynth.core import InputDataError, read_marker
from biosynth.text._finetune.config import (
    FinetuneColumns,
    FinetuneMode,
    base_model_backend,
    build_config,
    check_output_folder,
)
from biosynth.text._finetune.data import read_corpus

app = typer.Typer(name="text", no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Clinical text: fine-tune language models for synthetic text generation.")


@app.callback()
def _group() -> None:
    """Clinical text: fine-tune language models for synthetic text generation."""


@app.command("finetune")
def finetune_command(  # one option per FinetuneConfig field; typer needs them spelled out
    data: Annotated[list[Path], typer.Argument(help="JSONL or CSV files, or folders of .txt files")],
    out: Annotated[Path, typer.Option("--out", "-o", help="new folder for the fine-tuned model")],
    base_model: Annotated[str | None, typer.Option(
        help="model folder (safetensors) or .gguf file; default: the embedded SmolLM2-135M-Instruct")] = None,
    gguf_file: Annotated[str | None, typer.Option(help="a .gguf file inside the --base-model folder")] = None,
    mode: Annotated[FinetuneMode, typer.Option(help="how the corpus is used")] = FinetuneMode.DOMAIN_ADAPTIVE,
    text_column: Annotated[str, typer.Option(help="text field (task- and domain-adaptive)")] = "text",
    label_column: Annotated[str, typer.Option(help="label field (task-adaptive)")] = "label",
    prompt_column: Annotated[str, typer.Option(help="prompt field (instruction)")] = "prompt",
    response_column: Annotated[str, typer.Option(help="response field (instruction)")] = "response",
    label_prefix: Annotated[str, typer.Option(help="task-adaptive: text before each document, with {label}")] = "{label}",
    system_prompt: Annotated[str | None, typer.Option(help="instruction: a system message before every prompt")] = None,
    chat_template: Annotated[Path | None, typer.Option(help="a Jinja chat template file replacing the tokenizer's")] = None,
    keep_chat_template: Annotated[bool | None, typer.Option(
        "--keep-chat-template/--drop-chat-template",
        help="keep the chat template in the output (default: dropped for task-adaptive only)")] = None,
    lora: Annotated[bool, typer.Option("--lora", help="train a LoRA adapter (pip install 'biosynth-text[finetune]')")] = False,
    lora_r: Annotated[int, typer.Option(min=1)] = 8,
    lora_alpha: Annotated[int, typer.Option(min=1)] = 16,
    lora_dropout: Annotated[float, typer.Option(min=0.0)] = 0.05,
    lora_target: Annotated[list[str] | None, typer.Option(
        help="module name to adapt (repeatable); default: every linear layer but the output")] = None,
    merge_adapter: Annotated[bool, typer.Option(
        "--merge-adapter/--no-merge-adapter", help="LoRA: merge the adapter into the saved weights")] = True,
    keep_adapter: Annotated[bool, typer.Option("--keep-adapter", help="LoRA: also save the adapter alone")] = False,
    epochs: Annotated[int, typer.Option(min=1)] = 1,
    max_steps: Annotated[int | None, typer.Option(min=1, help="stop after this many steps (overrides --epochs)")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 4,
    gradient_accumulation: Annotated[int, typer.Option(min=1)] = 1,
    learning_rate: Annotated[float | None, typer.Option(help="default: 5e-5 full, 2e-4 LoRA")] = None,
    weight_decay: Annotated[float, typer.Option(min=0.0)] = 0.0,
    warmup_steps: Annotated[int, typer.Option(min=0)] = 0,
    max_grad_norm: Annotated[float, typer.Option(help="gradient clipping; 0 turns it off")] = 1.0,
    max_length: Annotated[int | None, typer.Option(help="tokens per sequence (default: min(1024, context))")] = None,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    dtype: Annotated[str, typer.Option(help="float32 or bfloat16")] = "float32",
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N or auto")] = "cpu",
    threads: Annotated[int | None, typer.Option(min=1, help="torch CPU threads (1 is fastest on a busy machine)")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace an existing non-empty --out")] = False,
) -> None:
    """Fine-tune a causal LM on DATA and write a model folder that the `transformers` backend loads."""
    template = None
    if chat_template is not None:
        try:
            template = chat_template.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise InputDataError(f"--chat-template {str(chat_template)!r} could not be read ({err})") from None
    config = build_config(
        data=tuple(data), out=out, base_model=base_model, gguf_file=gguf_file, mode=mode,
        columns=FinetuneColumns(text=text_column, label=label_column, prompt=prompt_column, response=response_column),
        label_prefix=label_prefix, system_prompt=system_prompt, chat_template=template,
        keep_chat_template=keep_chat_template, lora=lora, lora_r=lora_r, lora_alpha=lora_alpha,
        lora_dropout=lora_dropout, lora_target_modules=tuple(lora_target) if lora_target else None,
        merge_adapter=merge_adapter, keep_adapter=keep_adapter, epochs=epochs, max_steps=max_steps,
        batch_size=batch_size, gradient_accumulation=gradient_accumulation, learning_rate=learning_rate,
        weight_decay=weight_decay, warmup_steps=warmup_steps, max_grad_norm=max_grad_norm or None,
        max_length=max_length, seed=seed, dtype=dtype, device=device, threads=threads, overwrite=overwrite,
    )
    check_output_folder(config.out, overwrite=config.overwrite)
    corpus = read_corpus(config.data, config.mode, config.columns)
    base_model_backend(config)  # the base model's files, checked before torch loads
    from biosynth.text._finetune.training import finetune_corpus  # torch and transformers: once options and data are sound

    try:
        folder = finetune_corpus(config, corpus)
    except KeyboardInterrupt:
        typer.echo("interrupted: no output folder was written", err=True)
        raise typer.Exit(130) from None
    record = read_marker(folder)
    loss = record["loss"]
    typer.echo(f"{record['examples']} examples, {record['steps']} steps ({record['epochs']:g} epochs), loss "
               f"{loss['first']:.4f} -> {loss['final']:.4f}; weights sha256 {record['weights_sha256']} -> {folder}")
