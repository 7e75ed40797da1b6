"""Utility (issue 4): TSTR beside TRTR and augmentation, intervals over the test rows, failures with reasons."""

from __future__ import annotations

import json

import numpy as np
import pytest

from biosynth.core import Group, default_registry
from biosynth.eval import evaluate_tabular, utility_tstr

B = 40  # bootstrap replicates: enough for an interval, cheap enough for the suite


@pytest.fixture(scope="module")
def split(real_table):
    """The seeded real table as (train, test); target 'stage' (I-IV, driven by age) with missing values."""
    return real_table.iloc[:1000].reset_index(drop=True), real_table.iloc[1000:].reset_index(drop=True)


def _scores(result) -> dict[tuple[str, str, str], dict]:
    return {(r["arm"], r["model"], r["score"]): r for r in result.details["scores"]}


def test_trtr_learns_and_a_copy_of_the_training_data_scores_as_trtr(split, metadata) -> None:
    train, test = split
    result = utility_tstr(train, train.copy(), test, "stage", metadata, seed=3, n_bootstrap=B)
    assert result.ok and result.family.value == "utility" and result.direction.value == "higher_is_better"
    scores = _scores(result)
    assert len(scores) == 3 * 2 * 2
    for model in ("logistic_regression", "gradient_boosting"):
        trtr = scores["trtr", model, "auroc"]
        assert trtr["value"] > 0.6 and trtr["ci"][0] > 0.55, trtr
        for score in ("auroc", "f1"):
            assert scores["tstr", model, score]["value"] == pytest.approx(scores["trtr", model, score]["value"],
                                                                          abs=1e-12)
    assert result.value == pytest.approx(result.details["trtr_auroc"]) and result.ci is not None
    assert any("have no 'stage' and were dropped" in w for w in result.warnings)


def test_synthetic_labels_independent_of_features_give_chance_auroc(split, metadata) -> None:
    train, test = split
    shuffled = train.copy()
    shuffled["stage"] = np.random.default_rng(0).permutation(shuffled["stage"].to_numpy())
    result = utility_tstr(train, shuffled, test, "stage", metadata, seed=3, n_bootstrap=B)
    assert result.ok and result.ci is not None
    scores = _scores(result)
    for model in ("logistic_regression", "gradient_boosting"):
        tstr = scores["tstr", model, "auroc"]
        assert abs(tstr["value"] - 0.5) < 0.07 and tstr["ci"][0] <= 0.5 <= tstr["ci"][1], tstr
        assert scores["trtr", model, "auroc"]["value"] > tstr["value"] + 0.1
    assert result.ci.low <= 0.5 <= result.ci.high


@pytest.mark.parametrize("case, reason", [
    ("no_target", "missing from the synthetic"),
    ("one_class", "single class in the synthetic"),
    ("unseen_class", "never shows"),
])
def test_unusable_targets_fail_with_the_reason(split, metadata, case, reason) -> None:
    train, test = split
    synthetic, test = train.copy(), test.copy()
    if case == "no_target":
        synthetic = synthetic.drop(columns="stage")
    elif case == "one_class":
        synthetic["stage"] = "II"
    else:
        test.loc[:4, "stage"] = "V"
    result = utility_tstr(train, synthetic, test, "stage", metadata, n_bootstrap=0)
    assert result.status == "failed" and result.value is None
    assert reason in result.error, result.error


def test_suite_runs_utility_with_a_target_and_reports_it(split, synthetic_table, metadata, tmp_path) -> None:
    train, test = split
    without = evaluate_tabular(train, synthetic_table, test, metadata, n_bootstrap=0)
    assert "utility_tstr" not in [r.name for r in without.results]
    report = evaluate_tabular(train, synthetic_table, test, metadata, n_bootstrap=0, target="stage")
    data = json.loads(report.write(tmp_path).read_text())
    [utility] = [r for r in data["results"] if r["name"] == "utility_tstr"]
    assert utility["status"] == "ok" and utility["family"] == "utility" and len(utility["details"]["scores"]) == 12
    assert "tstr" in (tmp_path / "report.html").read_text()
    no_holdout = evaluate_tabular(train, synthetic_table, None, metadata, n_bootstrap=0, target="stage")
    assert no_holdout.result("utility_tstr").status == "not_applicable"


def test_registered_as_tabular_utility() -> None:
    assert default_registry().get(Group.METRICS, "tabular.utility") is utility_tstr


@pytest.mark.parametrize("n_classes", [2, 3])
def test_bootstrap_replicates_equal_scikit_learn_on_every_resample(n_classes) -> None:
    from sklearn.exceptions import UndefinedMetricWarning

    from biosynth.eval._tabular.utility import _auroc, _auroc_replicates, _f1, _f1_replicates

    generator = np.random.default_rng(5)
    classes = np.array(["a", "b", "c"][:n_classes], dtype=object)
    y = classes[generator.integers(0, n_classes, 60)]
    y[:n_classes] = classes  # every class in the test rows
    proba = generator.dirichlet(np.ones(n_classes), 60).round(1)  # rounded: many tied scores
    predicted = classes[proba.argmax(axis=1)]
    counts = np.array([np.bincount(generator.integers(0, 60, 60), minlength=60) for _ in range(50)], dtype=float)
    counts[0, y == classes[0]] = 0  # a resample without the first class
    aurocs = _auroc_replicates(y, proba, classes, counts)
    f1s = _f1_replicates(y, predicted, classes, counts)
    for b in range(len(counts)):
        if n_classes == 2 and b == 0:  # one class only: AUROC is undefined (NaN, as scikit-learn gives); F1 is not
            with pytest.warns(UndefinedMetricWarning):
                assert np.isnan(aurocs[b]) and np.isnan(_auroc(y, proba, classes, counts[b]))
        else:
            assert aurocs[b] == pytest.approx(_auroc(y, proba, classes, counts[b]), abs=1e-12), b
        assert f1s[b] == pytest.approx(_f1(y, predicted, classes, counts[b]), abs=1e-12), b
    assert len(np.unique(aurocs[1:].round(9))) > 10  # the resamples differ: not one value repeated
