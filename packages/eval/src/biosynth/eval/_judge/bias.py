"""Length bias: judges tend to prefer longer texts (Dubois et al., 2024). The correlation of score with length, and
a length-controlled score: each score moved along the fitted score-length line to one reference length (the real
texts' median length when known), so that datasets of different lengths compare at equal length. For pairwise
verdicts, AlpacaEval's idea: a logistic regression of the verdict on the length difference, read at zero difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


def word_count(text: str) -> int:
    return len(text.split())


@dataclass(frozen=True)
class LengthBias:
    rho: float
    p_value: float
    slope_per_100_words: float
    controlled_score: float
    reference_length: float
    reference_source: str


def length_bias(scores: Sequence[float], lengths: Sequence[int], reference_lengths: Sequence[int] | None = None
                ) -> LengthBias:
    """Spearman's rho of score with length (words), the least-squares slope, and the mean score at the reference
    length: mean(score_i - slope * (length_i - L)), with L the median of `reference_lengths` (or of `lengths`)."""
    y = np.asarray(scores, dtype=np.float64)
    x = np.asarray(lengths, dtype=np.float64)
    if len(y) < 3:
        raise ValueError(f"length bias needs at least 3 graded texts, got {len(y)}")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        raise ValueError("length bias is undefined when every text has the same length or the same score")
    rho, p_value = stats.spearmanr(x, y)
    slope = float(np.polyfit(x, y, 1)[0])
    if reference_lengths:
        reference, source = float(np.median(reference_lengths)), "median length of the reference texts"
    else:
        reference, source = float(np.median(x)), "median length of the judged texts (no reference given)"
    controlled = float(np.mean(y - slope * (x - reference)))
    return LengthBias(rho=float(rho), p_value=float(p_value), slope_per_100_words=100 * slope,
                      controlled_score=controlled, reference_length=reference, reference_source=source)


def length_controlled_win_rate(a_wins: Sequence[bool], length_differences: Sequence[float]) -> float:
    """P(a wins) at zero length difference from a logistic regression of the verdicts on the length difference
    (words, scaled by its standard deviation); scikit-learn's L2-regularised fit stays finite under separation."""
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(a_wins, dtype=int)
    d = np.asarray(length_differences, dtype=np.float64)
    if len(set(y.tolist())) < 2:
        raise ValueError("every consistent verdict went one way: no length control is possible")
    scale = float(np.std(d)) or 1.0
    model = LogisticRegression().fit((d / scale)[:, None], y)
    return float(1.0 / (1.0 + np.exp(-model.intercept_[0])))
