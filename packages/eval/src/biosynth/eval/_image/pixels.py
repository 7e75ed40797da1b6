"""Pixel-space measures: MS-SSIM within a set (diversity) and the images as standardised grayscale vectors
(for pixel correlation)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from biosynth.eval._measure import Outcome, run_metric
from biosynth.eval._result import Direction, Family, MetricResult

MS_SSIM_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. (2003), five scales, finest first
MAX_PAIRS = 300
MAX_SIDE = 256


def resized(images: Sequence[np.ndarray], side: int, gray: bool) -> np.ndarray:
    """Every image resized to side x side (PIL bicubic), as float64: N x side x side (gray) or N x side x side x 3."""
    from PIL import Image

    out = []
    for image in images:
        picture = Image.fromarray(image)
        if gray:
            picture = picture.convert("L")
        out.append(np.asarray(picture.resize((side, side), Image.Resampling.BICUBIC), dtype=np.float64))
    return np.stack(out)


def standardised_pixels(images: Sequence[np.ndarray], side: int) -> np.ndarray:
    """Grayscale pixels at side x side, each image centred and scaled to unit norm: a dot product of two rows is
    their Pearson correlation (a flat image has correlation 0 with everything)."""
    x = resized(images, side, gray=True).reshape(len(images), -1)
    x = x - x.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def ms_ssim_settings(side: int) -> dict[str, Any]:
    """The most scales (up to Wang et al.'s five), then the widest Gaussian window (up to 11), that torchmetrics'
    MS-SSIM accepts at this image size: it needs side >= 2**scales and side // (scales - 1)**2 > window - 1. Fewer
    scales keep the first of the five weights, renormalised to sum to 1; a narrower window scales sigma (1.5 at 11)
    with it. Small images are scored on fewer scales than the standard, so compare MS-SSIM at one size only."""
    for scales in range(5, 1, -1):
        for window in (11, 9, 7, 5, 3):
            if side >= 2 ** scales and side // max(1, scales - 1) ** 2 > window - 1:
                betas = np.array(MS_SSIM_BETAS[:scales])
                return {"scales": scales, "kernel_size": window, "sigma": round(1.5 * window / 11, 4),
                        "betas": tuple(float(b) for b in betas / betas.sum())}
    raise ValueError(f"images of {side} px are too small for MS-SSIM (at least 2 scales need 12 px)")


def _pairs(n: int, seed: int) -> list[tuple[int, int]]:
    every = [(i, j) for i in range(n) for j in range(i + 1, n)]
    if len(every) <= MAX_PAIRS:
        return every
    chosen = np.random.default_rng(seed).choice(len(every), MAX_PAIRS, replace=False)
    return [every[k] for k in sorted(chosen)]


def _mean_ms_ssim(stack: np.ndarray, pairs: list[tuple[int, int]], settings: dict[str, Any]) -> float:
    import torch
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

    tensor = torch.from_numpy(stack).permute(0, 3, 1, 2).float()
    values = []
    for start in range(0, len(pairs), 50):  # 50 pairs at a time: bounded memory at 256 px
        chunk = pairs[start:start + 50]
        values.append(multiscale_structural_similarity_index_measure(
            tensor[[i for i, _ in chunk]], tensor[[j for _, j in chunk]], data_range=255.0,
            kernel_size=settings["kernel_size"], sigma=settings["sigma"], betas=settings["betas"], reduction="none"))
    return float(torch.cat(values).mean())


def ms_ssim_diversity(real: Sequence[np.ndarray], synthetic: Sequence[np.ndarray], *, seed: int = 0) -> MetricResult:
    """Mean MS-SSIM over pairs of synthetic images (all pairs, or 300 drawn with `seed`), at the smallest
    synthetic image side (at most 256 px); high means the images look alike (less diverse). The real set's mean over
    as many pairs, at the same size and settings, is in `details` as the reference."""
    side = min(min(image.shape[:2]) for image in synthetic) if synthetic else 0
    side = min(side, MAX_SIDE)
    parameters: dict[str, Any] = {"side": side, "max_pairs": MAX_PAIRS, "library": "torchmetrics MS-SSIM"}

    def compute() -> Outcome:
        if len(synthetic) < 2:
            raise ValueError(f"need at least 2 synthetic images, got {len(synthetic)}")
        settings = ms_ssim_settings(side)
        parameters.update(settings)
        value = _mean_ms_ssim(resized(synthetic, side, gray=False), _pairs(len(synthetic), seed), settings)
        reference = (_mean_ms_ssim(resized(real, side, gray=False), _pairs(len(real), seed), settings)
                     if len(real) >= 2 else None)
        notes = [] if settings["scales"] == 5 else [
            f"{side} px images allow {settings['scales']} of MS-SSIM's 5 scales (window {settings['kernel_size']}): "
            "compare only with MS-SSIM at the same size"]
        return Outcome(value=value, warnings=notes, details={"real_ms_ssim": reference,
                                                             "n_pairs": len(_pairs(len(synthetic), seed))})

    return run_metric(name="image.ms_ssim", family=Family.DIVERSITY, direction=Direction.LOWER, compute=compute,
                      modality="image", n_real=len(real), n_synthetic=len(synthetic), seed=seed, parameters=parameters)
