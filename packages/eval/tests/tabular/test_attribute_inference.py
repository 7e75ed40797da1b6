"""Attribute inference (nearest neighbour and CAP): SDMetrics' CAP scores, hand-computed cases, the two controls."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sdmetrics.single_table import CategoricalCAP, CategoricalZeroCAP

from biosynth.core import ConfigError
from biosynth.eval import attribute_inference_cap, attribute_inference_nn

SENSITIVE = ["sex", "stage", "smoker", "age"]
ATTACKS = (attribute_inference_nn, attribute_inference_cap)


@pytest.fixture(scope="module")
def population(make_table) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    frame = make_table(2400, seed=5)
    return (frame.iloc[:800].reset_index(drop=True), frame.iloc[800:1600].reset_index(drop=True),
            frame.iloc[1600:].reset_index(drop=True))


def categorical_table(n: int, seed: int) -> pd.DataFrame:
    g = np.random.default_rng(seed)
    a, b = g.choice(list("abc"), n), g.choice(["x", "y"], n)
    c = np.where(g.random(n) < 0.7, a, g.choice(list("abcd"), n))  # c depends on a
    return pd.DataFrame({"a": a, "b": b, "c": c})


def test_cap_equals_sdmetrics_categorical_cap_and_zero_cap() -> None:
    real, synthetic = categorical_table(300, 1), categorical_table(40, 2)  # few synthetic rows: some keys unmatched
    meta = {"a": "categorical", "b": "categorical", "c": "categorical"}
    for keys in (["a", "b"], ["a"]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # SDMetrics deprecates computing CAP directly
            cap = CategoricalCAP.compute(real, synthetic, key_fields=keys, sensitive_fields=["c"])
            zero_cap = CategoricalZeroCAP.compute(real, synthetic, key_fields=keys, sensitive_fields=["c"])
        result = attribute_inference_cap(real, synthetic, categorical_table(100, 3), meta, sensitive="c",
                                         quasi_identifiers=keys, n_bootstrap=0)
        row = result.details["columns"][0]
        assert row["sdmetrics_categorical_cap"] == pytest.approx(cap, abs=1e-12)
        assert row["sdmetrics_zero_cap"] == pytest.approx(zero_cap, abs=1e-12)
    assert row["matched_train"] == 300  # one key column: every key occurs


def test_nearest_neighbour_by_hand() -> None:
    meta = {"x": "numerical", "y": "categorical", "z": "numerical"}
    synthetic = pd.DataFrame({"x": [0.0, 10.0, 20.0], "y": ["a", "b", "c"], "z": [0.0, 5.0, 10.0]})
    train = pd.DataFrame({"x": [1.0, 11.0, 19.0, 2.0], "y": ["a", "b", "c", "b"], "z": [0.0, 5.0, 8.0, 1.0]})
    holdout = pd.DataFrame({"x": [9.0, 18.0], "y": ["a", "a"], "z": [1.0, 1.0]})
    result = attribute_inference_nn(train, synthetic, holdout, meta, sensitive=["y", "z"], n_bootstrap=0)
    y, z = result.details["columns"]
    # y from (x, z), distances scaled by the synthetic ranges 20 and 10: training rows' nearest synthetic rows are
    # 0, 1, 2, 0 -> a, b, c, a: 3 of 4 right; holdout (9, 1) -> row 1 (0.225 < 0.275), (18, 1) -> row 1 (0.4): b, b
    assert (y["train"], y["holdout"], y["leak"]) == (0.75, 0.0, 0.75)
    # z from (x, y); error over the training range of z (8): neighbours 0, 1, 2, 1 -> 0, 0, 2/8, 4/8
    assert z["train"] == pytest.approx((0 + 0 + 0.25 + 0.5) / 4)
    # holdout (9, a) -> row 0 (0.225), (18, a) -> row 0 (0.45 < 0.55): both guess 0 for 1 -> 1/8 each
    assert z["holdout"] == pytest.approx(0.125) and z["leak"] == pytest.approx(0.125 - 0.1875)
    assert result.value == 0.75 and result.details["worst_column"] == "y" and result.details["leak_detected"] is None


@pytest.mark.parametrize("attack", ATTACKS)
def test_a_copy_of_the_training_data_is_flagged(attack, population, metadata) -> None:
    train, holdout, _ = population
    result = attack(train, train.copy(), holdout, metadata, sensitive=SENSITIVE, seed=1)
    assert result.ok and result.details["leak_detected"] is True and result.threat_model
    assert result.ci.low > 0 and result.value > 0.3
    assert result.ci.level == pytest.approx(1 - 0.05 / 4)  # Bonferroni over four sensitive columns


@pytest.mark.parametrize("attack", ATTACKS)
def test_an_independent_sample_is_not_flagged(attack, population, metadata) -> None:
    train, holdout, independent = population
    result = attack(train, independent, holdout, metadata, sensitive=SENSITIVE, seed=1)
    assert result.ok and result.details["leak_detected"] is False, (result.value, result.ci)
    assert abs(result.value) < 0.1


def test_reasons_for_what_cannot_run(population, metadata) -> None:
    train, holdout, independent = population
    cap = attribute_inference_cap(train, independent, holdout, metadata, sensitive="age", n_bootstrap=0)
    assert cap.status == "not_applicable" and "categorical sensitive column" in cap.error
    for attack in ATTACKS:
        missing = attack(train, independent, None, metadata, sensitive="sex")
        assert missing.status == "not_applicable" and "holdout" in missing.error and missing.value is None
    with pytest.raises(ConfigError, match="not scored columns"):
        attribute_inference_nn(train, independent, holdout, metadata, sensitive="diagnosis")
