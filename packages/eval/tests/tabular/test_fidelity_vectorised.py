"""The vectorised pieces behind Column Shapes / Column Pair Trends equal the per-column code they replace."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats.contingency import association

from biosynth.core import derive_seed
from biosynth.eval import column_pair_trends, column_shapes, quality_report
from biosynth.eval._tabular import pair_trends
from biosynth.eval._tabular.columns import ColumnArrays


def _columns(n: int = 3000) -> np.ndarray:
    g = np.random.default_rng(11)
    columns = [
        g.normal(size=n),                                   # continuous
        g.integers(0, 7, n).astype(float),                  # few distinct values: many ties on edges
        np.full(n, 3.0),                                    # one value: numpy's [v - 0.5, v + 0.5] range
        np.full(n, np.nan),                                 # no values: numpy's [0, 1] range
        np.linspace(0, 1, n),                               # values exactly on the edges
        g.normal(size=n) * 1e-300,                          # tiny range
        g.normal(size=n) * 1e300,                           # huge range
        g.integers(0, 11, n) / 10.0,                        # decimals that are not exact in binary
        np.round(g.normal(size=n), 1) * 0.1 + 1e9,          # large offset, small spread
        np.r_[g.normal(size=n - 1), np.inf],                # infinite value: numpy refuses the range
    ]
    x = np.column_stack(columns)
    x[g.random(x.shape) < 0.05] = np.nan
    return x


def test_bin_matrix_equals_numpy_histogram_bins_column_by_column() -> None:
    x = _columns()
    codes, errors, flat = pair_trends._bin_matrix(x)
    for j in range(x.shape[1]):
        try:
            expected = pair_trends._bin_codes(x[:, j])
        except ValueError as err:
            assert errors[j] == f"ValueError: {err}"
            continue
        assert j not in errors
        np.testing.assert_array_equal(codes[j], expected, err_msg=f"column {j}")
    assert flat.tolist() == [False, False, True, False, False, False, False, False, False, False]


def test_batched_cramers_v_equals_scipy_association() -> None:
    g = np.random.default_rng(5)
    shapes = [(2, 2), (3, 5), (7, 4), (12, 3), (4, 6)]
    tables = [g.integers(0, 30, size=s) for s in shapes]
    tables[1][1] = 0          # an empty row and an empty column drop out, as in SDMetrics' unstack
    tables[3][:, 2] = 0
    tables[4][:] = 0          # an empty table: NaN
    tables[4][0, 0] = 5       # (one cell: fewer than 2 non-empty rows -> NaN)
    counts = np.concatenate([t.ravel() for t in tables])
    k_a = np.array([s[0] for s in shapes])
    k_b = np.array([s[1] for s in shapes])
    offsets = np.concatenate([[0], np.cumsum(k_a * k_b)[:-1]])
    ours = pair_trends._batch_cramers_v(counts, k_a, k_b, offsets)
    for value, table in zip(ours[:4], tables[:4], strict=True):
        kept = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
        assert abs(value - association(kept, method="cramer")) <= 1e-12
    assert np.isnan(ours[4])


def test_quality_report_equals_the_two_metrics_with_derived_seeds(real_table, synthetic_table, metadata) -> None:
    shapes, pairs = quality_report(real_table, synthetic_table, metadata, n_bootstrap=20, seed=4)
    alone_shapes = column_shapes(real_table, synthetic_table, metadata, n_bootstrap=20,
                                 seed=derive_seed(4, "column_shapes"))
    alone_pairs = column_pair_trends(real_table, synthetic_table, metadata, n_bootstrap=20,
                                     seed=derive_seed(4, "column_pair_trends"))
    assert shapes.name == "column_shapes" and pairs.name == "column_pair_trends"
    assert shapes.value == alone_shapes.value and pairs.value == alone_pairs.value
    assert shapes.ci == alone_shapes.ci and pairs.ci == alone_pairs.ci
    assert shapes.details == alone_shapes.details and pairs.details == alone_pairs.details


def test_compressed_joint_tables_score_like_dense_ones(real_table, synthetic_table, metadata, monkeypatch) -> None:
    """Pairs whose joint table is too large to lay out densely go through `np.unique`; same scores."""
    dense = column_pair_trends(real_table, synthetic_table, metadata, n_bootstrap=30, seed=1,
                               real_correlation_threshold=0, real_association_threshold=0)
    monkeypatch.setattr(pair_trends, "_JOINT_DENSE_LIMIT", 4)
    sparse = column_pair_trends(real_table, synthetic_table, metadata, n_bootstrap=30, seed=1,
                                real_correlation_threshold=0, real_association_threshold=0)
    assert len(dense.details["pairs"]) == len(sparse.details["pairs"]) > 0
    for a, b in zip(dense.details["pairs"], sparse.details["pairs"], strict=True):
        assert a["score"] == pytest.approx(b["score"], abs=1e-12)
        assert (a.get("real_association") is None) == (b.get("real_association") is None)
        if a.get("real_association") is not None:
            assert a["real_association"] == pytest.approx(b["real_association"], abs=1e-12)
        if a.get("ci") is not None:
            assert a["ci"] == pytest.approx(b["ci"], abs=1e-12)


def test_column_codes_same_dtype_fast_path_groups_like_objects() -> None:
    """bool/int columns are factorised natively; the categories must be those of the object path."""
    real = pd.DataFrame({"flag": [True, False, True, True], "n": [1, 2, 2, 3]})
    synthetic = pd.DataFrame({"flag": [False, False, True, False], "n": [3, 3, 4, 1]})
    arrays = ColumnArrays(real, synthetic)
    for column in ("flag", "n"):
        codes, k = arrays.codes(column)
        values = np.concatenate([real[column].to_numpy(dtype=object), synthetic[column].to_numpy(dtype=object)])
        reference, uniques = pd.factorize(values)
        assert k == len(uniques)
        np.testing.assert_array_equal(codes, reference)
