"""`biosynth image train-default DATA --out MODEL`: train the small class-conditional diffusion model from scratch.

DATA is a folder of class sub-folders of images (the folder names are the classes), or a flat folder of images
(one class, `image`). Images are centre-cropped to squares and resized to `resolution`; training predicts the
noise (DDPM, cosine schedule) with AdamW, seeded flips and a seeded data order, inside core's `seeded_torch`.
With the defaults (32x32 grayscale, width 16: 280k parameters, batch 16) a step took 0.4 s on one thread of a busy
2-core machine (two threads were several times slower there: pass --threads 1), so 1000 steps take minutes. Its
samples are meant to follow the classes' coarse intensity and texture; they are not diagnostic images.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from biosynth.core import (
    ConfigError,
    InputDataError,
    derive_seed,
    seeded_torch,
    sha256_file,
    software_versions,
    weights_sha256,
    write_model_folder,
)
from biosynth.image._default.model import MODEL_FORMAT, MODEL_KIND, SUFFIXES, build_unet
from biosynth.image._finetune.training import check_output_folder
from biosynth.image._input_images import SUFFIXES as IMAGE_SUFFIXES
from biosynth.image._input_images import load_image

log = logging.getLogger("biosynth.image")


class DefaultTrainingConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    data: Path
    out: Path
    resolution: int = Field(32, ge=8, le=256, multiple_of=8)
    grayscale: bool = True
    width: int = Field(16, ge=8, le=256, multiple_of=8, description="UNet channels at the first level")
    steps: int = Field(1000, ge=1)
    batch_size: int = Field(16, ge=1)
    learning_rate: float = Field(1e-3, gt=0)
    random_flip: bool = True
    seed: int = Field(0, ge=0)
    threads: int | None = Field(None, ge=1)
    overwrite: bool = False


def build_default_config(**values: object) -> DefaultTrainingConfig:
    try:
        return DefaultTrainingConfig.model_validate(values)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in err.errors())
        raise ConfigError(f"training options: {problems}") from None


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_classes(folder: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    """The classes (sorted sub-folder names) and every (image, class index); a flat folder is one class."""
    if not folder.is_dir():
        raise InputDataError(f"training data {str(folder)!r} is not a folder")
    subs = [p for p in sorted(folder.iterdir()) if p.is_dir() and not p.name.startswith(".") and _images(p)]
    if subs:
        classes = [p.name for p in subs]
        examples = [(image, i) for i, sub in enumerate(subs) for image in _images(sub)]
    else:
        classes, examples = ["image"], [(image, 0) for image in _images(folder)]
    if not examples:
        raise InputDataError(f"{str(folder)!r} holds no images (class sub-folders of images, or images)")
    return classes, examples


def _square(image: Image.Image, size: int) -> np.ndarray:
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.BICUBIC)
    array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def train_default(config: DefaultTrainingConfig) -> Path:
    """Train the default model on `config.data` and write it to `config.out` (a core model folder)."""
    started = time.perf_counter()
    check_output_folder(config.out, overwrite=config.overwrite)
    classes, examples = read_classes(config.data)
    try:
        import torch
        from diffusers import DDPMScheduler
    except ImportError:
        raise ConfigError("training needs torch and diffusers: pip install 'biosynth-image[diffusers]'") from None
    if config.threads:
        torch.set_num_threads(config.threads)
    mode = "L" if config.grayscale else "RGB"
    pixels = torch.from_numpy(np.stack([_square(load_image(p, mode), config.resolution) for p, _ in examples]))
    labels = torch.tensor([c for _, c in examples])
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2")
    losses: list[float] = []
    with seeded_torch(config.seed):
        unet = build_unet(config.resolution, 1 if config.grayscale else 3, len(classes), config.width)
        optimizer = torch.optim.AdamW(unet.parameters(), lr=config.learning_rate)
        unet.train()
        n = len(examples)
        for step in range(config.steps):
            positions = range(step * config.batch_size, (step + 1) * config.batch_size)
            order = [int(np.random.default_rng(derive_seed(config.seed, "order", p // n)).permutation(n)[p % n])
                     for p in positions]
            batch = pixels[order].clone()
            if config.random_flip:
                flips = np.random.default_rng(derive_seed(config.seed, "flip", step)).random(len(order)) < 0.5
                batch[torch.from_numpy(flips)] = batch[torch.from_numpy(flips)].flip(-1)
            noise = torch.randn_like(batch)
            timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (len(order),))
            prediction = unet(scheduler.add_noise(batch, noise, timesteps), timesteps, class_labels=labels[order]).sample
            loss = torch.nn.functional.mse_loss(prediction, noise)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
            optimizer.step()
            losses.append(float(loss.detach()))
            if (step + 1) % 100 == 0 or step == 0:
                log.info("step %d/%d loss %.5f", step + 1, config.steps, losses[-1])
    unet.eval()

    def write(staging: Path) -> dict[str, Any]:
        unet.save_pretrained(staging / "unet", safe_serialization=True)
        scheduler.save_pretrained(staging / "scheduler")
        (staging / "classes.json").write_text(json.dumps(classes), encoding="utf-8")
        counts = {name: sum(1 for _, c in examples if c == i) for i, name in enumerate(classes)}
        record = {
            "created": datetime.now(UTC).isoformat(), "classes": classes, "examples_per_class": counts,
            "data": {"path": str(config.data), "sha256": sha256_file(config.data), "examples": len(examples)},
            "resolution": config.resolution, "grayscale": config.grayscale, "seed": config.seed, "steps": config.steps,
            "loss": {"first": losses[0], "final": losses[-1], "per_step": losses},
            "hyperparameters": config.model_dump(mode="json", exclude={"data", "out", "overwrite"}),
            "parameters": sum(p.numel() for p in unet.parameters()),
            "libraries": software_versions(["biosynth-image", "torch", "diffusers"]),
            "duration_s": round(time.perf_counter() - started, 2),
        }
        (staging / "training.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
        (staging / "README.md").write_text(_card(record, config), encoding="utf-8")
        return {**record, "model_sha256": weights_sha256(staging)}

    write_model_folder(config.out, MODEL_KIND, MODEL_FORMAT, write, allowed_suffixes=SUFFIXES, replace=config.overwrite)
    log.info("trained in %d steps, loss %.4f -> %.4f; wrote %s", config.steps, losses[0], losses[-1], config.out)
    return config.out


def _card(record: dict[str, Any], config: DefaultTrainingConfig) -> str:
    return "\n".join([
        f"# {config.out.resolve().name}", "",
        "biosynth's offline default image model: a small class-conditional diffusion model (diffusers UNet2DModel, "
        f"{record['parameters']:,} parameters) trained from scratch by `biosynth image train-default`.", "",
        f"- classes: {', '.join(f'{k} ({v})' for k, v in record['examples_per_class'].items())}",
        f"- {config.resolution}x{config.resolution} {'grayscale' if config.grayscale else 'RGB'}, {config.steps} steps, "
        f"batch {config.batch_size}, seed {config.seed}; loss {record['loss']['first']:.4f} -> {record['loss']['final']:.4f}",
        f"- data sha256 `{record['data']['sha256']}`", "",
        "Samples follow the classes' coarse intensity and texture; they are not diagnostic-quality images. Use "
        "`class_to_image` with `model: <this folder>` in a recipe.", "",
    ])
