"""biosynth-image and the image metrics against plain library code, side by side in one process:

(a) images/s of the `text_to_image` generator (core's generator API: prompts, seeds, PNG with provenance through
    write_media) against plain diffusers `StableDiffusionPipeline` calls on the same tiny pipeline, steps, size and
    seeds, one call per image as biosynth makes them (and, for reference, one batched call), image by image in
    alternation; the images must be equal before a ratio is printed;
(b) LoRA training steps/s of `biosynth image finetune`'s loop against a loop written here after diffusers'
    `examples/text_to_image/train_text_to_image_lora.py` (not imported), same tiny model, data, rank, batch, seed;
(c) FID and KID from biosynth-eval (features extracted once, rotated onto their span, torchmetrics on the result)
    against torchmetrics' FrechetInceptionDistance / KernelInceptionDistance fed the images through the same
    EfficientNet-Lite0 extractor.

    python benchmarks/image.py --images 8 --steps 10 --train-steps 20 --fid-images 48 --threads 1

Offline: the tiny pipeline is built from configs (packages/image/examples/build_tiny_pipeline.py); the images
for (b) and (c) are crops of scikit-image's bundled pictures. Not run by the test suite; on a shared machine timings
vary several-fold, so each side is timed after a warm-up, in alternation, and medians are printed: of every image's
time for (a), of every step's time for (b).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
from PIL import Image
from run_info import print_end, print_start  # benchmarks/run_info.py, beside this script

from biosynth.core import SampleRequest, StepContext, derive_seed, seeded_torch
from biosynth.eval._image.features import EfficientNetLite0Features, extract, to_tensor
from biosynth.eval._image.fidelity import span_basis
from biosynth.eval._image.metrics import frechet_distance_images, kernel_distance_images
from biosynth.image import TextToImage
from biosynth.image._finetune.config import build_config
from biosynth.image._finetune.data import read_training_data
from biosynth.image._finetune.training import UNET_TARGETS, _train

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ["a frontal chest x ray, small left pleural effusion", "a fundus photograph with microaneurysms",
           "an immunohistochemistry slide, brown nuclear stain", "a lateral chest x ray, no acute finding"]


def _tiny_pipeline(folder: Path) -> Path:
    spec = importlib.util.spec_from_file_location("build_tiny_pipeline",
                                                  ROOT / "packages/image/examples/build_tiny_pipeline.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.build_tiny_pipeline(folder)


def _crops(count: int, size: int, seed: int) -> list[np.ndarray]:
    from skimage import data

    pictures = [data.retina(), data.immunohistochemistry(), np.stack([data.cell()] * 3, axis=2)]
    g = np.random.default_rng(seed)
    out = []
    for k in range(count):
        picture = pictures[k % len(pictures)]
        top, left = (int(g.integers(0, picture.shape[i] - size)) for i in (0, 1))
        out.append(np.ascontiguousarray(picture[top:top + size, left:left + size, :3]))
    return out


# -- (a) generation ------------------------------------------------------------------------------------------------
def generation(pipeline: Path, images: int, steps: int, size: int, repeats: int) -> None:
    from diffusers import StableDiffusionPipeline

    params = {"pipeline": str(pipeline), "steps": steps, "width": size, "height": size, "guidance": 3.0,
              "prompt": {"attributes": {"finding": PROMPTS}, "template": "$finding", "template_id": "bench/v1"}}
    requests = [SampleRequest(index=i, seed=derive_seed(15, "bench", i)) for i in range(images)]
    plain = StableDiffusionPipeline.from_pretrained(pipeline, local_files_only=True, use_safetensors=True)
    plain.set_progress_bar_config(disable=True)

    generator = TextToImage(params)
    plain_kwargs = {"num_inference_steps": steps, "guidance_scale": 3.0, "width": size, "height": size}
    ours, theirs, batched = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        ctx = StepContext(step="images", seed=15, root=Path(tmp))
        records = generator.generate(requests, ctx)  # warm-up (loads the pipeline), and the images to compare
        prompts = [r.payload.caption for r in records]
        seeds = [r.provenance.extra["image_seed"] for r in records]
        made = [np.asarray(Image.open(Path(tmp) / r.payload.media.path).convert("RGB")) for r in records]
        reference = [np.asarray(plain(p, generator=torch.Generator().manual_seed(s), **plain_kwargs).images[0])
                     for p, s in zip(prompts, seeds, strict=True)]
        # image by image, the two sides alternating (and swapping order each round): a busy spell hits both
        for round_ in range(repeats):
            for i, request in enumerate(requests):
                sides = ["biosynth", "plain"] if (round_ + i) % 2 == 0 else ["plain", "biosynth"]
                for side in sides:
                    started = time.perf_counter()
                    if side == "biosynth":
                        generator.generate([request], ctx)
                        ours.append(time.perf_counter() - started)
                    else:
                        plain(prompts[i], generator=torch.Generator().manual_seed(seeds[i]), **plain_kwargs)
                        theirs.append(time.perf_counter() - started)
            started = time.perf_counter()
            plain(prompts, generator=[torch.Generator().manual_seed(s) for s in seeds], **plain_kwargs)
            batched.append((time.perf_counter() - started) / len(prompts))
    equal = all(np.array_equal(a, b) for a, b in zip(made, reference, strict=True))
    ours_s, theirs_s = float(np.median(ours)), float(np.median(theirs))
    print(f"(a) text_to_image, {images} images of {size}x{size}, {steps} steps, tiny SD pipeline; median of "
          f"{len(ours)} per-image times each")
    print(f"    biosynth generator      {1 / ours_s:8.2f} images/s (a record, PNG with provenance, sha256, atomic write)")
    print(f"    plain diffusers calls   {1 / theirs_s:8.2f} images/s (one call per image, same prompts and seeds)")
    print(f"    plain, one batched call {1 / float(np.median(batched)):8.2f} images/s (for reference; biosynth makes "
          "one call per image so that batches never change an image)")
    if not equal:
        print("    images differ between biosynth and the plain calls: no ratio printed")
        return
    overhead = ours_s / theirs_s - 1
    print(f"    images equal: yes; biosynth overhead {overhead:+.1%} (target <= +5%): "
          f"{'met' if overhead <= 0.05 else 'NOT met'}")


# -- (b) LoRA training ---------------------------------------------------------------------------------------------
def baseline_lora_steps(pipeline: Path, data_dir: Path, steps: int, resolution: int, batch: int, rank: int,
                        seed: int) -> list[float]:
    """The training loop of diffusers' train_text_to_image_lora.py, without accelerate (CPU, one process): frozen
    VAE and text encoder, LoRA on the UNet's attention projections, AdamW on the LoRA parameters, DDPM noise,
    epsilon MSE loss, gradient clipping, constant LR. Returns each step's seconds (data loading included)."""
    import torch.nn.functional as F
    from diffusers import DDPMScheduler, StableDiffusionPipeline
    from diffusers.optimization import get_scheduler
    from peft import LoraConfig

    pipe = StableDiffusionPipeline.from_pretrained(pipeline, local_files_only=True, use_safetensors=True)
    unet, vae, text_encoder, tokenizer = pipe.unet, pipe.vae, pipe.text_encoder, pipe.tokenizer
    noise_scheduler = DDPMScheduler.from_pretrained(pipeline, subfolder="scheduler")
    for module in (unet, vae, text_encoder):
        module.requires_grad_(False)
    unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian", target_modules=UNET_TARGETS))
    lora_layers = [p for p in unet.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(lora_layers, lr=1e-4)
    lr_scheduler = get_scheduler("constant", optimizer=optimizer, num_warmup_steps=0, num_training_steps=steps)
    files = sorted(p for p in data_dir.rglob("*.png"))
    captions = [p.parent.name for p in files]

    def example(k: int, g: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        # the example's train_transforms: Resize(resolution), RandomCrop, RandomHorizontalFlip, ToTensor, Normalize(0.5)
        image = Image.open(files[k]).convert("RGB")
        scale = resolution / min(image.size)
        image = image.resize((max(resolution, round(image.width * scale)), max(resolution, round(image.height * scale))),
                             Image.Resampling.BILINEAR)
        left, top = int(g.integers(0, image.width - resolution + 1)), int(g.integers(0, image.height - resolution + 1))
        image = image.crop((left, top, left + resolution, top + resolution))
        if g.random() < 0.5:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        pixels = torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1)
        ids = tokenizer(captions[k], max_length=tokenizer.model_max_length, padding="max_length", truncation=True,
                        return_tensors="pt").input_ids[0]
        return pixels, ids

    g = np.random.default_rng(seed)
    torch.manual_seed(seed)
    unet.train()
    times = [time.perf_counter()]
    for _ in range(steps):
        batch_items = [example(int(k), g) for k in g.integers(0, len(files), batch)]
        pixel_values = torch.stack([b[0] for b in batch_items])
        input_ids = torch.stack([b[1] for b in batch_items])
        latents = vae.encode(pixel_values).latent_dist.sample() * vae.config.scaling_factor
        noise = torch.randn_like(latents)
        timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (latents.shape[0],)).long()
        noisy_latents = noise_scheduler.add_noise(latents, noise, timesteps)
        encoder_hidden_states = text_encoder(input_ids, return_dict=False)[0]
        model_pred = unet(noisy_latents, timesteps, encoder_hidden_states, return_dict=False)[0]
        loss = F.mse_loss(model_pred.float(), noise.float(), reduction="mean")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(lora_layers, 1.0)
        optimizer.step()
        lr_scheduler.step()
        optimizer.zero_grad()
        times.append(time.perf_counter())
    return list(np.diff(times))


def biosynth_lora_steps(pipeline: Path, data_dir: Path, out: Path, steps: int, resolution: int, batch: int, rank: int,
                        seed: int) -> list[float]:
    """biosynth image finetune's own loop (`_train`, inside seeded_torch as `finetune` runs it) on a freshly loaded
    pipeline (adapters cannot be added twice); each step's seconds, timed by the step lines `_train` logs (the first
    step from the loop's setup on, so it includes the LoRA injection: it is dropped as the warm-up)."""
    from biosynth.image._components import DiffusersPipeline

    data = read_training_data(data_dir)
    config = build_config(data=data_dir, out=out, base=pipeline, rank=rank, max_steps=steps, batch_size=batch,
                          resolution=resolution, random_flip=True, seed=seed)
    pipe = DiffusersPipeline(pipeline).base
    stamps: list[float] = []

    class Stamp(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("step "):
                stamps.append(time.perf_counter())

    logger = logging.getLogger("biosynth.image")
    handler, level = Stamp(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with seeded_torch(seed):
            _train(pipe, data, config)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return list(np.diff(stamps))


def training(pipeline: Path, steps: int, resolution: int, batch: int, rank: int, repeats: int, work: Path) -> None:
    data_dir = work / "lora-data"
    for k, crop in enumerate(_crops(24, 48, seed=5)):
        (data_dir / ("retina", "ihc", "cell")[k % 3]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(crop).save(data_dir / ("retina", "ihc", "cell")[k % 3] / f"{k:03d}.png")
    # the median step time of each loop (steps 2..N; the first carries setup): robust to a busy machine's spikes
    ours, theirs = [], []
    for _ in range(repeats):
        ours += biosynth_lora_steps(pipeline, data_dir, work / "adapter", steps, resolution, batch, rank, 0)[1:]
        theirs += baseline_lora_steps(pipeline, data_dir, steps, resolution, batch, rank, 0)[1:]
    ours_s, theirs_s = float(np.median(ours)), float(np.median(theirs))
    ratio = theirs_s / ours_s
    print(f"(b) LoRA training, median of {len(ours)} step times each, batch {batch}, rank {rank}, {resolution} px, "
          "tiny SD pipeline")
    print(f"    biosynth finetune loop   {1 / ours_s:7.2f} steps/s (quartiles {np.quantile(ours, 0.25):.3f}-"
          f"{np.quantile(ours, 0.75):.3f} s a step)")
    print(f"    diffusers example's loop {1 / theirs_s:7.2f} steps/s (quartiles {np.quantile(theirs, 0.25):.3f}-"
          f"{np.quantile(theirs, 0.75):.3f} s a step)")
    print(f"    biosynth / baseline speed {ratio:.3f} (target >= 1.0, parity): {'met' if ratio >= 1.0 else 'NOT met'}")


# -- (c) FID / KID -------------------------------------------------------------------------------------------------
def fid_kid(count: int) -> None:
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    extractor = EfficientNetLite0Features()
    real, synthetic = _crops(count, 64, seed=1), _crops(count, 64, seed=2)
    started = time.perf_counter()
    x, y = extract(extractor, real), extract(extractor, synthetic)
    described = extractor.describe()
    ours_fid = frechet_distance_images(x, y, features=described, n_bootstrap=0)
    ours_kid = kernel_distance_images(x, y, features=described, n_bootstrap=0, seed=0)
    ours_s = time.perf_counter() - started
    started = time.perf_counter()
    fid = FrechetInceptionDistance(feature=extractor)
    # biosynth's KID settings: subsets of min(1000, n); one subset when that is the whole sample; drawn by torch's
    # generator seeded with the metric's seed (0 here)
    size = min(1000, count)
    # the features in float64, as biosynth keeps them (FID converts to float64 itself; KID would sum its kernels in
    # float32, which at n = 1300 moved KID by 1.4e-5)
    kid = KernelInceptionDistance(feature=Float64(extractor), subsets=1 if size == count else 100, subset_size=size)
    # the same batches of 32 as biosynth's `extract`: a convolution's last bits depend on the batch size
    for side, images in ((True, real), (False, synthetic)):
        for start in range(0, count, 32):
            fid.update(to_tensor(images[start:start + 32]), real=side)
            kid.update(to_tensor(images[start:start + 32]), real=side)
    reference_fid = float(fid.compute())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        reference_kid = float(kid.compute()[0])
    theirs_s = time.perf_counter() - started
    stable = _symmetric_fid(x, y)
    basis = span_basis(x, y)
    stable_span = _symmetric_fid(x @ basis, y @ basis) if basis is not None else stable
    d_fid, d_kid = abs(ours_fid.value - reference_fid), abs(ours_kid.value - reference_kid)  # type: ignore[operator]
    print(f"(c) FID/KID on {count} real and {count} synthetic 64 px crops, {extractor.name}")
    print(f"    FID biosynth {ours_fid.value:.9f}  torchmetrics {reference_fid:.9f}  |delta| {d_fid:.2e} "
          f"({'met' if d_fid <= 1e-6 else 'NOT met'}: <= 1e-6)")
    print(f"    FID by eigh on the symmetric form S1^1/2 S2 S1^1/2 (float64, 1280-d): {stable:.9f}; |delta| to biosynth "
          f"{abs(ours_fid.value - stable):.2e}, to torchmetrics {abs(reference_fid - stable):.2e}")  # type: ignore[operator]
    if basis is not None:
        print(f"    the same on the features' span ({basis.shape[1]}-d, no null space to add noise): "
              f"{stable_span:.9f}; |delta| to biosynth {abs(ours_fid.value - stable_span):.2e}, to torchmetrics "  # type: ignore[operator]
              f"{abs(reference_fid - stable_span):.2e}")
    print(f"    KID biosynth {ours_kid.value:.12f}  torchmetrics {reference_kid:.12f}  |delta| {d_kid:.2e} "
          f"({'met' if d_kid <= 1e-6 else 'NOT met'}: <= 1e-6)")
    print(f"    time: biosynth {ours_s:.1f} s, torchmetrics on the images {theirs_s:.1f} s "
          f"({'projection onto the span' if ours_fid.details.get('projected_to_span') else 'full covariances'})")


class Float64(torch.nn.Module):
    """An extractor whose features come out as float64."""

    def __init__(self, extractor: torch.nn.Module) -> None:
        super().__init__()
        self.extractor = extractor
        self.num_features = extractor.num_features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.extractor(images).double()


def _symmetric_fid(x: np.ndarray, y: np.ndarray) -> float:
    """A numerically stable cross-check (not biosynth's path): FID with the trace term from the eigenvalues of the
    symmetric PSD matrix S1^1/2 S2 S1^1/2 (eigh), where torchmetrics takes eigenvalues of the non-symmetric S1 S2."""
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    w, v = np.linalg.eigh(s1)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = np.linalg.eigvalsh(root @ s2 @ root)
    return float(((x.mean(0) - y.mean(0)) ** 2).sum() + np.trace(s1) + np.trace(s2)
                 - 2 * np.sqrt(np.clip(middle, 0, None)).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10, help="inference steps per image")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--train-steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--rank", type=int, default=4)
    parser.add_argument("--fid-images", type=int, default=48, help="per side; above 1280 the covariances are full")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--only", choices=["a", "b", "c"], default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print_start(["biosynth-image", "diffusers", "peft", "torch", "torchmetrics"])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pipeline = _tiny_pipeline(work / "tiny-sd")
        if args.only in (None, "a"):
            generation(pipeline, args.images, args.steps, args.size, args.repeats)
        if args.only in (None, "b"):
            training(pipeline, args.train_steps, args.size, args.batch_size, args.rank, args.repeats, work)
        if args.only in (None, "c"):
            fid_kid(args.fid_images)
    print_end()


if __name__ == "__main__":
    main()
