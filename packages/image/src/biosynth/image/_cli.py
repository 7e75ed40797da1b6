"""`biosynth image ...`: LoRA fine-tuning of a Stable Diffusion folder.

Registered under the `biosynth.cli` entry-point group; torch and diffusers are imported only once a command
runs, so `biosynth --help` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from biosynth.image._finetune.config import LrSchedule, build_config

app = typer.Typer(name="image", no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Medical images: fine-tune Stable Diffusion with LoRA for synthetic image generation.")


@app.callback()
def _group() -> None:
    """Medical images: fine-tune Stable Diffusion with LoRA for synthetic image generation."""


@app.command("finetune")
def finetune_command(  # one option per ImageFinetuneConfig field; typer needs them spelled out
    data: Annotated[Path, typer.Argument(help="folder of images with metadata.jsonl or captions.csv, or class "
                                              "sub-folders")],
    out: Annotated[Path, typer.Option("--out", "-o", help="new folder for the LoRA adapter")],
    base: Annotated[Path, typer.Option("--base", help="the diffusers Stable Diffusion folder to adapt")],
    caption_column: Annotated[str, typer.Option(help="caption field of metadata.jsonl / captions.csv")] = "text",
    image_column: Annotated[str, typer.Option(help="image file field of metadata.jsonl / captions.csv")] = "file_name",
    class_prompt: Annotated[str, typer.Option(help="class sub-folders: the caption, $label is the folder name")] = "$label",
    rank: Annotated[int, typer.Option(min=1)] = 4,
    train_text_encoder: Annotated[bool, typer.Option("--train-text-encoder", help="LoRA on the text encoder too")] = False,
    learning_rate: Annotated[float, typer.Option()] = 1e-4,
    lr_scheduler: Annotated[str, typer.Option(help="constant, constant_with_warmup, linear, cosine, "
                                                   "cosine_with_restarts, polynomial")] = "constant",
    warmup_steps: Annotated[int, typer.Option(min=0)] = 0,
    max_steps: Annotated[int, typer.Option(min=1)] = 100,
    batch_size: Annotated[int, typer.Option(min=1)] = 1,
    gradient_accumulation: Annotated[int, typer.Option(min=1)] = 1,
    max_grad_norm: Annotated[float, typer.Option(help="gradient clipping; 0 turns it off")] = 1.0,
    resolution: Annotated[int, typer.Option(min=8)] = 512,
    center_crop: Annotated[bool, typer.Option("--center-crop", help="crop the centre (default: a seeded random crop)")] = False,
    random_flip: Annotated[bool, typer.Option("--random-flip", help="flip half the images left-right (seeded)")] = False,
    snr_gamma: Annotated[float | None, typer.Option(help="Min-SNR weighting gamma (e.g. 5.0)")] = None,
    noise_offset: Annotated[float, typer.Option(min=0.0)] = 0.0,
    prediction_type: Annotated[str | None, typer.Option(help="epsilon or v_prediction (default: the scheduler's)")] = None,
    checkpoint_every: Annotated[int | None, typer.Option(min=1, help="resumable checkpoint every N steps")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="continue from the latest checkpoint in OUT.checkpoints/")] = False,
    validation_prompt: Annotated[list[str] | None, typer.Option(help="a prompt rendered during training (repeatable)")] = None,
    validation_every: Annotated[int | None, typer.Option(min=1, help="render the validation prompts every N steps")] = None,
    validation_steps: Annotated[int, typer.Option(min=1, help="inference steps of a validation image")] = 20,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N")] = "cpu",
    threads: Annotated[int | None, typer.Option(min=1, help="torch CPU threads")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace a folder biosynth wrote at --out")] = False,
) -> None:
    """Train a LoRA adapter on DATA and write it (safetensors, model card, training provenance) to --out."""
    schedule: LrSchedule = lr_scheduler  # type: ignore[assignment]  # checked by the config
    config = build_config(
        data=data, out=out, base=base, caption_column=caption_column, image_column=image_column,
        class_prompt=class_prompt, rank=rank, train_text_encoder=train_text_encoder, learning_rate=learning_rate,
        lr_scheduler=schedule, warmup_steps=warmup_steps, max_steps=max_steps, batch_size=batch_size,
        gradient_accumulation=gradient_accumulation, max_grad_norm=max_grad_norm, resolution=resolution,
        center_crop=center_crop, random_flip=random_flip, snr_gamma=snr_gamma, noise_offset=noise_offset,
        prediction_type=prediction_type, checkpoint_every=checkpoint_every, resume=resume,
        validation_prompts=tuple(validation_prompt or ()), validation_every=validation_every,
        validation_steps=validation_steps, seed=seed, device=device, threads=threads, overwrite=overwrite)
    from biosynth.image._finetune.training import finetune

    folder = finetune(config)
    typer.echo(f"wrote {folder}")


@app.command("train-default")
def train_default_command(
    data: Annotated[Path, typer.Argument(help="folder of class sub-folders of images (or a flat folder: one class)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="new folder for the model")],
    resolution: Annotated[int, typer.Option(min=8, help="square image size (multiple of 8)")] = 32,
    grayscale: Annotated[bool, typer.Option("--grayscale/--rgb")] = True,
    width: Annotated[int, typer.Option(min=8, help="UNet channels at the first level")] = 16,
    steps: Annotated[int, typer.Option(min=1)] = 1000,
    batch_size: Annotated[int, typer.Option(min=1)] = 16,
    learning_rate: Annotated[float, typer.Option()] = 1e-3,
    random_flip: Annotated[bool, typer.Option("--random-flip/--no-random-flip")] = True,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    threads: Annotated[int | None, typer.Option(min=1, help="torch CPU threads")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="replace a folder biosynth wrote at --out")] = False,
) -> None:
    """Train the small offline default model (class-conditional diffusion, from scratch) on DATA."""
    from biosynth.image._default.train import build_default_config, train_default

    config = build_default_config(data=data, out=out, resolution=resolution, grayscale=grayscale, width=width,
                                  steps=steps, batch_size=batch_size, learning_rate=learning_rate,
                                  random_flip=random_flip, seed=seed, threads=threads, overwrite=overwrite)
    typer.echo(f"wrote {train_default(config)}")
