"""Exact distance to the closest record, chunked, multithreaded, on all rows.

The distance between two rows is SDMetrics' DCR distance (sdmetrics.single_table.privacy.dcr_utils), a Gower
distance: the mean over the scored columns of
- numerical / datetime: min(|a - b| / range, 1), the range taken from the reference table;
  one value missing -> 1, both missing -> 0;
- categorical / boolean, and numerical columns that are constant (or empty) in the reference: 0 when equal
  (missing equals missing), else 1.
So it lies in [0, 1], and 0 means an exact copy on the scored columns.

How it is computed exactly without an n x m matrix: every row is embedded so that the L1 distance between
embeddings plus the number of mismatching multi-category columns equals the sum above; blocks of query rows against
all reference rows (scipy cityblock + one matrix product, threads) or, without such columns, scikit-learn's ArgKmin
(chunked, OpenMP) find each query row's nearest reference row. A numerical value v = (x - min) / range of a column
without missing values is one coordinate; with missing values it is the pair (v/2, -v/2) and a missing value is
(1/2, 1/2), which lies at L1 distance exactly 1 from every present value in [0, 1]; a column where only two
categories occur (missing and 'not in the reference' count as categories) is one 0/1 coordinate, others are one-hot
vectors whose matches a matrix product counts. Reference values always lie inside their own range, so |a - b| <=
range for every query value inside it and the clip at 1 never binds; the few query rows with a value outside the
reference range take a plain numpy path that applies the clip, in bounded blocks. Cost: rows x rows x embedding
width; memory: the two embeddings plus scikit-learn's chunks.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial.distance import cdist
from sklearn.metrics import pairwise_distances_argmin_min
from threadpoolctl import threadpool_limits

from biosynth.eval._tabular.columns import ColumnKinds, continuous_with_nan

_SEARCH_ELEMENTS = 1 << 19  # query x reference cells per block of the search (4 MiB float64 per thread)
_BLOCK_ELEMENTS = 1 << 22  # query x reference cells per numpy block on the out-of-range path (32 MiB float64)


@dataclass(frozen=True)
class _Numeric:
    query: np.ndarray  # range-normalised values, NaN for missing
    reference: np.ndarray


@dataclass(frozen=True)
class _Discrete:
    query: np.ndarray  # codes into the reference's categories; k = missing, k + 1 = not among them
    reference: np.ndarray
    n_codes: int


def _columns(query: pd.DataFrame, reference: pd.DataFrame, metadata: ColumnKinds) -> list[_Numeric | _Discrete]:
    out: list[_Numeric | _Discrete] = []
    for name in metadata.scored:
        kind = metadata.columns[name]
        if kind.continuous:
            q, r = continuous_with_nan(query[name]), continuous_with_nan(reference[name])
            present = r[~np.isnan(r)]
            if len(present) and present.max() > present.min():
                low, width = present.min(), present.max() - present.min()
                out.append(_Numeric(query=(q - low) / width, reference=(r - low) / width))
                continue
            q_values, r_values = pd.Series(q), pd.Series(r)
        else:
            q_values, r_values = query[name].astype(object), reference[name].astype(object)
        codes, categories = pd.factorize(r_values)  # missing -> -1
        q_codes = pd.Index(categories).get_indexer(q_values)
        k = len(categories)
        q_codes = np.where(q_values.isna().to_numpy(), k, np.where(q_codes < 0, k + 1, q_codes))
        r_codes = np.where(codes < 0, k, codes)
        out.append(_Discrete(query=q_codes.astype(np.int64), reference=r_codes.astype(np.int64), n_codes=k + 2))
    return out


def _embed(columns: list[_Numeric | _Discrete], side: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(L1 coordinates, one-hot indicators, number of one-hot columns) for one side."""
    l1: list[np.ndarray] = []
    hot: list[np.ndarray] = []
    for column in columns:
        values = getattr(column, side)
        if isinstance(column, _Numeric):
            if np.isnan(column.query).any() or np.isnan(column.reference).any():
                missing = np.isnan(values)
                half = np.where(missing, 0.0, values / 2)
                l1.append(np.column_stack([np.where(missing, 0.5, half), np.where(missing, 0.5, -half)]))
            else:
                l1.append(values[:, None])
        else:
            # only the codes that occur on either side need a coordinate; two codes need just one (0 or 1)
            used, position = np.unique(np.concatenate([column.query, column.reference]), return_inverse=True)
            position = position[: len(column.query)] if side == "query" else position[len(column.query):]
            if len(used) == 2:
                l1.append(position[:, None].astype(np.float64))
            elif len(used) > 2:
                one_hot = np.zeros((len(values), len(used)), dtype=np.float32)  # counts of 0/1 products: exact
                one_hot[np.arange(len(values)), position] = 1.0
                hot.append(one_hot)
    n = len(columns[0].query if side == "query" else columns[0].reference)
    def stack(parts: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.ascontiguousarray(np.hstack(parts), dtype=dtype) if parts else np.zeros((n, 0), dtype=dtype)

    return stack(l1, np.float64), stack(hot, np.float32), len(hot)


def _search(query: tuple[np.ndarray, np.ndarray, int], reference: tuple[np.ndarray, np.ndarray, int]
            ) -> tuple[np.ndarray, np.ndarray]:
    """Nearest reference row by L1 on the coordinates plus the count of category mismatches.

    Without multi-category columns this is scikit-learn's ArgKmin (OpenMP). With them, blocks of query rows take
    scipy's cityblock distances and subtract one-hot matches (a matrix product) from the number of such columns:
    a one-hot vector per category would cost a coordinate per category in the L1 search instead.
    """
    (q_l1, q_hot, n_hot), (r_l1, r_hot, _) = query, reference
    if n_hot == 0:
        index, distance = pairwise_distances_argmin_min(q_l1, r_l1, metric="manhattan")
        return distance, index
    step = max(1, _SEARCH_ELEMENTS // max(len(r_l1), 1))
    distance = np.empty(len(q_l1))
    index = np.empty(len(q_l1), dtype=np.int64)

    def block(start: int) -> None:
        rows = slice(start, start + step)
        total = cdist(q_l1[rows], r_l1, "cityblock") if q_l1.shape[1] else np.zeros((len(q_l1[rows]), len(r_l1)))
        total += n_hot
        total -= q_hot[rows] @ r_hot.T
        best = total.argmin(axis=1)
        index[rows], distance[rows] = best, total[np.arange(len(best)), best]

    workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    # scipy's cdist releases the GIL, so threads run the blocks in parallel
    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(workers) as pool:
        list(pool.map(block, range(0, len(q_l1), step)))
    return distance, index


def _clipped_block(columns: list[_Numeric | _Discrete], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest reference row for the given query rows by the definition itself (numpy, bounded blocks)."""
    n_ref = len(columns[0].reference)
    step = max(1, _BLOCK_ELEMENTS // max(n_ref, 1))
    best = np.empty(len(rows))
    where = np.empty(len(rows), dtype=np.int64)
    for start in range(0, len(rows), step):
        chunk = rows[start : start + step]
        total = np.zeros((len(chunk), n_ref))
        for column in columns:
            q, r = column.query[chunk][:, None], column.reference[None, :]
            if isinstance(column, _Numeric):
                q_missing, r_missing = np.isnan(q), np.isnan(r)
                with np.errstate(invalid="ignore"):
                    part = np.minimum(np.abs(q - r), 1.0)
                part = np.where(q_missing | r_missing, np.where(q_missing & r_missing, 0.0, 1.0), part)
            else:
                part = (q != r).astype(np.float64)
            total += part
        where[start : start + len(chunk)] = total.argmin(axis=1)
        best[start : start + len(chunk)] = total[np.arange(len(chunk)), where[start : start + len(chunk)]]
    return best, where


def nearest_records(query: pd.DataFrame, reference: pd.DataFrame,
                    metadata: ColumnKinds) -> tuple[np.ndarray, np.ndarray]:
    """For every query row, the distance to its closest reference row (see module doc) and that row's position."""
    columns = _columns(query, reference, metadata)
    if not columns:
        raise ValueError("no scored columns to measure distances on")
    n_columns = len(columns)
    outside = np.zeros(len(query), dtype=bool)
    for column in columns:
        if isinstance(column, _Numeric):
            with np.errstate(invalid="ignore"):
                outside |= (column.query < 0) | (column.query > 1)
    distance = np.empty(len(query))
    nearest = np.empty(len(query), dtype=np.int64)
    inside = np.flatnonzero(~outside)
    if len(inside):
        q_l1, q_hot, n_hot = _embed(columns, "query")
        distance[inside], nearest[inside] = _search((q_l1[inside], q_hot[inside], n_hot), _embed(columns, "reference"))
    rows = np.flatnonzero(outside)
    if len(rows):
        distance[rows], nearest[rows] = _clipped_block(columns, rows)
    return distance / n_columns, nearest
