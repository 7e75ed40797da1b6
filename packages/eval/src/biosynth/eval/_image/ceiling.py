"""The real-vs-real reference for image fidelity: FID between two disjoint parts of the real images, beside the FID
of as many synthetic images against the same real part, so both numbers share sample sizes (FID depends on them)."""

from __future__ import annotations

from typing import Any

import numpy as np

from biosynth.core import derive_seed
from biosynth.eval._image.fidelity import fid, span_basis

REPEATS = 5


def fid_ceiling(real: np.ndarray, synthetic: np.ndarray, seed: int, repeats: int = REPEATS) -> dict[str, Any]:
    """Over `repeats` seeded splits: n = min(synthetic, half the real) real images against the other real ones
    (`fid_real`), and n synthetic images (drawn without replacement) against the same other real ones
    (`fid_synthetic`); mean, min and max of each. `{"status": "not_applicable", ...}` when too few images."""
    n = min(len(synthetic), len(real) // 2)
    if n < 2:
        return {"status": "not_applicable", "reason": f"{len(real)} real and {len(synthetic)} synthetic images: too "
                "few to split the real ones into two parts of two or more"}
    scores: dict[str, list[float]] = {"fid_real": [], "fid_synthetic": []}
    for repeat in range(repeats):
        g = np.random.default_rng(derive_seed(seed, "image_fid_ceiling", repeat))
        order = g.permutation(len(real))
        sample, reference = real[order[:n]], real[order[n:]]
        drawn = synthetic[g.permutation(len(synthetic))[:n]]
        scores["fid_real"].append(fid(reference, sample, span_basis(reference, sample)))
        scores["fid_synthetic"].append(fid(reference, drawn, span_basis(reference, drawn)))
    summary: dict[str, Any] = {
        "status": "computed", "n": n, "n_reference": len(real) - n, "repeats": repeats,
        "method": f"{n} real and {n} synthetic images, each against the other {len(real) - n} real ones, {repeats} "
                  "seeded splits"}
    for name, values in scores.items():
        summary[name] = {"mean": float(np.mean(values)), "low": float(np.min(values)), "high": float(np.max(values))}
    return summary
