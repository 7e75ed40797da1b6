"""The fidelity ceiling: how well real rows score against other real rows at the synthetic sample size.

A synthetic table cannot be expected to beat this: `column_shapes` and `column_pair_trends` of n real rows,
drawn without replacement, against the remaining real rows. The report states fidelity against it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from biosynth.core import derive_seed, rng
from biosynth.eval._tabular.columns import ColumnKinds
from biosynth.eval._tabular.fidelity import quality_report

REPEATS = 5


def fidelity_ceiling(real: pd.DataFrame, n_synthetic: int, meta: ColumnKinds, seed: int,
                     repeats: int = REPEATS) -> dict[str, Any]:
    """Mean, min and max over `repeats` seeded splits of each score for real-vs-real, with n = min(n_synthetic,
    half the real rows); `{"status": "not_applicable", "reason": ...}` when the real table is too small."""
    n = min(n_synthetic, len(real) // 2)
    if n < 2:
        return {"status": "not_applicable", "reason": f"the real table has {len(real)} rows: too few to split into "
                "two parts of two rows or more"}
    scores: dict[str, list[float]] = {"column_shapes": [], "column_pair_trends": []}
    failures: list[str] = []
    for repeat in range(repeats):
        order = rng(derive_seed(seed, "fidelity_ceiling", repeat)).permutation(len(real))
        sample, reference = real.iloc[order[:n]], real.iloc[order[n:]]
        for result in quality_report(reference, sample, meta, n_bootstrap=0, seed=derive_seed(seed, repeat)):
            if result.ok and result.value is not None:
                scores[result.name].append(result.value)
            else:
                failures.append(f"{result.name}: {result.error}")
    summary: dict[str, Any] = {"status": "computed", "n": n, "n_reference": len(real) - n, "repeats": repeats,
                               "method": f"{n} real rows against the other {len(real) - n}, {repeats} seeded splits"}
    for name, values in scores.items():
        summary[name] = ({"mean": float(np.mean(values)), "low": float(np.min(values)), "high": float(np.max(values))}
                         if values else None)
    if failures:
        summary["failures"] = sorted(set(failures))
    return summary
