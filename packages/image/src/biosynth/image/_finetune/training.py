"""LoRA fine-tuning of a Stable Diffusion folder, following diffusers' `train_text_to_image_lora.py`: the VAE
encodes each image to latents, noise (with an optional offset) is added at a random timestep, and the UNet's
LoRA (and optionally the text encoder's) learns to predict the noise or the velocity, with optional Min-SNR
weighting; AdamW with a diffusers learning-rate schedule, gradient accumulation and clipping.

Everything that draws at random is seeded: training runs inside core's `seeded_torch(seed)`; the data order
and the crops and flips come from seeds derived per epoch and example, so a run resumed from a checkpoint
(LoRA weights, optimizer and schedule state, torch's generator, losses: safetensors and JSON, no pickle) ends
with the same adapter as a run that never stopped. The adapter is written through core's `write_model_folder`
(staged, marker with every file's sha256, one rename) with a model card and the training provenance.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from biosynth.core import (
    ConfigError,
    check_model_target,
    derive_seed,
    fsync_tree,
    seeded_torch,
    software_versions,
    weights_sha256,
    write_model_folder,
)
from biosynth.image._components import LORA_FILE, DiffusersPipeline
from biosynth.image._finetune.config import MODEL_FORMAT, MODEL_KIND, ImageFinetuneConfig
from biosynth.image._finetune.data import TrainingData, read_training_data
from biosynth.image._input_images import load_image

log = logging.getLogger("biosynth.image")

CARD_FILE = "README.md"
TRAINING_FILE = "training.json"
UNET_TARGETS = ["to_k", "to_q", "to_v", "to_out.0"]
TEXT_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj"]
SUFFIXES = (".json", ".safetensors", ".md", ".png")


def check_output_folder(out: Path, *, overwrite: bool) -> None:
    """Refuse, before any training, what `write_model_folder` would refuse at the end."""
    check_model_target(out, replace=overwrite, what="output folder")


@dataclass
class _State:
    step: int = 0
    losses: list[float] = field(default_factory=list)
    validation: list[dict[str, Any]] = field(default_factory=list)
    images: dict[str, bytes] = field(default_factory=dict)
    resumed_from: int | None = None


def finetune(config: ImageFinetuneConfig) -> Path:
    """Train a LoRA adapter on `config.data` and write the adapter folder `config.out`; return it."""
    started = time.perf_counter()
    check_output_folder(config.out, overwrite=config.overwrite)
    data = read_training_data(config.data, image_column=config.image_column, caption_column=config.caption_column,
                              class_prompt=config.class_prompt)
    try:
        import peft  # noqa: F401
        import torch
    except ImportError:
        raise ConfigError("fine-tuning needs torch, diffusers and peft: pip install 'biosynth-image[lora]'") from None
    if config.threads:
        torch.set_num_threads(config.threads)
    component = DiffusersPipeline(config.base, device=config.device)
    if component.class_name != "StableDiffusionPipeline":
        raise ConfigError(f"fine-tuning supports SD 1.x/2.x folders (StableDiffusionPipeline), not "
                          f"{component.class_name}")
    pipe = component.base
    with seeded_torch(config.seed):
        state = _train(pipe, data, config)
    base_ref = component.model_ref

    def write(staging: Path) -> dict[str, Any]:
        from diffusers import StableDiffusionPipeline

        unet_layers, text_layers = _lora_layers(pipe, config)
        StableDiffusionPipeline.save_lora_weights(staging, unet_lora_layers=unet_layers,
                                                  text_encoder_lora_layers=text_layers, safe_serialization=True)
        for name, png in state.images.items():
            (staging / "validation").mkdir(exist_ok=True)
            (staging / "validation" / name).write_bytes(png)
        record = {
            "created": datetime.now(UTC).isoformat(), "method": "lora",
            "base": base_ref.model_dump(mode="json"),
            "data": {"path": str(config.data), "sha256": data.sha256, "source": data.source,
                     "examples": len(data.examples)},
            "seed": config.seed, "steps": state.step, "resumed_from": state.resumed_from,
            "loss": {"first": state.losses[0], "final": state.losses[-1], "per_step": state.losses},
            "hyperparameters": config.model_dump(mode="json", exclude={"data", "out", "base", "overwrite", "resume"}),
            "validation": state.validation, "adapter_sha256": weights_sha256(staging / LORA_FILE),
            "libraries": software_versions(["biosynth-image", "torch", "diffusers", "transformers", "peft"]),
            "duration_s": round(time.perf_counter() - started, 2),
        }
        (staging / TRAINING_FILE).write_text(json.dumps(record, indent=2, sort_keys=True), encoding="utf-8")
        (staging / CARD_FILE).write_text(_card(record, config), encoding="utf-8")
        return record

    write_model_folder(config.out, MODEL_KIND, MODEL_FORMAT, write, allowed_suffixes=SUFFIXES, replace=config.overwrite)
    log.info("LoRA fine-tuned in %d steps, loss %.4f -> %.4f; wrote %s", state.step, state.losses[0],
             state.losses[-1], config.out)
    return config.out


# -- training ------------------------------------------------------------------------------------
def _train(pipe: Any, data: TrainingData, config: ImageFinetuneConfig) -> _State:
    import torch
    import torch.nn.functional as F
    from diffusers import DDPMScheduler
    from diffusers.optimization import get_scheduler
    from diffusers.training_utils import compute_snr
    from peft import LoraConfig, inject_adapter_in_model

    unet, vae, text_encoder, tokenizer = pipe.unet, pipe.vae, pipe.text_encoder, pipe.tokenizer
    noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
    if config.prediction_type is not None:
        noise_scheduler.register_to_config(prediction_type=config.prediction_type)
    for module in (unet, vae, text_encoder):
        module.requires_grad_(False)
    unet.add_adapter(LoraConfig(r=config.rank, lora_alpha=config.rank, init_lora_weights="gaussian",
                                target_modules=UNET_TARGETS))
    if config.train_text_encoder:  # peft directly: transformers' add_adapter wants a newer peft than diffusers does
        inject_adapter_in_model(LoraConfig(r=config.rank, lora_alpha=config.rank, init_lora_weights="gaussian",
                                           target_modules=TEXT_TARGETS), text_encoder)
    trainable = _trainable(pipe, config)
    optimizer = torch.optim.AdamW(list(trainable.values()), lr=config.learning_rate)
    schedule = get_scheduler(config.lr_scheduler, optimizer=optimizer, num_warmup_steps=config.warmup_steps,
                             num_training_steps=config.max_steps)
    state = _State()
    if config.resume:
        _restore(config, trainable, optimizer, schedule, state)
    captions = tokenizer([e.caption for e in data.examples], padding="max_length", truncation=True,
                         max_length=tokenizer.model_max_length, return_tensors="pt").input_ids
    scaling = vae.config.scaling_factor
    unet.train()
    text_encoder.train(config.train_text_encoder)
    while state.step < config.max_steps:
        step_loss = 0.0
        for micro in range(config.gradient_accumulation):
            indices = _batch(len(data.examples), config, state.step * config.gradient_accumulation + micro)
            pixels = torch.stack([_pixels(data, config, i, position) for i, position in indices]).to(pipe.device)
            with torch.no_grad():
                latents = vae.encode(pixels).latent_dist.sample() * scaling
            noise = torch.randn_like(latents)
            if config.noise_offset:
                noise += config.noise_offset * torch.randn((latents.shape[0], latents.shape[1], 1, 1))
            timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (latents.shape[0],)).long()
            noisy = noise_scheduler.add_noise(latents, noise, timesteps)
            ids = captions[[i for i, _ in indices]].to(pipe.device)
            hidden = text_encoder(ids, return_dict=False)[0]
            if noise_scheduler.config.prediction_type == "epsilon":
                target = noise
            else:
                target = noise_scheduler.get_velocity(latents, noise, timesteps)
            prediction = unet(noisy, timesteps, hidden, return_dict=False)[0]
            if config.snr_gamma is None:
                loss = F.mse_loss(prediction.float(), target.float(), reduction="mean")
            else:  # Min-SNR weighting (Hang et al. 2023), as in the diffusers example
                snr = compute_snr(noise_scheduler, timesteps)
                weights = torch.stack([snr, config.snr_gamma * torch.ones_like(timesteps)], dim=1).min(dim=1)[0]
                weights = weights / (snr if noise_scheduler.config.prediction_type == "epsilon" else snr + 1)
                loss = F.mse_loss(prediction.float(), target.float(), reduction="none")
                loss = (loss.mean(dim=list(range(1, loss.ndim))) * weights).mean()
            (loss / config.gradient_accumulation).backward()
            step_loss += float(loss.detach()) / config.gradient_accumulation
        if config.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(list(trainable.values()), config.max_grad_norm)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        state.step += 1
        state.losses.append(step_loss)
        log.info("step %d/%d loss %.5f", state.step, config.max_steps, step_loss)
        if config.validation_every and state.step % config.validation_every == 0:
            _validate(pipe, config, state)
        if config.checkpoint_every and state.step % config.checkpoint_every == 0 and state.step < config.max_steps:
            _checkpoint(config, trainable, optimizer, schedule, state)
    unet.eval()
    text_encoder.eval()
    return state


def _trainable(pipe: Any, config: ImageFinetuneConfig) -> dict[str, Any]:
    """The LoRA parameters by name (`unet.` / `text_encoder.`), in a fixed order."""
    named = {f"unet.{n}": p for n, p in pipe.unet.named_parameters() if p.requires_grad}
    if config.train_text_encoder:
        named.update({f"text_encoder.{n}": p for n, p in pipe.text_encoder.named_parameters() if p.requires_grad})
    return named


def _batch(n: int, config: ImageFinetuneConfig, micro: int) -> list[tuple[int, int]]:
    """Micro-batch `micro`'s examples as (index, stream position): each epoch a permutation seeded by its number."""
    out = []
    for position in range(micro * config.batch_size, (micro + 1) * config.batch_size):
        epoch, offset = divmod(position, n)
        order = np.random.default_rng(derive_seed(config.seed, "order", epoch)).permutation(n)
        out.append((int(order[offset]), position))
    return out


def _pixels(data: TrainingData, config: ImageFinetuneConfig, index: int, position: int) -> Any:
    """One example as a [-1, 1] tensor: resized (shorter side), cropped (centre or seeded), maybe flipped."""
    import torch

    image = load_image(data.examples[index].image)
    size = config.resolution
    scale = size / min(image.size)
    image = image.resize((max(size, round(image.width * scale)), max(size, round(image.height * scale))),
                         Image.Resampling.BILINEAR)
    rng = np.random.default_rng(derive_seed(config.seed, "augment", position))
    if config.center_crop:
        left, top = (image.width - size) // 2, (image.height - size) // 2
    else:
        left, top = int(rng.integers(0, image.width - size + 1)), int(rng.integers(0, image.height - size + 1))
    image = image.crop((left, top, left + size, top + size))
    if config.random_flip and rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    array = np.asarray(image, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(array).permute(2, 0, 1)


def _lora_layers(pipe: Any, config: ImageFinetuneConfig) -> tuple[dict[str, Any], dict[str, Any] | None]:
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    unet = convert_state_dict_to_diffusers(get_peft_model_state_dict(pipe.unet))
    if not config.train_text_encoder:
        return unet, None
    text = {name.replace(".default.", "."): param.detach() for name, param in pipe.text_encoder.named_parameters()
            if "lora_" in name}
    return unet, convert_state_dict_to_diffusers(text)


# -- validation ----------------------------------------------------------------------------------
def _validate(pipe: Any, config: ImageFinetuneConfig, state: _State) -> None:
    """Render each validation prompt with its own seeded generator (torch's global generator left as it was)."""
    import io

    import torch

    pipe.unet.eval()
    pipe.text_encoder.eval()
    pipe.set_progress_bar_config(disable=True)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        for j, prompt in enumerate(config.validation_prompts):
            seed = derive_seed(config.seed, "validation", j)
            image = pipe(prompt, num_inference_steps=config.validation_steps, height=config.resolution,
                         width=config.resolution, generator=torch.Generator(device="cpu").manual_seed(seed),
                         output_type="pil").images[0]
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            name = f"step-{state.step:06d}-{j}.png"
            state.images[name] = buffer.getvalue()
            state.validation.append({"step": state.step, "prompt": prompt, "seed": seed, "file": f"validation/{name}",
                                     "inference_steps": config.validation_steps})
    pipe.unet.train()
    pipe.text_encoder.train(config.train_text_encoder)


# -- checkpoints ---------------------------------------------------------------------------------
def _checkpoint(config: ImageFinetuneConfig, trainable: dict[str, Any], optimizer: Any, schedule: Any,
                state: _State) -> None:
    """A resumable checkpoint `<out>.checkpoints/checkpoint-<step>/`, written to a temporary name then renamed."""
    import torch
    from safetensors.torch import save_file

    root = config.checkpoints
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"checkpoint-{state.step:06d}"
    staging = root / f".{final.name}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    save_file({n: p.detach().contiguous() for n, p in trainable.items()}, staging / "lora.safetensors")
    saved = optimizer.state_dict()
    tensors = {f"{i}.{k}": v.contiguous() for i, s in saved["state"].items() for k, v in s.items()}
    tensors["torch_rng_state"] = torch.get_rng_state()
    save_file(tensors, staging / "optimizer.safetensors")
    (staging / "images").mkdir()
    for name, png in state.images.items():
        (staging / "images" / name).write_bytes(png)
    meta = {"step": state.step, "losses": state.losses, "validation": state.validation,
            "param_groups": saved["param_groups"], "schedule": schedule.state_dict(), "names": list(trainable)}
    (staging / "state.json").write_text(json.dumps(meta), encoding="utf-8")
    fsync_tree(staging)  # the files and the folder are durable before the rename makes them the checkpoint
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    fsync_tree(root, recursive=False)
    log.info("checkpoint at step %d: %s", state.step, final)


def _restore(config: ImageFinetuneConfig, trainable: dict[str, Any], optimizer: Any, schedule: Any,
             state: _State) -> None:
    import torch
    from safetensors.torch import load_file

    found = sorted(config.checkpoints.glob("checkpoint-*")) if config.checkpoints.is_dir() else []
    if not found:
        raise ConfigError(f"--resume: no checkpoint in {str(config.checkpoints)!r}")
    latest = found[-1]
    meta = json.loads((latest / "state.json").read_text(encoding="utf-8"))
    if meta["names"] != list(trainable):
        raise ConfigError(f"--resume: {latest} was saved with other LoRA settings (rank, text encoder)")
    weights = load_file(latest / "lora.safetensors")
    with torch.no_grad():
        for name, param in trainable.items():
            param.copy_(weights[name])
    tensors = load_file(latest / "optimizer.safetensors")
    torch.set_rng_state(tensors.pop("torch_rng_state"))
    per_param: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        index, _, what = key.partition(".")
        per_param.setdefault(int(index), {})[what] = value
    optimizer.load_state_dict({"state": per_param, "param_groups": meta["param_groups"]})
    schedule.load_state_dict(meta["schedule"])
    state.step, state.losses, state.validation = meta["step"], meta["losses"], meta["validation"]
    state.images = {p.name: p.read_bytes() for p in sorted((latest / "images").glob("*.png"))}
    state.resumed_from = meta["step"]
    log.info("resumed from %s", latest)


def _card(record: dict[str, Any], config: ImageFinetuneConfig) -> str:
    base = record["base"]
    lines = [
        f"# {config.out.resolve().name}", "",
        f"A LoRA adapter for the Stable Diffusion folder **{base['name']}** (sha256 `{base['sha256']}`), trained by "
        "`biosynth image finetune`. Images it helps make are synthetic; they carry biosynth's provenance.", "",
        "## Use", "", "```yaml", "loras:", f"  - {{kind: lora_adapter, backend: safetensors, params: {{path: "
        f"{config.out.resolve().name}}}}}", "```", "",
        "## Training", "",
        f"- data: `{record['data']['path']}` ({record['data']['examples']} images, {record['data']['source']}), "
        f"sha256 `{record['data']['sha256']}`",
        f"- steps: {record['steps']}, seed {record['seed']}, rank {config.rank}, learning rate {config.learning_rate} "
        f"({config.lr_scheduler}), batch {config.batch_size} x {config.gradient_accumulation}, resolution "
        f"{config.resolution}, text encoder {'trained' if config.train_text_encoder else 'frozen'}",
        f"- loss: {record['loss']['first']:.4f} -> {record['loss']['final']:.4f}",
        f"- adapter sha256: `{record['adapter_sha256']}`", "",
        "The full training provenance (every step's loss, the options, library versions) is in `training.json`.", "",
    ]
    return "\n".join(lines)
