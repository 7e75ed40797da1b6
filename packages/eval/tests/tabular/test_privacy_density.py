"""DOMIAS density-ratio membership inference: synthcity's KDE definition, the two privacy controls, the NaN rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import gaussian_kde
from sklearn.metrics import roc_auc_score, roc_curve

from biosynth.core import ConfigError
from biosynth.eval import membership_inference_density

NUMBERS = {"columns": {"age": {"sdtype": "numerical"}, "visits": {"sdtype": "numerical"},
                       "sex": {"sdtype": "categorical"}}}


@pytest.fixture(scope="module")
def population(make_table) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    frame = make_table(2400, seed=5)
    return (frame.iloc[:800].reset_index(drop=True), frame.iloc[800:1600].reset_index(drop=True),
            frame.iloc[1600:].reset_index(drop=True))


def synthcity_domias_auc(train, synthetic, non_members, reference) -> tuple[float, float]:
    """synthcity's DomiasMIAKDE written out: gaussian_kde on the synthetic and the reference data, p_rel =
    p_G / (p_R + 1e-10) at members and non-members, ROC AUC; the features standardised by hand on the real data,
    `sex` one-hot with the first category ('F') dropped. Returns (AUC, TPR at FPR 1%)."""
    real = pd.concat([train, non_members, reference], ignore_index=True)

    def encode(frame: pd.DataFrame) -> np.ndarray:
        columns = [(frame[c] - real[c].mean()) / real[c].std(ddof=0) for c in ("age", "visits")]
        return np.column_stack([*columns, (frame["sex"] == "M").astype(float)])

    candidates = np.vstack([encode(train), encode(non_members)])
    p_g = gaussian_kde(encode(synthetic).T)(candidates.T)
    p_r = gaussian_kde(encode(reference).T)(candidates.T)
    labels = np.r_[np.ones(len(train)), np.zeros(len(non_members))]
    scores = p_g / (p_r + 1e-10)
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(roc_auc_score(labels, scores)), float(tpr[fpr <= 0.01].max())


def test_equals_synthcity_kde_definition(make_table) -> None:
    table = make_table(1400, seed=8, missing=0.0)
    train, non_members, reference = table.iloc[:400], table.iloc[400:800], table.iloc[800:1100]
    synthetic = pd.concat([table.iloc[1100:], train.iloc[:100]], ignore_index=True)  # a partial leak
    result = membership_inference_density(train, synthetic, non_members, NUMBERS, reference=reference, n_bootstrap=0)
    auc, tpr = synthcity_domias_auc(train, synthetic, non_members, reference)
    assert result.ok and result.value == pytest.approx(auc, abs=1e-12)
    assert result.details["tpr_at_fpr_0.01"] == pytest.approx(tpr, abs=1e-12)
    assert result.details["features"] == 3 and result.details["members"] == 400
    assert result.details["non_members"] == 400 and result.details["reference_records"] == 300
    assert 0.5 < auc < 1  # the leak is visible, not total


def test_a_copy_of_the_training_data_is_flagged(population, metadata) -> None:
    train, holdout, _ = population
    result = membership_inference_density(train, train.copy(), holdout, metadata, seed=1)
    assert result.ok and result.details["leak_detected"] is True and result.threat_model
    assert result.ci.low > 0.5 and result.value > 0.7
    assert result.details["non_members"] + result.details["reference_records"] == len(holdout)
    low, high = result.details["tpr_at_fpr_0.01_ci"]
    assert low <= result.details["tpr_at_fpr_0.01"] <= high and result.details["tpr_at_fpr_0.01"] > 0.01


def test_an_independent_sample_is_not_flagged(population, metadata) -> None:
    train, holdout, independent = population
    result = membership_inference_density(train, independent, holdout, metadata, seed=1, n_bootstrap=100)
    assert result.ok and result.details["leak_detected"] is False, (result.value, result.ci)
    assert abs(result.value - 0.5) < 0.05 and result.details["tpr_at_fpr_0.01"] < 0.05
    assert any("0.001 is not resolvable" in w for w in result.warnings)  # 400 non-members
    seeded = membership_inference_density(train, independent, holdout, metadata, seed=1, n_bootstrap=100)
    assert seeded.value == result.value and seeded.ci == result.ci


def test_without_holdout_or_with_constant_features_it_says_why(population, metadata) -> None:
    train, holdout, independent = population
    missing = membership_inference_density(train, independent, None, metadata)
    assert missing.status == "not_applicable" and missing.value is None and "holdout" in missing.error
    constant = independent.copy()
    constant["visits"] = 3.0
    result = membership_inference_density(train, constant, holdout, metadata, n_bootstrap=0)
    assert result.ok and result.details["dropped_features"] == ["visits"]
    assert any("left out" in w for w in result.warnings) and result.details["leak_detected"] is None
    with pytest.raises(ConfigError, match="holdout"):
        membership_inference_density(train, independent, None, metadata, reference=holdout)
