"""What the report draws for a table, as plain data kept in report.json: each scored column's real and
synthetic distributions on shared bins or categories, and the pairwise associations of each table."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from biosynth.eval._tabular.columns import ColumnKind, ColumnKinds

MAX_BINS = 20
MAX_CATEGORIES = 15  # the most frequent real categories; the rest are shown together as "(other)"
MAX_HEATMAP_COLUMNS = 30


def table_figures(real: pd.DataFrame, synthetic: pd.DataFrame, meta: ColumnKinds) -> dict[str, Any]:
    """`{"distributions": [...], "associations": {...}}` for `render_html`'s plots (shares, not counts, so that
    tables of different sizes compare)."""
    return {"title": "Real and synthetic, column by column",
            "distributions": [distribution(name, kind, real[name], synthetic[name])
                              for name, kind in meta.columns.items() if kind is not ColumnKind.OTHER],
            "associations": _associations(real, synthetic, meta)}


def _numbers(series: pd.Series, kind: ColumnKind) -> np.ndarray:
    if kind is ColumnKind.DATETIME:
        as_dates = pd.to_datetime(series, errors="coerce")
        return (as_dates.dropna().astype("int64").to_numpy() / 86_400e9).astype(float)  # days since 1970
    return pd.to_numeric(series, errors="coerce").dropna().to_numpy(dtype=float)


def distribution(name: str, kind: ColumnKind, real: pd.Series, synthetic: pd.Series) -> dict[str, Any]:
    """One column's real and synthetic shares on shared bins (numbers, dates) or categories (the rest)."""
    missing = {"real": float(real.isna().mean()) if len(real) else 0.0,
               "synthetic": float(synthetic.isna().mean()) if len(synthetic) else 0.0}
    if kind in (ColumnKind.NUMERICAL, ColumnKind.DATETIME):
        a, b = _numbers(real, kind), _numbers(synthetic, kind)
        both = np.concatenate([a, b])
        if both.size == 0:
            return {"column": name, "kind": kind.value, "plot": "none", "missing": missing}
        distinct = np.unique(a if a.size else both)
        if distinct.size <= MAX_BINS and np.all(distinct == np.round(distinct)):  # few whole values: one bin each
            edges = np.append(distinct - 0.5, distinct[-1] + 0.5)
        else:
            edges = np.histogram_bin_edges(a if a.size else both, bins=MAX_BINS)
        edges = np.union1d(edges, [min(edges[0], both.min()), max(edges[-1], both.max())])  # synthetic outliers too
        shares = {side: (np.histogram(v, bins=edges)[0] / max(v.size, 1)).tolist()
                  for side, v in (("real", a), ("synthetic", b))}
        return {"column": name, "kind": kind.value, "plot": "histogram", "edges": edges.tolist(),
                "unit": "days since 1970-01-01" if kind is ColumnKind.DATETIME else None, **shares, "missing": missing}
    a, b = real.dropna().astype(str), synthetic.dropna().astype(str)
    top = a.value_counts().index[:MAX_CATEGORIES].tolist()
    if not top:
        top = b.value_counts().index[:MAX_CATEGORIES].tolist()
    labels = [*top, *(["(other)"] if (~a.isin(top)).any() or (~b.isin(top)).any() else [])]
    shares = {}
    for side, values in (("real", a), ("synthetic", b)):
        folded = values.where(values.isin(top), "(other)")
        counts = folded.value_counts()
        shares[side] = [float(counts.get(label, 0) / max(len(values), 1)) for label in labels]
    return {"column": name, "kind": kind.value, "plot": "bars", "categories": labels, **shares, "missing": missing}


def _associations(real: pd.DataFrame, synthetic: pd.DataFrame, meta: ColumnKinds) -> dict[str, Any]:
    """Pairwise association in [0, 1]: |Spearman rho| between numbers (datetimes and booleans as numbers) and
    Cramér's V where a category is involved (numbers cut into their quintiles)."""
    columns = [n for n, k in meta.columns.items() if k is not ColumnKind.OTHER][:MAX_HEATMAP_COLUMNS]
    matrices = {}
    for side, frame in (("real", real), ("synthetic", synthetic)):
        coded = {n: _coded(frame[n], meta.columns[n]) for n in columns}
        matrix = np.full((len(columns), len(columns)), np.nan)
        for i, a in enumerate(columns):
            matrix[i, i] = 1.0
            for j in range(i + 1, len(columns)):
                matrix[i, j] = matrix[j, i] = _association(coded[a], coded[columns[j]])
        matrices[side] = [[None if np.isnan(v) else float(v) for v in row] for row in matrix]
    return {"columns": columns, "measure": "|Spearman rho| between numbers, Cramér's V with a category", **matrices}


def _coded(series: pd.Series, kind: ColumnKind) -> tuple[str, pd.Series]:
    if kind is ColumnKind.CATEGORICAL:
        return "category", series.astype("string")
    if kind is ColumnKind.DATETIME:
        values = pd.to_datetime(series, errors="coerce")
        return "number", pd.Series(values.astype("int64").where(values.notna()), index=series.index, dtype=float)
    return "number", pd.to_numeric(series.astype(float) if kind is ColumnKind.BOOLEAN else series, errors="coerce")


def _association(a: tuple[str, pd.Series], b: tuple[str, pd.Series]) -> float:
    (kind_a, x), (kind_b, y) = a, b
    present = x.notna() & y.notna()
    x, y = x[present], y[present]
    if len(x) < 3:
        return float("nan")
    if kind_a == kind_b == "number":
        if x.nunique() < 2 or y.nunique() < 2:
            return float("nan")
        return float(abs(stats.spearmanr(x, y).statistic))
    x = _binned(x) if kind_a == "number" else x
    y = _binned(y) if kind_b == "number" else y
    table = pd.crosstab(x, y)
    if min(table.shape) < 2:
        return float("nan")
    return float(stats.contingency.association(table.to_numpy(), method="cramer"))


def _binned(values: pd.Series) -> pd.Series:
    return pd.qcut(values.rank(method="first"), q=min(5, values.nunique()), labels=False, duplicates="drop")
