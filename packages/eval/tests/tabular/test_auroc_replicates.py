"""The bootstrap AUROC of detection and membership inference: all resamples at once, equal to scikit-learn's."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from biosynth.eval._measure import auroc_replicates


def test_every_resample_equals_scikit_learn_with_ties_and_rows_left_out() -> None:
    generator = np.random.default_rng(11)
    positive = np.r_[np.ones(70, dtype=bool), np.zeros(90, dtype=bool)]
    score = np.round(generator.normal(positive * 0.7, 1.0), 1)  # rounded: many ties across both sides
    counts = np.array([np.r_[np.bincount(generator.integers(0, 70, 70), minlength=70),
                             np.bincount(generator.integers(0, 90, 90), minlength=90)] for _ in range(150)], float)
    got = auroc_replicates(positive, score, counts)  # 150 resamples: more than one block of 64
    want = [roc_auc_score(positive, score, sample_weight=c) for c in counts]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert 0.6 < np.median(got) < 0.8 and np.std(got) > 0.01  # a real signal, and the resamples differ


def test_a_resample_without_negatives_is_nan_as_in_scikit_learn() -> None:
    positive = np.array([True, True, False, False])
    counts = np.array([[1.0, 2.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    got = auroc_replicates(positive, np.array([0.9, 0.2, 0.5, 0.1]), counts)
    assert np.isnan(got[0]) and got[1] == pytest.approx(0.75)
