"""Memorisation: each synthetic image's nearest training image, by feature distance and by pixel correlation, and
near-copies flagged against a threshold calibrated on held-out real images (never a constant).

The calibration: the held-out images are real and unseen by the generator, so their distances to the training set
show how close an honest new image comes. A synthetic image is a near-copy when it is closer in features than the
`quantile` (default: the smallest) of those distances, or more correlated in pixels than the matching upper quantile
of theirs. An unseen image is then flagged with probability about 2 x max(quantile, 1/(n_holdout + 1)); a leak is
declared when a one-sided binomial test finds more flags than that rate explains (p < 0.05).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from biosynth.eval._image.pixels import standardised_pixels
from biosynth.eval._measure import NotApplicable, Outcome, run_metric
from biosynth.eval._result import Direction, Family, MetricResult

PIXEL_SIDE = 64  # pixel correlation at 64 x 64 grayscale (smaller images: their own side)
MIN_HOLDOUT = 5
MAX_LISTED = 500  # per-image rows kept in details


def _nearest_features(query: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from scipy.spatial.distance import cdist

    distances = cdist(query, train)
    nearest = distances.argmin(axis=1)
    return nearest, distances[np.arange(len(query)), nearest]


def _nearest_pixels(query: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    correlations = query @ train.T
    nearest = correlations.argmax(axis=1)
    return nearest, correlations[np.arange(len(query)), nearest]


def pixel_side(*sets: Sequence[np.ndarray]) -> int:
    return min(PIXEL_SIDE, *(min(image.shape[:2]) for images in sets for image in images))


def near_copies(train_features: np.ndarray, train_images: Sequence[np.ndarray], train_names: Sequence[str],
                 synthetic_features: np.ndarray, synthetic_images: Sequence[np.ndarray],
                 synthetic_names: Sequence[str], holdout_features: np.ndarray | None = None,
                 holdout_images: Sequence[np.ndarray] | None = None, *, features: dict[str, Any],
                 quantile: float = 0.0) -> MetricResult:
    """`image.near_copies`: the share of synthetic images flagged as near-copies of a training image; every synthetic
    image's nearest training image by features and by pixels in `details`. Without enough held-out images there is no
    threshold: the result is 'not_applicable' with the nearest distances still listed."""
    if not 0 <= quantile < 0.5:
        from biosynth.core import ConfigError

        raise ConfigError(f"quantile must lie in [0, 0.5), got {quantile}")
    n_holdout = None if holdout_features is None else len(holdout_features)
    listed: dict[str, Any] = {}

    def compute() -> Outcome:
        if len(train_features) < 1 or len(synthetic_features) < 1:
            raise ValueError(f"need training and synthetic images, got {len(train_features)} and "
                             f"{len(synthetic_features)}")
        side = pixel_side(train_images, synthetic_images, holdout_images or [])
        train_pixels = standardised_pixels(train_images, side)
        by_feature, distance = _nearest_features(synthetic_features, train_features)
        by_pixel, correlation = _nearest_pixels(standardised_pixels(synthetic_images, side), train_pixels)
        rows = [{"synthetic": synthetic_names[i], "nearest_by_features": train_names[by_feature[i]],
                 "feature_distance": float(distance[i]), "nearest_by_pixels": train_names[by_pixel[i]],
                 "pixel_correlation": float(correlation[i])} for i in range(len(synthetic_names))]
        listed.update(nearest=rows[:MAX_LISTED], pixel_side=side,
                      median_feature_distance=float(np.median(distance)),
                      max_pixel_correlation=float(correlation.max()))
        if holdout_features is None or holdout_images is None or len(holdout_features) < MIN_HOLDOUT:
            raise NotApplicable(f"near-copies need at least {MIN_HOLDOUT} held-out real images (--holdout) to set the "
                                f"threshold, got {n_holdout or 0}; the nearest training images are listed in details")
        _, holdout_distance = _nearest_features(holdout_features, train_features)
        _, holdout_correlation = _nearest_pixels(standardised_pixels(holdout_images, side), train_pixels)
        copies = (holdout_distance <= 1e-9) | (holdout_correlation >= 1 - 1e-9)
        notes = [f"{int(copies.sum())} held-out images equal a training image (feature distance 0 or pixel "
                 "correlation 1) and are left out of the threshold: a copy of a training image is not held out, and "
                 "it would set the threshold where nothing can be flagged"] if copies.any() else []
        holdout_distance, holdout_correlation = holdout_distance[~copies], holdout_correlation[~copies]
        if len(holdout_distance) < MIN_HOLDOUT:
            raise NotApplicable(f"near-copies need at least {MIN_HOLDOUT} held-out real images that are not copies of "
                                f"training images; {len(holdout_distance)} of {len(copies)} are not")
        distance_threshold = float(np.quantile(holdout_distance, quantile, method="lower"))
        correlation_threshold = float(np.quantile(holdout_correlation, 1 - quantile, method="higher"))
        flags = (distance < distance_threshold) | (correlation > correlation_threshold)
        for row, flag, d, c in zip(rows, flags, distance, correlation, strict=True):
            row["near_copy"] = bool(flag)
            row["reasons"] = [*(["features"] if d < distance_threshold else []),
                              *(["pixels"] if c > correlation_threshold else [])]
        from scipy.stats import binomtest

        expected = min(1.0, 2 * max(quantile, 1 / (len(holdout_distance) + 1)))
        p_value = float(binomtest(int(flags.sum()), len(flags), expected, alternative="greater").pvalue)
        flagged = [row["synthetic"] for row in rows if row["near_copy"]]
        if flagged:
            notes.append(f"{len(flagged)} synthetic images are nearer a training image than held-out real images come: "
                         f"{flagged[:10]}{' ...' if len(flagged) > 10 else ''}")
        return Outcome(value=float(flags.mean()), warnings=notes, details={
            **listed, "nearest": rows[:MAX_LISTED], "flagged": flagged, "feature_distance_threshold": distance_threshold,
            "pixel_correlation_threshold": correlation_threshold,
            "holdout_median_feature_distance": float(np.median(holdout_distance)),
            "holdout_used": len(holdout_distance),
            "expected_rate_for_unseen_images": expected, "binomial_p_value": p_value, "leak_detected": p_value < 0.05})

    result = run_metric(name="image.near_copies", family=Family.MEMORISATION, direction=Direction.LOWER,
                        compute=compute, modality="image", n_real=len(train_features),
                        n_synthetic=len(synthetic_features), n_holdout=n_holdout,
                        parameters={**features, "quantile": quantile, "pixel_correlation": "Pearson, grayscale"})
    if result.status == "not_applicable" and listed:
        return result.model_copy(update={"details": listed})
    return result
