"""Scores equal SDMetrics' (the reference implementation) per column and per pair, to 1e-6."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from biosynth.eval import (
    ColumnKinds,
    category_coverage,
    column_pair_trends,
    column_shapes,
    missingness_similarity,
    nearest_records,
    range_coverage,
)

with warnings.catch_warnings():  # the single-table report is deprecated in favour of the unified one; same properties
    warnings.simplefilter("ignore", FutureWarning)
    from sdmetrics.reports.single_table import QualityReport
from sdmetrics.single_column import CategoryCoverage, MissingValueSimilarity, RangeCoverage
from sdmetrics.single_table.privacy.dcr_utils import calculate_dcr

TOL = 1e-6


def _quality_report(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: dict, threshold: bool) -> QualityReport:
    report = QualityReport()
    if not threshold:
        report.real_correlation_threshold = 0
        report.real_association_threshold = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.generate(real, synthetic, metadata, verbose=False)
    return report


@pytest.fixture(scope="module")
def reference(real_table, synthetic_table, metadata) -> QualityReport:
    return _quality_report(real_table, synthetic_table, metadata, threshold=False)


def test_column_shapes_equal_sdmetrics_per_column(real_table, synthetic_table, metadata, reference) -> None:
    ours = column_shapes(real_table, synthetic_table, metadata, n_bootstrap=0)
    theirs = reference.get_details("Column Shapes").set_index("Column")
    assert ours.ok and len(ours.details["columns"]) == len(theirs) == 8
    for row in ours.details["columns"]:
        assert row["metric"] == theirs.loc[row["column"], "Metric"]
        assert abs(row["score"] - theirs.loc[row["column"], "Score"]) <= TOL, row
    assert abs(ours.value - reference.get_properties().set_index("Property").loc["Column Shapes", "Score"]) <= TOL


def test_column_pair_trends_equal_sdmetrics_per_pair(real_table, synthetic_table, metadata, reference) -> None:
    ours = column_pair_trends(real_table, synthetic_table, metadata, n_bootstrap=0, real_correlation_threshold=0,
                              real_association_threshold=0)
    theirs = reference.get_details("Column Pair Trends")
    assert ours.ok and len(ours.details["pairs"]) == len(theirs) == 28
    kinds = {r["metric"] for r in ours.details["pairs"]}
    assert kinds == {"CorrelationSimilarity", "ContingencySimilarity"}
    for row in ours.details["pairs"]:
        match = theirs[(theirs["Column 1"] == row["column_1"]) & (theirs["Column 2"] == row["column_2"])]
        assert match["Metric"].item() == row["metric"]
        assert abs(row["score"] - match["Score"].item()) <= TOL, row
        if row["metric"] == "CorrelationSimilarity":
            assert abs(row["real_correlation"] - match["Real Correlation"].item()) <= TOL
    assert abs(ours.value - theirs["Score"].mean()) <= TOL


def test_pair_trends_with_quality_report_thresholds(real_table, synthetic_table, metadata) -> None:
    """SDMetrics' default QualityReport averages only pairs whose real association passes 0.5 / 0.3."""
    theirs = _quality_report(real_table, synthetic_table, metadata, threshold=True)
    ours = column_pair_trends(real_table, synthetic_table, metadata, n_bootstrap=0)
    details = theirs.get_details("Column Pair Trends")
    contributing = details[details["Meets Threshold?"].fillna(False).astype(bool)]
    assert 0 < len(contributing) < len(details)
    ours_in = {(r["column_1"], r["column_2"]) for r in ours.details["pairs"] if r["contributes"]}
    assert ours_in == set(zip(contributing["Column 1"], contributing["Column 2"], strict=True))
    score = theirs.get_properties().set_index("Property").loc["Column Pair Trends", "Score"]
    assert abs(ours.value - score) <= TOL


def test_coverage_and_missingness_equal_sdmetrics(real_table, synthetic_table, metadata) -> None:
    cases = [(range_coverage, RangeCoverage, ["age", "bmi", "sbp", "visits", "admitted"]),
             (category_coverage, CategoryCoverage, ["sex", "stage", "smoker"]),
             (missingness_similarity, MissingValueSimilarity, list(real_table.columns))]
    # a synthetic table that misses part of the range and a category, so the scores are not all 1
    synthetic = synthetic_table.copy()
    synthetic = synthetic[(synthetic["age"] < 70) & (synthetic["stage"] != "IV")]
    for ours_fn, reference_metric, columns in cases:
        ours = ours_fn(real_table, synthetic, metadata, n_bootstrap=0)
        scores = {r["column"]: r["score"] for r in ours.details["columns"]}
        assert sorted(scores) == sorted(columns)
        for column in columns:
            expected = reference_metric.compute(real_table[column], synthetic[column])
            assert abs(scores[column] - expected) <= TOL, (ours.name, column)
    assert range_coverage(real_table, synthetic, metadata, n_bootstrap=0).value < 0.99


def test_dcr_equals_sdmetrics_distance(real_table, synthetic_table, metadata) -> None:
    real, synthetic = real_table.iloc[:400], synthetic_table.iloc[:300]
    ours, _ = nearest_records(synthetic, real, ColumnKinds.coerce(metadata, real))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = calculate_dcr(synthetic, real, metadata).to_numpy()
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


def test_cramers_v_equals_scipy_association() -> None:
    from scipy.stats.contingency import association

    from biosynth.eval._tabular.pair_trends import cramers_v

    g = np.random.default_rng(3)
    for shape in ((2, 2), (3, 5), (7, 4)):
        table = g.integers(1, 40, size=shape)
        assert abs(cramers_v(table) - association(table, method="cramer")) <= 1e-12
    assert np.isnan(cramers_v(np.array([[4, 5]])))
