"""Fréchet distance and KID between real and synthetic image features, computed by torchmetrics'
`FrechetInceptionDistance` and `KernelInceptionDistance` (the kept reference), each over every image once.

Features are extracted once (see features.py) and handed to torchmetrics through an identity module, so the
bootstrap and the per-class scores do not run the network again. With fewer images than feature dimensions the
features are first rotated onto an orthonormal basis of their own span: the Fréchet distance is invariant under that
rotation (means and covariances all lie in the span), and the matrices torchmetrics takes the eigenvalues of shrink
from d x d to at most n x n. KID's polynomial kernel depends on dot products and on gamma = 1/d; the rotation keeps
the dot products and gamma stays 1/d of the original features.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

FID_SMALL_N = 500  # below this many images on a side, FID is noticeably biased upwards (Chong & Forsyth, 2020)
KID_SMALL_N = 50  # KID is unbiased, but its spread below this is too wide to rank generators


class GivenFeatures(torch.nn.Module):
    """The identity, with `num_features`: torchmetrics' metrics then take precomputed features as their 'images'."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """torch on one thread for these small matrix computations (restored after): on a busy 2-core machine two
    threads waited on each other, and one 257-d FID took 8-30 s instead of 0.3 s."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def span_basis(*sides: np.ndarray) -> np.ndarray | None:
    """An orthonormal basis (d x k) of the span of every feature row, or None where k would not be below d."""
    stacked = np.concatenate(sides)
    if stacked.shape[0] >= stacked.shape[1]:
        return None
    basis, _ = np.linalg.qr(stacked.T)
    return basis


def fid(real: np.ndarray, synthetic: np.ndarray, basis: np.ndarray | None = None) -> float:
    """torchmetrics' Fréchet distance of two feature sets (rotated onto `basis` first, if given)."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    if basis is not None:
        real, synthetic = real @ basis, synthetic @ basis
    with one_torch_thread():
        metric = FrechetInceptionDistance(feature=GivenFeatures(real.shape[1]), reset_real_features=True)
        metric.update(torch.from_numpy(np.ascontiguousarray(real)), real=True)
        metric.update(torch.from_numpy(np.ascontiguousarray(synthetic)), real=False)
        return float(metric.compute())


def symmetric_fid(real: np.ndarray, synthetic: np.ndarray) -> float:
    """The Fréchet distance with the trace term from the eigenvalues of the symmetric PSD matrix S1^1/2 S2 S1^1/2
    (numpy eigh), for bootstrap replicates at full dimension only: torchmetrics' general eigensolver on a d x d
    product (d = 1280) took 5-30 s a call on 2 cores, eigh about 1 s. The two agree to ~1e-5 there (benchmarks/image.py)."""
    from biosynth.eval._measure import one_blas_thread

    with one_blas_thread():  # two BLAS threads on a busy 2-core machine: 1.4 s a call instead of 0.02 s
        s1, s2 = np.cov(real, rowvar=False), np.cov(synthetic, rowvar=False)
        w, v = np.linalg.eigh(s1)
        root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
        middle = np.linalg.eigvalsh(root @ s2 @ root)
    return float(((real.mean(0) - synthetic.mean(0)) ** 2).sum() + np.trace(s1) + np.trace(s2)
                 - 2 * np.sqrt(np.clip(middle, 0, None)).sum())


def kid(real: np.ndarray, synthetic: np.ndarray, seed: int, basis: np.ndarray | None = None,
        subsets: int = 100, subset_size: int = 1000) -> tuple[float, float]:
    """torchmetrics' KID (mean, std over subsets): cubic polynomial kernel with gamma = 1 / (original dimension);
    subsets drawn by torch's generator seeded with `seed` (restored after). With both sides no larger than the
    subset size every subset is the whole sample, so one subset is computed."""
    from torchmetrics.image.kid import KernelInceptionDistance

    dimension = real.shape[1]
    if basis is not None:
        real, synthetic = real @ basis, synthetic @ basis
    size = min(subset_size, len(real), len(synthetic))
    count = 1 if len(real) == len(synthetic) == size else subsets
    with warnings.catch_warnings():  # "will save all extracted features in buffer": features are already in memory
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(feature=GivenFeatures(real.shape[1]), subsets=count, subset_size=size,
                                         gamma=1.0 / dimension)
    metric.update(torch.from_numpy(np.ascontiguousarray(real)), real=True)
    metric.update(torch.from_numpy(np.ascontiguousarray(synthetic)), real=False)
    with torch.random.fork_rng(devices=[]), one_torch_thread():
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)


def sample_size_warnings(what: str, n_real: int, n_synthetic: int, dimension: int, small: int) -> list[str]:
    notes = []
    if min(n_real, n_synthetic) < small:
        notes.append(f"{what} on {n_real} real and {n_synthetic} synthetic images (below {small} a side): biased at "
                     "this size and sensitive to it; compare only numbers computed at equal sample sizes and on the "
                     "same features, and read the bootstrap interval")
    if what == "FID" and min(n_real, n_synthetic) <= dimension:
        notes.append(f"fewer images than feature dimensions ({dimension}): the covariances are singular, so FID "
                     "measures mostly the spread of so few points")
    return notes
