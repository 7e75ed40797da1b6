"""Privacy metrics: exact DCR against brute force, and the two controls every privacy suite must pass."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biosynth.eval import (
    ColumnKinds,
    distance_to_closest_record,
    evaluate_tabular,
    exact_copy_rate,
    membership_inference_distance,
    nearest_records,
)

PRIVACY = (distance_to_closest_record, exact_copy_rate, membership_inference_distance)


def brute_force_distances(query: pd.DataFrame, reference: pd.DataFrame, metadata: ColumnKinds) -> np.ndarray:
    """The DCR distance written out for every (query, reference) pair: an n x m matrix, no tricks."""
    total = np.zeros((len(query), len(reference)))
    for name in metadata.scored:
        kind = metadata.columns[name]
        q, r = query[name], reference[name]
        q_missing, r_missing = q.isna().to_numpy()[:, None], r.isna().to_numpy()[None, :]
        if kind.continuous:
            qv = q.astype("int64").where(q.notna()).to_numpy(float) if kind.value == "datetime" else q.to_numpy(float)
            rv = r.astype("int64").where(r.notna()).to_numpy(float) if kind.value == "datetime" else r.to_numpy(float)
            width = np.nanmax(rv) - np.nanmin(rv)
            diff = np.abs(qv[:, None] - rv[None, :])
            part = (diff > 0).astype(float) if width == 0 else np.minimum(diff / width, 1.0)
        else:
            part = (q.to_numpy(object)[:, None] != r.to_numpy(object)[None, :]).astype(float)
        part = np.where(q_missing & r_missing, 0.0, np.where(q_missing | r_missing, 1.0, part))
        total += part
    return total / len(metadata.scored)


def test_dcr_matches_brute_force_with_out_of_range_missing_and_unseen(metadata, make_table) -> None:
    reference = make_table(300, seed=11)
    query = make_table(200, seed=12, shift=1.5, missing=0.2)  # shifted: many values outside the reference range
    query.loc[:9, "stage"] = "V"  # a category the reference never has
    query.loc[10:14, "age"] = 500.0  # far outside: the clip at 1 binds
    reference["visits"] = 3.0  # constant in the reference: compared as equal / not equal
    meta = ColumnKinds.coerce(metadata, reference)
    ours, nearest = nearest_records(query, reference, meta)
    matrix = brute_force_distances(query, reference, meta)
    np.testing.assert_allclose(ours, matrix.min(axis=1), rtol=0, atol=1e-12)
    assert (ours > 0).all() and ours.max() <= 1
    # the reported neighbour is at the reported distance
    np.testing.assert_allclose(matrix[np.arange(len(query)), nearest], ours, rtol=0, atol=1e-12)


def test_dcr_of_an_exact_copy_is_zero(real_table, metadata) -> None:
    meta = ColumnKinds.coerce(metadata, real_table)
    distance, nearest = nearest_records(real_table.iloc[::7], real_table, meta)
    assert np.all(distance == 0)
    assert np.array_equal(real_table.iloc[nearest].index, real_table.iloc[::7].index) or np.all(distance == 0)


@pytest.fixture(scope="module")
def population(make_table) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    frame = make_table(2400, seed=5)
    return (frame.iloc[:800].reset_index(drop=True), frame.iloc[800:1600].reset_index(drop=True),
            frame.iloc[1600:].reset_index(drop=True))


def test_a_copy_of_the_training_data_is_flagged_by_every_privacy_metric(population, metadata) -> None:
    train, holdout, _ = population
    for metric in PRIVACY:
        result = metric(train, train.copy(), holdout, metadata, seed=1)
        assert result.ok, result.error
        assert result.details["leak_detected"] is True, result.name
        assert result.threat_model
    assert distance_to_closest_record(train, train.copy(), holdout, metadata).value == 0
    assert exact_copy_rate(train, train.copy(), holdout, metadata).value == 1
    mia = membership_inference_distance(train, train.copy(), holdout, metadata)
    assert mia.value == 1 and mia.details["tpr_at_fpr_0.01"] == 1


def test_an_independent_holdout_is_not_flagged(population, metadata) -> None:
    train, holdout, independent = population
    for metric in PRIVACY:
        result = metric(train, independent, holdout, metadata, seed=1)
        assert result.ok, result.error
        assert result.details["leak_detected"] is False, (result.name, result.value, result.ci)
    mia = membership_inference_distance(train, independent, holdout, metadata)
    assert abs(mia.value - 0.5) < 0.05 and mia.details["tpr_at_fpr_0.01"] < 0.05
    assert any("0.001 is not resolvable" in w for w in mia.warnings)  # 800 non-members cannot resolve FPR 0.1%


def test_partial_leak_is_flagged_by_distance_metrics(population, metadata) -> None:
    train, holdout, independent = population
    synthetic = pd.concat([independent.iloc[:700], train.iloc[:100]], ignore_index=True)  # 12.5% copies
    assert exact_copy_rate(train, synthetic, holdout, metadata).details["leak_detected"] is True
    assert membership_inference_distance(train, synthetic, holdout, metadata).details["leak_detected"] is True


def test_privacy_without_holdout_says_why(population, metadata) -> None:
    train, _, independent = population
    dcr = distance_to_closest_record(train, independent, None, metadata)
    assert dcr.status == "not_applicable" and dcr.value is None and "holdout" in dcr.error
    copies = exact_copy_rate(train, train, None, metadata)
    assert copies.ok and copies.value == 1 and copies.details["leak_detected"] is None and copies.warnings


def test_suite_reports_both_controls(population, metadata) -> None:
    train, holdout, independent = population
    leak = evaluate_tabular(train, train.copy(), holdout, metadata, seed=3, n_bootstrap=50)
    clean = evaluate_tabular(train, independent, holdout, metadata, seed=3, n_bootstrap=50)
    for name in ("dcr", "exact_copy_rate", "membership_inference_distance", "membership_inference_density",
                 "attribute_inference_nn", "attribute_inference_cap"):
        assert leak.result(name).details["leak_detected"] is True, name
        assert clean.result(name).details["leak_detected"] is False, name
    # attribute inference attacks the categorical and boolean columns when no sensitive column is named
    assert clean.result("attribute_inference_cap").parameters["sensitive"] == ["sex", "stage", "smoker"]


def test_dcr_numeric_only_path_matches_brute_force(make_table) -> None:
    """Without multi-category columns the search runs in scikit-learn's ArgKmin; same distances."""
    meta = ColumnKinds.coerce({"columns": {c: {"sdtype": "numerical"} for c in ("age", "bmi", "sbp", "visits")}},
                                pd.DataFrame())
    reference, query = make_table(250, seed=21), make_table(150, seed=22, shift=0.5)
    ours, nearest = nearest_records(query, reference, meta)
    matrix = brute_force_distances(query, reference, meta)
    np.testing.assert_allclose(ours, matrix.min(axis=1), rtol=0, atol=1e-12)
    np.testing.assert_allclose(matrix[np.arange(len(query)), nearest], ours, rtol=0, atol=1e-12)
