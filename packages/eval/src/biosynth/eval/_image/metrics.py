"""Image metrics on feature arrays (N x d, from one extractor): Fréchet distance, KID, precision/recall and
density/coverage, per-class FID/KID, and feature diversity. Each returns a MetricResult naming the features."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from biosynth.eval._image.fidelity import (
    FID_SMALL_N,
    KID_SMALL_N,
    fid,
    kid,
    sample_size_warnings,
    span_basis,
    symmetric_fid,
)
from biosynth.eval._measure import Outcome, bootstrap_interval, check_bootstrap, run_metric
from biosynth.eval._result import Direction, Family, MetricResult

MODALITY = "image"
BOOTSTRAP_SUBSETS = 10
FULL_DIMENSION_REPLICATES = 256  # above this many full-rank feature dimensions, FID replicates use symmetric_fid
FULL_DIMENSION_REPLICATES_B = 50
PRDC_K = 5  # Naeem et al. (2020) recommend k = 5 for precision/recall/density/coverage


def _check(real: np.ndarray, synthetic: np.ndarray) -> None:
    if real.ndim != 2 or synthetic.ndim != 2 or real.shape[1] != synthetic.shape[1]:
        raise ValueError(f"feature arrays must be N x d with one d; got {real.shape} and {synthetic.shape}")
    if len(real) < 2 or len(synthetic) < 2:
        raise ValueError(f"need at least 2 images a side, got {len(real)} real and {len(synthetic)} synthetic")


def frechet_distance_images(real: np.ndarray, synthetic: np.ndarray, *, features: dict[str, Any], seed: int = 0,
                            n_bootstrap: int = 200, level: float = 0.95) -> MetricResult:
    """Fréchet distance (FID on the named features) with a basic bootstrap interval over images of both sides."""
    check_bootstrap(n_bootstrap, level)

    def compute() -> Outcome:
        _check(real, synthetic)
        basis = span_basis(real, synthetic)
        value = fid(real, synthetic, basis)
        g = np.random.default_rng(seed)
        full = basis is None and real.shape[1] > FULL_DIMENSION_REPLICATES
        count, replicate = (min(n_bootstrap, FULL_DIMENSION_REPLICATES_B), symmetric_fid) if full else (
            n_bootstrap, lambda a, b: fid(a, b, basis))
        replicates = np.array([replicate(real[g.integers(0, len(real), len(real))],
                                         synthetic[g.integers(0, len(synthetic), len(synthetic))])
                               for _ in range(count)])
        ci, notes = bootstrap_interval(replicates, value, level, "FID", (0.0, np.inf))
        if full and count:
            notes.append(f"the interval's {count} replicates use the symmetric eigendecomposition (numpy eigh): "
                         f"torchmetrics' eigensolver on {real.shape[1]}-d covariances takes seconds a call")
        notes += sample_size_warnings("FID", len(real), len(synthetic), real.shape[1], FID_SMALL_N)
        return Outcome(value=value, ci=ci, warnings=notes, details={"projected_to_span": basis is not None})

    return run_metric(name="image.fid", family=Family.FIDELITY, direction=Direction.LOWER, compute=compute,
                      modality=MODALITY, n_real=len(real), n_synthetic=len(synthetic), seed=seed,
                      parameters={**features, "library": "torchmetrics FrechetInceptionDistance", "small_n": FID_SMALL_N})


def kernel_distance_images(real: np.ndarray, synthetic: np.ndarray, *, features: dict[str, Any], seed: int = 0,
                           n_bootstrap: int = 200, level: float = 0.95, subsets: int = 100,
                           subset_size: int = 1000) -> MetricResult:
    """KID (unbiased MMD², cubic polynomial kernel) with a basic bootstrap interval over images of both sides; each
    replicate averages 10 subsets rather than `subsets` (200 x 100 kernel sums took ~20 s on 2 cores), which widens
    the interval a little by the subset draw's own spread."""
    check_bootstrap(n_bootstrap, level)

    def compute() -> Outcome:
        _check(real, synthetic)
        basis = span_basis(real, synthetic)
        value, spread = kid(real, synthetic, seed, basis, subsets, subset_size)
        g = np.random.default_rng(seed)
        replicates = np.array([kid(real[g.integers(0, len(real), len(real))],
                                   synthetic[g.integers(0, len(synthetic), len(synthetic))], seed + 1 + b, basis,
                                   BOOTSTRAP_SUBSETS, subset_size)[0] for b in range(n_bootstrap)])
        ci, notes = bootstrap_interval(replicates, value, level, "KID")
        notes += sample_size_warnings("KID", len(real), len(synthetic), real.shape[1], KID_SMALL_N)
        return Outcome(value=value, ci=ci, warnings=notes, details={"std_over_subsets": spread})

    return run_metric(name="image.kid", family=Family.FIDELITY, direction=Direction.LOWER, compute=compute,
                      modality=MODALITY, n_real=len(real), n_synthetic=len(synthetic), seed=seed,
                      parameters={**features, "library": "torchmetrics KernelInceptionDistance", "degree": 3,
                                  "subsets": subsets, "subset_size": subset_size, "small_n": KID_SMALL_N})


def precision_recall_density_coverage(real: np.ndarray, synthetic: np.ndarray, *, features: dict[str, Any],
                                      nearest_k: int = PRDC_K) -> list[MetricResult]:
    """Kynkäänniemi et al.'s precision and recall and Naeem et al.'s density and coverage on k-NN balls, computed by
    `prdc` (NAVER's reference code). No interval: resampling with replacement duplicates points, and a duplicate's
    k-NN radius collapses, so a bootstrap would measure the duplicates."""
    found: dict[str, float] = {}
    notes: list[str] = []

    def run(name: str, direction: Direction, description: str) -> MetricResult:
        def compute() -> Outcome:
            if not found:
                _check(real, synthetic)
                from prdc import compute_prdc

                k = min(nearest_k, len(real) - 1, len(synthetic) - 1)
                if k < nearest_k:
                    notes.append(f"k lowered from {nearest_k} to {k}: too few images for {nearest_k} neighbours")
                with contextlib.redirect_stdout(io.StringIO()):  # prdc prints the sample sizes
                    found.update({key: float(v) for key, v in compute_prdc(real, synthetic, nearest_k=k).items()})
                found["k"] = k
            return Outcome(value=found[name], warnings=list(notes), details={"k": int(found["k"]),
                                                                              "meaning": description})

        return run_metric(name=f"image.{name}", family=Family.FIDELITY, direction=direction, compute=compute,
                          modality=MODALITY, n_real=len(real), n_synthetic=len(synthetic),
                          parameters={**features, "library": "prdc", "nearest_k": nearest_k})

    return [run("precision", Direction.HIGHER, "share of synthetic images inside the real k-NN manifold"),
            run("recall", Direction.HIGHER, "share of real images inside the synthetic k-NN manifold"),
            run("density", Direction.HIGHER, "real k-NN balls holding each synthetic image, over k (1: as real)"),
            run("coverage", Direction.HIGHER, "share of real images whose k-NN ball holds a synthetic image")]


def per_class_fidelity(real: np.ndarray, real_labels: Sequence[str | None], synthetic: np.ndarray,
                       synthetic_labels: Sequence[str | None], *, features: dict[str, Any], seed: int = 0,
                       label: str | None = None) -> list[MetricResult]:
    """FID and KID within each class that both sides hold at least 2 images of (CheXGenBench reports FID per
    pathology); the value is the mean over those classes, each class's score and sizes in `details`. No interval:
    a class holds few images."""
    rows: list[dict[str, Any]] = []

    def classes() -> list[dict[str, Any]]:
        if rows:
            return rows
        known = sorted({c for c in real_labels if c is not None} & {c for c in synthetic_labels if c is not None})
        if not known:
            from biosynth.eval._measure import NotApplicable

            raise NotApplicable("no class is shared by the labelled real images (class sub-folders of --real) and "
                                f"the synthetic images' label {label!r}")
        for name in known:
            r = real[[i for i, c in enumerate(real_labels) if c == name]]
            s = synthetic[[i for i, c in enumerate(synthetic_labels) if c == name]]
            row: dict[str, Any] = {"class": name, "n_real": len(r), "n_synthetic": len(s)}
            if min(len(r), len(s)) >= 2:
                basis = span_basis(r, s)
                row["fid"] = fid(r, s, basis)
                row["kid"] = kid(r, s, seed, basis)[0]
            rows.append(row)
        return rows

    def run(key: str) -> MetricResult:
        def compute() -> Outcome:
            scored = [row for row in classes() if key in row]
            skipped = [row["class"] for row in classes() if key not in row]
            if not scored:
                from biosynth.eval._measure import NotApplicable

                raise NotApplicable(f"no class has 2 or more images on both sides ({classes()})")
            notes = [f"classes with fewer than 2 images a side are not scored: {skipped}"] if skipped else []
            notes.append("per-class scores rest on a few images each: biased upwards and noisy")
            return Outcome(value=float(np.mean([row[key] for row in scored])), warnings=notes,
                           details={"classes": classes(), "mean_over": [row["class"] for row in scored]})

        return run_metric(name=f"image.{key}_per_class", family=Family.FIDELITY, direction=Direction.LOWER,
                          compute=compute, modality=MODALITY, n_real=len(real), n_synthetic=len(synthetic), seed=seed,
                          parameters={**features, "label": label})

    return [run("fid"), run("kid")]


def mean_pairwise_distance(x: np.ndarray) -> float:
    from scipy.spatial.distance import pdist

    return float(pdist(x).mean())


def feature_diversity(real: np.ndarray, synthetic: np.ndarray, *, features: dict[str, Any]) -> MetricResult:
    """Mean pairwise Euclidean feature distance within the synthetic set; the real set's in `details` as the
    reference (a generator that collapses onto few modes scores far below it)."""

    def compute() -> Outcome:
        if len(synthetic) < 2:
            raise ValueError(f"need at least 2 synthetic images, got {len(synthetic)}")
        value = mean_pairwise_distance(synthetic)
        reference = mean_pairwise_distance(real) if len(real) >= 2 else None
        return Outcome(value=value, details={"real_mean_pairwise_distance": reference,
                                             "ratio_to_real": value / reference if reference else None})

    return run_metric(name="image.feature_diversity", family=Family.DIVERSITY, direction=Direction.HIGHER,
                      compute=compute, modality=MODALITY, n_real=len(real), n_synthetic=len(synthetic),
                      parameters=features)
