"""Column Shapes, Column Pair Trends, coverage and missingness: SDMetrics' definitions, vectorised, on all rows.

Each metric is prepared once per table pair (sorting, category codes, bins) and then scored for a vector of row
weights: all ones for the value, multinomial bootstrap counts for the interval. That keeps the point estimate
identical to SDMetrics (same counts, same divisions) and makes every bootstrap replicate O(rows), without
re-sorting or re-grouping. SDMetrics computes these one column (pair) at a time through pandas and scipy; the
definitions below follow its 0.32 source line by line (cited per class).
"""

from __future__ import annotations

import itertools
import re
import sys
from typing import Any, Protocol

import numpy as np
import pandas as pd

from biosynth.core import ConfigError, derive_seed, rng
from biosynth.eval._measure import (
    SMALL_SAMPLE,
    NotApplicable,
    Outcome,
    bootstrap_counts,
    bootstrap_interval,
    check_bootstrap,
    one_blas_thread,
    run_metric,
)
from biosynth.eval._result import Direction, Family, MetricResult
from biosynth.eval._tabular.columns import (
    ColumnArrays,
    ColumnKind,
    ColumnKinds,
    MetadataLike,
    check_tables,
    present_values,
)
from biosynth.eval._tabular.pair_trends import _PairTrends

MAX_DECIMALS = sys.float_info.dig - 1  # SDMetrics' KSComplement rounds to 14 decimals before the test
_TV_REGULARISATION = 1e-6  # SDMetrics' get_frequencies: a synthetic-only category gets this real count


class _Scorer(Protocol):
    entries: list[dict[str, Any]]
    reasons: list[str | None]

    def scores(self, w_r: np.ndarray | None, w_s: np.ndarray | None) -> np.ndarray: ...


def _weights(w: np.ndarray | None, mask: np.ndarray) -> np.ndarray | None:
    return None if w is None else w[mask]


class _KSComplement:
    """1 - two-sample KS D over non-missing values (sdmetrics.single_column.KSComplement).

    Datetimes compare as int64 nanoseconds; floats are rounded to 14 decimals first, as SDMetrics does. The
    CDFs are evaluated at every distinct value, which is what scipy's ks_2samp does with searchsorted.
    """

    label = "KSComplement"

    def __init__(self, arrays: ColumnArrays, columns: list[str]) -> None:
        self.entries = [{"column": c, "metric": self.label} for c in columns]
        self.reasons: list[str | None] = []
        self._prepared: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]] = []
        for c in columns:
            if pd.api.types.is_datetime64_any_dtype(arrays.real[c]) or \
                    pd.api.types.is_datetime64_any_dtype(arrays.synthetic[c]):
                (rv, mask_r), (sv, mask_s) = present_values(arrays.real[c]), present_values(arrays.synthetic[c])
            else:  # the same float64 values as present_values, shared with the pair trends
                fr, fs = arrays.floats(c)
                mask_r, mask_s = ~np.isnan(fr), ~np.isnan(fs)
                rv, sv = fr[mask_r], fs[mask_s]
            if rv.dtype.kind == "f" or sv.dtype.kind == "f":
                rv, sv = np.round(rv.astype(np.float64), MAX_DECIMALS), np.round(sv.astype(np.float64), MAX_DECIMALS)
            uniques, inverse = np.unique(np.concatenate([rv, sv]), return_inverse=True)
            self._prepared.append((mask_r, mask_s, inverse[: len(rv)], inverse[len(rv):], len(uniques)))
            self.reasons.append(None if len(rv) and len(sv) else "no non-missing values on one side")

    def scores(self, w_r: np.ndarray | None, w_s: np.ndarray | None) -> np.ndarray:
        out = np.full(len(self._prepared), np.nan)
        for i, (mask_r, mask_s, inv_r, inv_s, n_unique) in enumerate(self._prepared):
            count_r = np.bincount(inv_r, weights=_weights(w_r, mask_r), minlength=n_unique)
            count_s = np.bincount(inv_s, weights=_weights(w_s, mask_s), minlength=n_unique)
            n_r, n_s = count_r.sum(), count_s.sum()
            if n_r == 0 or n_s == 0:
                continue
            out[i] = 1 - np.abs(np.cumsum(count_r) / n_r - np.cumsum(count_s) / n_s).max()
        return out


class _TVComplement:
    """1 - total variation distance of category frequencies (sdmetrics.single_column.TVComplement).

    Missing values are dropped; a category seen only in the synthetic column gets a real count of 1e-6 (SDMetrics'
    regularisation), which also enters the real total.
    """

    label = "TVComplement"

    def __init__(self, arrays: ColumnArrays, columns: list[str]) -> None:
        self.entries = [{"column": c, "metric": self.label} for c in columns]
        self.reasons: list[str | None] = []
        self._prepared: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]] = []
        n_real = len(arrays.real)
        for c in columns:
            codes, k = arrays.codes(c)
            codes_r, codes_s = codes[:n_real], codes[n_real:]
            mask_r, mask_s = codes_r >= 0, codes_s >= 0  # factorize marks missing values -1
            self._prepared.append((mask_r, mask_s, codes_r[mask_r], codes_s[mask_s], k))
            self.reasons.append(None if mask_r.any() and mask_s.any() else "no non-missing values on one side")

    def scores(self, w_r: np.ndarray | None, w_s: np.ndarray | None) -> np.ndarray:
        out = np.full(len(self._prepared), np.nan)
        for i, (mask_r, mask_s, codes_r, codes_s, k) in enumerate(self._prepared):
            count_r = np.bincount(codes_r, weights=_weights(w_r, mask_r), minlength=k).astype(np.float64)
            count_s = np.bincount(codes_s, weights=_weights(w_s, mask_s), minlength=k).astype(np.float64)
            if count_r.sum() == 0 or count_s.sum() == 0:
                continue
            count_r = np.where((count_r == 0) & (count_s > 0), _TV_REGULARISATION, count_r)
            out[i] = 1 - 0.5 * np.abs(count_s / count_s.sum() - count_r / count_r.sum()).sum()
        return out


class _Combined:
    """Several scorers reported as one list of entries (Column Shapes = KS columns + TV columns)."""

    def __init__(self, *parts: _Scorer) -> None:
        self._parts = parts
        self.entries = [e for p in parts for e in p.entries]
        self.reasons = [r for p in parts for r in p.reasons]

    def scores(self, w_r: np.ndarray | None, w_s: np.ndarray | None) -> np.ndarray:
        arrays = [p.scores(w_r, w_s) for p in self._parts]
        return np.concatenate(arrays) if arrays else np.empty(0)


def _prepare(real: pd.DataFrame, synthetic: pd.DataFrame,
             metadata: MetadataLike) -> ColumnKinds:
    meta = ColumnKinds.coerce(metadata, real)
    check_tables(meta, real=real, synthetic=synthetic)
    return meta


def _status_of(reason: str | None) -> str:
    """An entry that raised (reason 'SomethingError: ...', as SDMetrics records it) failed; others do not apply."""
    return "failed" if reason and re.match(r"^\w+Error: ", reason) else "not_applicable"


def _column_outcome(scorer: _Scorer, n_real: int, n_synthetic: int, *, n_bootstrap: int, level: float,
                    seed: int, contributes: np.ndarray | None = None, what: str = "columns",
                    point: np.ndarray | None = None) -> Outcome:
    """Value = mean of the defined entries (pandas' skipna mean, as SDMetrics averages); intervals by bootstrap."""
    if not scorer.entries:
        raise NotApplicable(f"no {what} of the kinds this metric scores")
    point = scorer.scores(None, None) if point is None else point
    keep = np.isfinite(point) if contributes is None else contributes & np.isfinite(point)
    if not keep.any():
        reasons = sorted({r for r in scorer.reasons if r}) or ["no entry meets the real-association threshold"]
        raise NotApplicable(f"no {what} could be scored: " + "; ".join(reasons))
    warnings: list[str] = []
    if min(n_real, n_synthetic) < SMALL_SAMPLE:
        warnings.append(f"small sample ({n_real} real, {n_synthetic} synthetic rows): distribution distances are "
                        f"biased towards dissimilarity below {SMALL_SAMPLE} rows; read the intervals")
    ci = None
    per_entry_ci: list[tuple[float, float] | None] = [None] * len(point)
    if n_bootstrap:
        generator = rng(seed)
        reps = np.empty((n_bootstrap, len(point)))
        # the replicates' matrix products are small: one BLAS thread is faster, and much faster on a shared machine
        with one_blas_thread():
            for b in range(n_bootstrap):
                reps[b] = scorer.scores(bootstrap_counts(generator, n_real), bootstrap_counts(generator, n_synthetic))
        with np.errstate(invalid="ignore"):
            aggregate = np.nanmean(np.where(keep, reps, np.nan), axis=1) if keep.any() else np.full(n_bootstrap, np.nan)
        value = float(point[keep].mean())
        ci, notes = bootstrap_interval(aggregate, value, level, "the average", bounds=(0.0, 1.0))
        warnings.extend(notes)
        for index in np.flatnonzero(np.isfinite(point)):
            entry_ci, _ = bootstrap_interval(reps[:, index], float(point[index]), level, "", bounds=(0.0, 1.0))
            if entry_ci is not None:
                per_entry_ci[index] = (entry_ci.low, entry_ci.high)
    rows = []
    for index, entry in enumerate(scorer.entries):
        row = dict(entry)
        defined = bool(np.isfinite(point[index]))
        row["score"] = float(point[index]) if defined else None
        row["status"] = "ok" if defined else _status_of(scorer.reasons[index])
        row["reason"] = None if defined else (scorer.reasons[index] or "undefined for this data")
        row["ci"] = per_entry_ci[index]
        if contributes is not None:
            row["contributes"] = bool(keep[index])
        rows.append(row)
    return Outcome(value=float(point[keep].mean()), ci=ci, warnings=warnings, details={what: rows})


def _ks_tv(arrays: ColumnArrays, meta: ColumnKinds, which: str) -> _Scorer:
    ks = _KSComplement(arrays, meta.of(ColumnKind.NUMERICAL, ColumnKind.DATETIME))
    tv = _TVComplement(arrays, meta.of(ColumnKind.CATEGORICAL, ColumnKind.BOOLEAN))
    if which == "ks":
        return ks
    if which == "tv":
        return tv
    # SDMetrics' ColumnShapes lists columns in metadata order
    order = {c: i for i, c in enumerate(meta.columns)}
    combined = _Combined(ks, tv)
    index = sorted(range(len(combined.entries)), key=lambda k: order[combined.entries[k]["column"]])
    return _Reordered(combined, index)


class _Reordered:
    def __init__(self, inner: _Scorer, index: list[int]) -> None:
        self._inner, self._index = inner, np.asarray(index, dtype=np.int64)
        self.entries = [inner.entries[i] for i in index]
        self.reasons = [inner.reasons[i] for i in index]

    def scores(self, w_r: np.ndarray | None, w_s: np.ndarray | None) -> np.ndarray:
        return self._inner.scores(w_r, w_s)[self._index]


def _shape_metric(name: str, which: str, real: pd.DataFrame, synthetic: pd.DataFrame,
                  metadata: MetadataLike, n_bootstrap: int, level: float,
                  seed: int, arrays: ColumnArrays | None = None) -> MetricResult:
    check_bootstrap(n_bootstrap, level)
    meta = _prepare(real, synthetic, metadata)
    shared = arrays or ColumnArrays(real, synthetic)
    return run_metric(
        name=name, family=Family.FIDELITY, direction=Direction.HIGHER, n_real=len(real), n_synthetic=len(synthetic),
        seed=seed, parameters={"n_bootstrap": n_bootstrap, "level": level, "definition": "SDMetrics 0.32"},
        compute=lambda: _column_outcome(_ks_tv(shared, meta, which), len(real), len(synthetic),
                                        n_bootstrap=n_bootstrap, level=level, seed=seed),
    )


def column_shapes(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: MetadataLike = None,
                  *, n_bootstrap: int = 200, level: float = 0.95, seed: int = 0) -> MetricResult:
    """SDMetrics' Column Shapes: KSComplement (numerical, datetime) and TVComplement (categorical, boolean) per
    column, averaged. Details list every column's score and interval."""
    return _shape_metric("column_shapes", "both", real, synthetic, metadata, n_bootstrap, level, seed)


def ks_complement(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: MetadataLike = None,
                  *, n_bootstrap: int = 200, level: float = 0.95, seed: int = 0) -> MetricResult:
    """1 - Kolmogorov-Smirnov D per numerical/datetime column (missing values dropped), averaged."""
    return _shape_metric("ks_complement", "ks", real, synthetic, metadata, n_bootstrap, level, seed)


def tv_complement(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: MetadataLike = None,
                  *, n_bootstrap: int = 200, level: float = 0.95, seed: int = 0) -> MetricResult:
    """1 - total variation distance per categorical/boolean column (missing values dropped), averaged."""
    return _shape_metric("tv_complement", "tv", real, synthetic, metadata, n_bootstrap, level, seed)


def _pair_metric(name: str, which: str, real: pd.DataFrame, synthetic: pd.DataFrame,
                 metadata: MetadataLike, n_bootstrap: int, level: float, seed: int,
                 correlation_threshold: float, association_threshold: float,
                 arrays: ColumnArrays | None = None) -> MetricResult:
    check_bootstrap(n_bootstrap, level)
    for label, value in (("real_correlation_threshold", correlation_threshold),
                         ("real_association_threshold", association_threshold)):
        if not 0 <= value <= 1:
            raise ConfigError(f"{label} must lie in [0, 1], got {value}")
    meta = _prepare(real, synthetic, metadata)
    scored = meta.scored
    pairs = list(itertools.combinations(scored, 2))
    if which == "correlation":
        pairs = [(a, b) for a, b in pairs if meta.columns[a].continuous and meta.columns[b].continuous]
    elif which == "contingency":
        pairs = [(a, b) for a, b in pairs if not (meta.columns[a].continuous and meta.columns[b].continuous)]

    def compute() -> Outcome:
        scorer = _PairTrends(arrays or ColumnArrays(real, synthetic), meta, pairs)
        point = scorer.scores(None, None)
        keep = scorer.contributes(point, correlation_threshold, association_threshold)
        return _column_outcome(scorer, len(real), len(synthetic), n_bootstrap=n_bootstrap, level=level, seed=seed,
                               contributes=keep, what="pairs", point=point)

    return run_metric(
        name=name, family=Family.FIDELITY, direction=Direction.HIGHER, n_real=len(real), n_synthetic=len(synthetic),
        seed=seed, compute=compute,
        parameters={"n_bootstrap": n_bootstrap, "level": level, "definition": "SDMetrics 0.32", "coefficient": "pearson",
                    "num_discrete_bins": 10, "real_correlation_threshold": correlation_threshold,
                    "real_association_threshold": association_threshold},
    )


def column_pair_trends(real: pd.DataFrame, synthetic: pd.DataFrame,
                       metadata: MetadataLike = None, *, n_bootstrap: int = 200,
                       level: float = 0.95, seed: int = 0, real_correlation_threshold: float = 0.5,
                       real_association_threshold: float = 0.3) -> MetricResult:
    """SDMetrics' Column Pair Trends over every pair of scored columns; the average counts the pairs whose real
    association exceeds the thresholds (SDMetrics QualityReport defaults 0.5 and 0.3; 0 counts every pair)."""
    return _pair_metric("column_pair_trends", "both", real, synthetic, metadata, n_bootstrap, level, seed,
                        real_correlation_threshold, real_association_threshold)


def quality_report(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: MetadataLike = None,
                   *, n_bootstrap: int = 200, level: float = 0.95, seed: int = 0, real_correlation_threshold: float = 0.5,
                   real_association_threshold: float = 0.3) -> tuple[MetricResult, MetricResult]:
    """SDMetrics' QualityReport: `column_shapes` and `column_pair_trends` of one table pair, computed through one
    set of column arrays (each categorical column is factorised once for both). Seeds: `derive_seed(seed, name)`,
    as `evaluate_tabular` gives every metric."""
    meta = _prepare(real, synthetic, metadata)
    arrays = ColumnArrays(real, synthetic)
    shapes = _shape_metric("column_shapes", "both", real, synthetic, meta, n_bootstrap, level,
                           derive_seed(seed, "column_shapes"), arrays)
    pairs = _pair_metric("column_pair_trends", "both", real, synthetic, meta, n_bootstrap, level,
                         derive_seed(seed, "column_pair_trends"), real_correlation_threshold,
                         real_association_threshold, arrays)
    return shapes, pairs


def correlation_similarity(real: pd.DataFrame, synthetic: pd.DataFrame,
                           metadata: MetadataLike = None, *, n_bootstrap: int = 200,
                           level: float = 0.95, seed: int = 0, real_correlation_threshold: float = 0.0) -> MetricResult:
    """1 - |Pearson r real - r synthetic| / 2 for every pair of numerical/datetime columns, averaged."""
    return _pair_metric("correlation_similarity", "correlation", real, synthetic, metadata, n_bootstrap, level, seed,
                        real_correlation_threshold, 0.0)


def contingency_similarity(real: pd.DataFrame, synthetic: pd.DataFrame,
                           metadata: MetadataLike = None, *, n_bootstrap: int = 200,
                           level: float = 0.95, seed: int = 0, real_association_threshold: float = 0.0) -> MetricResult:
    """1 - TVD of joint frequencies for every pair with a discrete column (continuous ones binned), averaged."""
    return _pair_metric("contingency_similarity", "contingency", real, synthetic, metadata, n_bootstrap, level, seed,
                        0.0, real_association_threshold)


class _RangeCoverage:
    """sdmetrics.single_column.RangeCoverage: how much of the real [min, max] the synthetic range covers."""

    def __init__(self, real: pd.DataFrame, synthetic: pd.DataFrame, columns: list[str]) -> None:
        self.entries = [{"column": c, "metric": "RangeCoverage"} for c in columns]
        self.reasons: list[str | None] = []
        self._prepared = []
        for c in columns:
            (rv, mask_r), (sv, mask_s) = present_values(real[c]), present_values(synthetic[c])
            self._prepared.append((mask_r, mask_s, rv, sv))
            if len(rv) == 0 or len(sv) == 0:
                self.reasons.append("no non-missing values on one side")
            elif rv.min() == rv.max():
                self.reasons.append("the real column is constant: its range is empty")
            else:
                self.reasons.append(None)

    def scores(self, w_r: np.ndarray | None, w_s: np.ndarray | None) -> np.ndarray:
        out = np.full(len(self._prepared), np.nan)
        for i, (mask_r, mask_s, rv, sv) in enumerate(self._prepared):
            if w_r is not None:
                rv = rv[w_r[mask_r] > 0]
            if w_s is not None:
                sv = sv[w_s[mask_s] > 0]
            if len(rv) == 0 or len(sv) == 0:
                continue
            min_r, max_r, min_s, max_s = rv.min(), rv.max(), sv.min(), sv.max()
            if min_r == max_r:
                continue
            width = max_r - min_r
            normalized_min = max((min_s - min_r) / width, 0)
            normalized_max = max((max_r - max_s) / width, 0)
            out[i] = max(1 - (normalized_min + normalized_max), 0)
        return out


class _CategoryCoverage:
    """sdmetrics.single_column.CategoryCoverage: share of the real categories that the synthetic column has."""

    def __init__(self, real: pd.DataFrame, synthetic: pd.DataFrame, columns: list[str]) -> None:
        self._tv = _TVComplement(ColumnArrays(real, synthetic), columns)
        self.entries = [{"column": c, "metric": "CategoryCoverage"} for c in columns]
        self.reasons = self._tv.reasons

    def scores(self, w_r: np.ndarray | None, w_s: np.ndarray | None) -> np.ndarray:
        out = np.full(len(self.entries), np.nan)
        for i, (mask_r, mask_s, codes_r, codes_s, k) in enumerate(self._tv._prepared):
            in_real = np.bincount(codes_r, weights=_weights(w_r, mask_r), minlength=k) > 0
            in_synthetic = np.bincount(codes_s, weights=_weights(w_s, mask_s), minlength=k) > 0
            if in_real.any():
                out[i] = (in_real & in_synthetic).sum() / in_real.sum()
        return out


class _Missingness:
    """sdmetrics.single_column.MissingValueSimilarity: 1 - |share missing real - share missing synthetic|."""

    def __init__(self, real: pd.DataFrame, synthetic: pd.DataFrame, columns: list[str]) -> None:
        self.entries = [{"column": c, "metric": "MissingValueSimilarity"} for c in columns]
        self.reasons: list[str | None] = [None] * len(columns)
        self._r = real[columns].isna().to_numpy(dtype=np.float64)
        self._s = synthetic[columns].isna().to_numpy(dtype=np.float64)

    def scores(self, w_r: np.ndarray | None, w_s: np.ndarray | None) -> np.ndarray:
        share_r = self._r.mean(axis=0) if w_r is None else (w_r @ self._r) / w_r.sum()
        share_s = self._s.mean(axis=0) if w_s is None else (w_s @ self._s) / w_s.sum()
        return 1 - np.abs(share_r - share_s)


def _simple_metric(name: str, scorer_type: type, kinds: tuple[ColumnKind, ...], real: pd.DataFrame,
                   synthetic: pd.DataFrame, metadata: MetadataLike, n_bootstrap: int,
                   level: float, seed: int) -> MetricResult:
    check_bootstrap(n_bootstrap, level)
    meta = _prepare(real, synthetic, metadata)
    return run_metric(
        name=name, family=Family.FIDELITY, direction=Direction.HIGHER, n_real=len(real), n_synthetic=len(synthetic),
        seed=seed, parameters={"n_bootstrap": n_bootstrap, "level": level, "definition": "SDMetrics 0.32"},
        compute=lambda: _column_outcome(scorer_type(real, synthetic, meta.of(*kinds)), len(real), len(synthetic),
                                        n_bootstrap=n_bootstrap, level=level, seed=seed),
    )


def range_coverage(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: MetadataLike = None,
                   *, n_bootstrap: int = 200, level: float = 0.95, seed: int = 0) -> MetricResult:
    """Share of each real numerical/datetime range covered by the synthetic column, averaged."""
    return _simple_metric("range_coverage", _RangeCoverage, (ColumnKind.NUMERICAL, ColumnKind.DATETIME), real,
                          synthetic, metadata, n_bootstrap, level, seed)


def category_coverage(real: pd.DataFrame, synthetic: pd.DataFrame,
                      metadata: MetadataLike = None, *, n_bootstrap: int = 200,
                      level: float = 0.95, seed: int = 0) -> MetricResult:
    """Share of each real column's categories present in the synthetic column, averaged."""
    return _simple_metric("category_coverage", _CategoryCoverage, (ColumnKind.CATEGORICAL, ColumnKind.BOOLEAN), real,
                          synthetic, metadata, n_bootstrap, level, seed)


def missingness_similarity(real: pd.DataFrame, synthetic: pd.DataFrame,
                           metadata: MetadataLike = None, *, n_bootstrap: int = 200,
                           level: float = 0.95, seed: int = 0) -> MetricResult:
    """1 - |missing share real - missing share synthetic| per scored column, averaged."""
    return _simple_metric("missingness_similarity", _Missingness,
                          (ColumnKind.NUMERICAL, ColumnKind.DATETIME, ColumnKind.CATEGORICAL, ColumnKind.BOOLEAN),
                          real, synthetic, metadata, n_bootstrap, level, seed)
