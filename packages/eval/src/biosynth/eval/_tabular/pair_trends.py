"""Column Pair Trends (SDMetrics' definition, vectorised): correlation similarity for two continuous columns,
contingency similarity otherwise, with the real association that decides whether a pair counts.

Prepared once per table pair, then scored for a vector of row weights (ones for the value, bootstrap counts for
the interval), like the single-column scorers in `fidelity`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from biosynth.eval._measure import finite_or_none, one_blas_thread
from biosynth.eval._tabular.columns import ColumnArrays, ColumnKind, ColumnKinds

_JOINT_DENSE_LIMIT = 1 << 20  # larger joint tables are compressed to the combinations that occur
_BATCH_ELEMENTS = 1 << 18  # rows x pairs per contingency batch: 2 MiB of int64 codes stay in cache


def _discrete_codes(arrays: ColumnArrays, column: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Category codes shared by both sides, missing values a category of their own (groupby(dropna=False))."""
    codes, k = arrays.codes(column)
    codes = np.where(codes < 0, k, codes)  # every kind of missing value: one more category
    n_real = len(arrays.real)
    return codes[:n_real], codes[n_real:], k + 1


_N_BINS = 10  # SDMetrics' num_discrete_bins


def _bin_codes(values: np.ndarray) -> np.ndarray:
    """SDMetrics' ColumnPairTrends._discretize_column: 10 histogram bins from this side's own values.

    np.digitize puts values equal to the top edge and missing values both in bin 11, exactly as SDMetrics does.
    """
    edges = np.histogram_bin_edges(values[~np.isnan(values)], bins=_N_BINS)
    return np.digitize(values, bins=edges).astype(np.int64)


def _bin_matrix(x: np.ndarray) -> tuple[np.ndarray, dict[int, str], np.ndarray]:
    """`_bin_codes` of every column of `x` (rows, columns), returned as (columns, rows) with the same codes; also
    the errors by column index (that column's codes left 0) and which columns hold one value (min == max).

    numpy's histogram_bin_edges is linspace(min, max, 11) per column; all edges come from one linspace, and every
    column is binned at once. Columns whose range is not finite or that have no values take the per-column path so
    that numpy's own error or empty-range convention applies.
    """
    columns = np.ascontiguousarray(x.T)  # no copy for the transposed view of a (columns, rows) array
    out = np.zeros(columns.shape, dtype=np.int8)  # codes 0..11
    errors: dict[int, str] = {}
    with np.errstate(invalid="ignore"):
        low, high = np.fmin.reduce(columns, axis=1), np.fmax.reduce(columns, axis=1)  # NaN only when no values
    has_values = ~np.isnan(low)
    flat = has_values & (low == high)
    with np.errstate(over="ignore", invalid="ignore"):
        simple = has_values & np.isfinite(high - low)
    for j in np.flatnonzero(~simple):
        try:
            out[j] = _bin_codes(columns[j])
        except ValueError as err:
            errors[int(j)] = f"{type(err).__name__}: {err}"
    low, high = np.where(flat, low - 0.5, low), np.where(flat, high + 0.5, high)  # numpy's single-value range
    with np.errstate(over="ignore", invalid="ignore"):  # rows of the non-simple columns are not used
        edges = np.linspace(low, high, _N_BINS + 1, axis=1)  # the same values as one linspace per column
    # np.digitize with increasing edges = how many edges are <= the value (11 for NaN: numpy sorts NaN last);
    # eleven int8 comparisons are ~4x faster than a binary search per value
    for j in np.flatnonzero(simple):  # column by column: each stays in cache for its eleven passes
        column, code = columns[j], out[j]
        for edge in edges[j]:
            code += column >= edge
        code[np.isnan(column)] = _N_BINS + 1
    return out, errors, flat


class _PairTrends:
    """Column Pair Trends (sdmetrics.reports.single_table._properties.ColumnPairTrends, QualityReport).

    - two continuous columns: CorrelationSimilarity = 1 - |r_real - r_synth| / 2 (Pearson on pairwise-complete
      rows); a pair where either column is constant on either side fails (SDMetrics' ConstantInputError);
    - otherwise ContingencySimilarity = 1 - TVD of the joint frequencies (missing = a category), where a
      continuous column is first cut into 10 histogram bins, on each side with that side's own bin edges.
    The real association (|r| or Cramér's V) decides whether a pair contributes to the average when a threshold
    is set (QualityReport defaults: 0.5 for correlation, 0.3 for Cramér's V).
    """

    def __init__(self, arrays: ColumnArrays, metadata: ColumnKinds, pairs: list[tuple[str, str]]) -> None:
        self.entries: list[dict[str, Any]] = []
        self.reasons: list[str | None] = []
        real, synthetic = arrays.real, arrays.synthetic
        self._n_r, self._n_s = len(real), len(synthetic)
        continuous = sorted({c for pair in pairs for c in pair if metadata.columns[c].continuous},
                            key=list(metadata.columns).index)
        self._cont_index = {c: i for i, c in enumerate(continuous)}
        # (rows, columns) views of (columns, rows) arrays: each column contiguous for the binning
        self._cont_r = np.vstack([arrays.floats(c)[0] for c in continuous]).T if continuous else None
        self._cont_s = np.vstack([arrays.floats(c)[1] for c in continuous]).T if continuous else None
        self._codes: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}
        self._code_errors: dict[str, str] = {}
        flat_r = flat_s = np.zeros(len(continuous), dtype=bool)
        if continuous:
            (bins_r, errors_r, flat_r), (bins_s, errors_s, flat_s) = _bin_matrix(self._cont_r), _bin_matrix(self._cont_s)  # type: ignore[arg-type]
            for c, i in self._cont_index.items():
                if i in errors_r or i in errors_s:
                    self._code_errors[c] = errors_r.get(i) or errors_s[i]
                else:
                    self._codes[c] = (bins_r[i], bins_s[i], _N_BINS + 2)
        for c in sorted({c for pair in pairs for c in pair if not metadata.columns[c].continuous}):
            try:
                self._codes[c] = _discrete_codes(arrays, c)
            except (ValueError, TypeError) as err:
                self._code_errors[c] = f"{type(err).__name__}: {err}"
        self._corr_pairs: list[tuple[int, int, int]] = []  # (entry index, i, j) into the continuous block
        self._cont_pairs: list[tuple[int, str, str, np.ndarray | None, np.ndarray | None, int]] = []
        real_corr = synthetic_corr = None
        if continuous:
            self._standard_r, self._standard_s = _standardise(self._cont_r), _standardise(self._cont_s)  # type: ignore[arg-type]
            # Pearson r on pairwise-complete rows for every pair at once (scipy.stats.pearsonr per pair agrees to ~1e-13)
            with one_blas_thread():  # the pairwise-complete row counts come with the correlations
                real_corr, complete_r = _weighted_corr(*self._standard_r, None, with_counts=True)
                synthetic_corr, complete_s = _weighted_corr(*self._standard_s, None, with_counts=True)
            constant_r = _constant_columns(real, flat_r, continuous, metadata)
            constant_s = _constant_columns(synthetic, flat_s, continuous, metadata)
        for a, b in pairs:
            kind_a, kind_b = metadata.columns[a], metadata.columns[b]
            index = len(self.entries)
            if kind_a.continuous and kind_b.continuous:
                i, j = self._cont_index[a], self._cont_index[b]
                entry: dict[str, Any] = {"column_1": a, "column_2": b, "metric": "CorrelationSimilarity",
                                         "real_correlation": finite_or_none(real_corr[i, j]),  # type: ignore[index]
                                         "synthetic_correlation": finite_or_none(synthetic_corr[i, j])}  # type: ignore[index]
                reason = None
                for side, constant in (("real", constant_r), ("synthetic", constant_s)):
                    flat = [c for c in (a, b) if c in constant]
                    if flat and reason is None:
                        reason = (f"ConstantInputError: the {side} data in column(s) {flat} holds a constant "
                                  "value; correlation is undefined for constant data")
                if reason is None and min(complete_r[i, j], complete_s[i, j]) < 2:  # type: ignore[index]
                    reason = "fewer than 2 rows where both columns are present"
                if reason is None and not (np.isfinite(real_corr[i, j]) and np.isfinite(synthetic_corr[i, j])):  # type: ignore[index]
                    reason = "correlation undefined: a column is constant on the rows where both are present"
                self._corr_pairs.append((index, i, j))
            else:
                entry = {"column_1": a, "column_2": b, "metric": "ContingencySimilarity"}
                reason = self._code_errors.get(a) or self._code_errors.get(b)
                if reason is None:
                    self._cont_pairs.append((index, a, b, *self._compressed(a, b)))
            self.entries.append(entry)
            self.reasons.append(reason)
        self._build_batches()
        self._real_associations()

    def _build_batches(self) -> None:
        """Dense contingency pairs in batches scored by one bincount each (bounded memory, no per-pair loop)."""
        dense = [(index, a, b) for index, a, b, comp_r, _, _ in self._cont_pairs if comp_r is None]
        self._sparse_pairs = [p for p in self._cont_pairs if p[3] is not None]
        names = sorted({c for _, a, b in dense for c in (a, b)})
        slot = {c: i for i, c in enumerate(names)}
        # codes in the narrowest integer type: the joint-index arithmetic is memory-bound, int16 halves it
        width = np.min_scalar_type(-max([self._codes[c][2] for c in names], default=1))
        self._matrix_r = np.empty((len(names), self._n_r), width)
        self._matrix_s = np.empty((len(names), self._n_s), width)
        for i, c in enumerate(names):
            self._matrix_r[i], self._matrix_s[i] = self._codes[c][0], self._codes[c][1]
        per_batch = max(1, _BATCH_ELEMENTS // max(self._n_r, self._n_s, 1))
        self._batches = []
        for start in range(0, len(dense), per_batch):
            chunk = dense[start : start + per_batch]
            k_b = np.array([self._codes[b][2] for _, _, b in chunk], dtype=np.int64)
            cells = np.array([self._codes[a][2] for _, a, _ in chunk], dtype=np.int64) * k_b
            offsets = np.concatenate([[0], np.cumsum(cells)[:-1]])
            self._batches.append((np.array([i for i, _, _ in chunk]), np.array([slot[a] for _, a, _ in chunk]),
                                  np.array([slot[b] for _, _, b in chunk]), k_b, offsets, int(cells.sum())))
        # the real side's joint counts without weights: the point estimate and Cramér's V both read them
        self._real_counts = [self._joint_counts(self._matrix_r, batch) for batch in self._batches]

    @staticmethod
    def _joint_counts(matrix: np.ndarray, batch: tuple[Any, ...]) -> np.ndarray:
        """Joint counts of a batch's pairs, laid end to end: cell = code_a * k_b + code_b + the pair's offset.

        In the narrowest integer type that holds the batch's cells: the arithmetic is memory-bound."""
        _, slot_a, slot_b, k_b, offsets, total = batch
        width = np.promote_types(matrix.dtype, np.min_scalar_type(-total))
        joint = matrix[slot_a].astype(width, copy=False)
        joint *= k_b[:, None].astype(width)
        joint += matrix[slot_b]
        joint += offsets[:, None].astype(width)
        return np.bincount(joint.ravel(), minlength=total)

    def _real_associations(self) -> None:
        """Cramér's V of every contingency pair's real table (values seen in the real data only, as SDMetrics'
        unstack): dense pairs from the cached joint counts, a batch at a time; compressed ones one by one."""
        for batch, counts in zip(self._batches, self._real_counts, strict=True):
            entries, _, _, k_b, offsets, _ = batch
            k_a = np.array([self._codes[self.entries[i]["column_1"]][2] for i in entries])
            for index, v in zip(entries, _batch_cramers_v(counts, k_a, k_b, offsets), strict=True):
                self.entries[index]["real_association"] = finite_or_none(v)
        for index, a, b, *_ in self._sparse_pairs:
            self.entries[index]["real_association"] = finite_or_none(self._cramers_v(a, b))

    def _compressed(self, a: str, b: str) -> tuple[np.ndarray | None, np.ndarray | None, int]:
        (ra, sa, ka), (rb, sb, kb) = self._codes[a], self._codes[b]
        if ka * kb <= _JOINT_DENSE_LIMIT:
            return None, None, ka * kb
        ra, sa = ra.astype(np.int64), sa.astype(np.int64)  # binned codes are int8
        uniques, inverse = np.unique(np.concatenate([ra * kb + rb, sa * kb + sb]), return_inverse=True)
        return inverse[: len(ra)], inverse[len(ra):], len(uniques)

    def _cramers_v(self, a: str, b: str) -> float:
        """Cramér's V of a compressed pair's real table, built from the combinations that occur."""
        (ra, _, _), (rb, _, kb) = self._codes[a], self._codes[b]
        cells, counts = np.unique(ra.astype(np.int64) * kb + rb, return_counts=True)  # binned codes are int8
        _, row = np.unique(cells // kb, return_inverse=True)
        _, col = np.unique(cells % kb, return_inverse=True)
        table = np.zeros((row.max() + 1, col.max() + 1), dtype=np.int64)
        table[row, col] = counts
        return cramers_v(table)

    def scores(self, w_r: np.ndarray | None, w_s: np.ndarray | None) -> np.ndarray:
        out = np.full(len(self.entries), np.nan)
        if self._corr_pairs:
            if w_r is None and w_s is None:
                r_corr = np.array([e.get("real_correlation") for e in self.entries], dtype=float)
                s_corr = np.array([e.get("synthetic_correlation") for e in self.entries], dtype=float)
                for index, _, _ in self._corr_pairs:
                    out[index] = 1 - abs(r_corr[index] - s_corr[index]) / 2
            else:
                cr = _weighted_corr(*self._standard_r, w_r)
                cs = _weighted_corr(*self._standard_s, w_s)
                for index, i, j in self._corr_pairs:
                    out[index] = 1 - abs(cr[i, j] - cs[i, j]) / 2
        n_r = self._n_r if w_r is None else w_r.sum()
        n_s = self._n_s if w_s is None else w_s.sum()
        # a resample as row indices (counts -> repeated rows): integer bincounts instead of weighted ones
        matrix_r = self._matrix_r if w_r is None else self._matrix_r[:, np.repeat(np.arange(self._n_r), w_r.astype(np.int64))]
        matrix_s = self._matrix_s if w_s is None else self._matrix_s[:, np.repeat(np.arange(self._n_s), w_s.astype(np.int64))]
        for batch, real_counts in zip(self._batches, self._real_counts, strict=True):
            counts_r = real_counts if w_r is None else self._joint_counts(matrix_r, batch)
            diff = np.abs(counts_r / n_r - self._joint_counts(matrix_s, batch) / n_s)
            out[batch[0]] = 1 - np.add.reduceat(diff, batch[4]) / 2
        for index, _, _, comp_r, comp_s, size in self._sparse_pairs:
            p_r = np.bincount(comp_r, weights=w_r, minlength=size) / n_r
            p_s = np.bincount(comp_s, weights=w_s, minlength=size) / n_s
            out[index] = 1 - np.abs(p_r - p_s).sum() / 2
        for index, reason in enumerate(self.reasons):
            if reason is not None:
                out[index] = np.nan
        return out

    def contributes(self, point: np.ndarray, correlation_threshold: float, association_threshold: float) -> np.ndarray:
        """SDMetrics' 'Meets Threshold?': the real association exceeds the threshold (always true at 0)."""
        keep = np.isfinite(point)
        for index, entry in enumerate(self.entries):
            if entry["metric"] == "CorrelationSimilarity" and correlation_threshold > 0:
                r = entry.get("real_correlation")
                keep[index] &= r is not None and abs(r) > correlation_threshold
            elif entry["metric"] == "ContingencySimilarity" and association_threshold > 0:
                v = entry.get("real_association")
                keep[index] &= v is not None and v > association_threshold
        return keep


def _batch_cramers_v(counts: np.ndarray, k_a: np.ndarray, k_b: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """`cramers_v` of several (k_a x k_b) tables laid end to end in `counts`, in a few vectorised passes.

    Empty rows and columns drop out as in `cramers_v` (their expected counts are 0 and are skipped); the
    degrees of freedom use the non-empty ones. Agrees with scipy's association to ~1e-15 (tested).
    """
    pairs = len(k_a)
    cells = k_a * k_b
    pair_of_cell = np.repeat(np.arange(pairs), cells)
    local = np.arange(len(counts)) - np.repeat(offsets, cells)
    row_base = np.concatenate([[0], np.cumsum(k_a)[:-1]])
    col_base = np.concatenate([[0], np.cumsum(k_b)[:-1]])
    row = np.repeat(row_base, cells) + local // np.repeat(k_b, cells)
    col = np.repeat(col_base, cells) + local % np.repeat(k_b, cells)
    observed = counts.astype(np.float64)
    row_sum = np.bincount(row, weights=observed, minlength=int(k_a.sum()))
    col_sum = np.bincount(col, weights=observed, minlength=int(k_b.sum()))
    n = np.bincount(pair_of_cell, weights=observed, minlength=pairs)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = row_sum[row] * col_sum[col] / n[pair_of_cell]
        terms = np.where(expected > 0, (observed - expected) ** 2 / expected, 0.0)
    chi2 = np.bincount(pair_of_cell, weights=terms, minlength=pairs)
    rows_kept = np.bincount(np.repeat(np.arange(pairs), k_a), weights=row_sum > 0, minlength=pairs)
    cols_kept = np.bincount(np.repeat(np.arange(pairs), k_b), weights=col_sum > 0, minlength=pairs)
    dof = np.minimum(rows_kept, cols_kept) - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n > 0) & (dof >= 1), np.sqrt(chi2 / n / dof), np.nan)


def cramers_v(table: np.ndarray) -> float:
    """Cramér's V without continuity correction: scipy.stats.contingency.association(table, method="cramer").

    Written out because scipy's wrapper costs ~2 ms of validation per call, which dominates hundreds of pairs.
    NaN when the table has fewer than two rows or columns (SDMetrics then scores the pair NaN).
    """
    if table.sum() == 0 or min(table.shape) < 2:
        return float("nan")
    n = table.sum()
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / n
    chi2 = ((table - expected) ** 2 / expected).sum()
    return float(np.sqrt(chi2 / n / (min(table.shape) - 1)))


def _constant_columns(frame: pd.DataFrame, flat: np.ndarray, columns: list[str], metadata: ColumnKinds) -> set[str]:
    """Columns with exactly one distinct non-missing value (SDMetrics: `nunique() == 1`), from min == max of the
    float matrix; a datetime column that looks flat there is asked again in int64 nanoseconds (two instants
    closer than float64's resolution would look equal)."""
    return {c for i, c in enumerate(columns)
            if flat[i] and (metadata.columns[c] is not ColumnKind.DATETIME or frame[c].nunique() == 1)}


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centred values with 0 for missing (and for infinite ones), and the presence mask as float64 weights.

    Centring is only conditioning for `_weighted_corr` (Pearson's r does not change under a shift; it keeps
    nanosecond datetimes from cancelling catastrophically); no scaling is needed for that.
    """
    present = ~np.isnan(x)
    weights = present.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(present, x, 0.0).sum(axis=0) / weights.sum(axis=0)  # numpy's pairwise sum, as before
        centred = np.subtract(x, mean, order="F")  # then zeros written in place: one temporary fewer
    np.copyto(centred, 0.0, where=~present)
    if not np.isfinite(mean).all():  # infinite values (or an empty column): their entries do not count
        centred[~np.isfinite(centred)] = 0.0
    return centred, weights


def _weighted_corr(z: np.ndarray, present: np.ndarray, w: np.ndarray | None, *,
                   with_counts: bool = False) -> Any:
    """Pearson correlation on pairwise-complete rows with row weights, as weighted moment matrices (BLAS); with
    `with_counts`, also the (weighted) count of rows where both columns are present."""
    zw, pw = (z, present) if w is None else (z * w[:, None], present * w[:, None])
    n = pw.T @ present
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_i = (zw.T @ present) / n                      # mean of column i over rows where j is present
        mean_j = mean_i.T
        cov = (zw.T @ z) / n - mean_i * mean_j
        var_i = ((zw * z).T @ present) / n - mean_i**2
        var_j = var_i.T
        corr = cov / np.sqrt(var_i * var_j)
    return (corr, n) if with_counts else corr
