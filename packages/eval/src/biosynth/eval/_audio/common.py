"""What the audio metrics share: the modality name, clip-level (cluster) bootstrap of ratios, and a two-sample KS
complement whose interval resamples clips."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.stats import ks_2samp

from biosynth.core import InputDataError, rng
from biosynth.eval._audio.io import Clip
from biosynth.eval._measure import bootstrap_counts, bootstrap_interval
from biosynth.eval._result import ConfidenceInterval

MODALITY = "audio"
SMALL_CLIPS = 20  # below this many clips on a side, intervals and distribution distances are rough


def check_clips(clips: Sequence[Clip], role: str) -> list[Clip]:
    if isinstance(clips, (str, bytes)) or not isinstance(clips, Sequence) or not all(isinstance(c, Clip) for c in clips):
        raise InputDataError(f"{role} must be a sequence of Clip (biosynth.eval._audio.io), got {type(clips).__name__}")
    return list(clips)


def clip_interval(statistic: Callable[[np.ndarray], float], n_clips: int, point: float, *, n_bootstrap: int,
                  level: float, seed: int, what: str,
                  bounds: tuple[float, float] = (-np.inf, np.inf)) -> tuple[ConfidenceInterval | None, list[str]]:
    """A basic bootstrap interval for `statistic(weights)`, `weights` a multinomial count per clip (clips resampled:
    the turns of one scene stay together)."""
    if not n_bootstrap or n_clips < 2:
        return None, ([] if not n_bootstrap else [f"no interval for {what}: fewer than 2 clips"])
    generator = rng(seed)
    reps = np.array([statistic(bootstrap_counts(generator, n_clips)) for _ in range(n_bootstrap)])
    ci, notes = bootstrap_interval(reps, point, level, what, bounds=bounds)
    if ci is not None:
        ci = ci.model_copy(update={"method": f"basic bootstrap over clips, B={n_bootstrap}"})
    return ci, notes


def ratio(numerators: np.ndarray, denominators: np.ndarray, weights: np.ndarray | None = None) -> float:
    """sum(w * num) / sum(w * den): a corpus-level rate (e.g. word errors over reference words) under clip weights."""
    w = np.ones(len(numerators)) if weights is None else weights
    den = float(w @ denominators)
    return float(w @ numerators) / den if den > 0 else float("nan")


def ks_complement(x: np.ndarray, x_owner: np.ndarray, n_x: int, y: np.ndarray, y_owner: np.ndarray, n_y: int, *,
                  n_bootstrap: int, level: float, seed: int, what: str) -> tuple[float, ConfidenceInterval | None, list[str]]:
    """1 - the KS statistic of two samples whose values belong to clips (`*_owner`); the interval resamples clips."""
    point = 1.0 - float(ks_2samp(x, y).statistic)
    if not n_bootstrap:
        return point, None, []
    generator = rng(seed)
    reps = np.empty(n_bootstrap)
    for b in range(n_bootstrap):
        rx = np.repeat(x, bootstrap_counts(generator, n_x).astype(np.int64)[x_owner])
        ry = np.repeat(y, bootstrap_counts(generator, n_y).astype(np.int64)[y_owner])
        reps[b] = 1.0 - ks_2samp(rx, ry).statistic if len(rx) and len(ry) else np.nan
    ci, notes = bootstrap_interval(reps, point, level, what, bounds=(0.0, 1.0))
    if ci is not None:
        ci = ci.model_copy(update={"method": f"basic bootstrap over clips, B={n_bootstrap}"})
    return point, ci, notes


def quantiles(values: np.ndarray) -> dict[str, float]:
    return {"n": int(values.size), "mean": float(values.mean()),
            **{f"p{q}": float(np.quantile(values, q / 100)) for q in (5, 25, 50, 75, 95)}}
