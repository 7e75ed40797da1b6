"""Shared machinery: run a metric computation into a MetricResult, bootstrap weights and intervals."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController

from biosynth.core import BiosynthError, ConfigError
from biosynth.eval._result import ConfidenceInterval, Direction, Family, MetricResult

SMALL_SAMPLE = 100  # below this many rows on a side, distribution distances are noticeably biased upwards


class NotApplicable(Exception):
    """The metric does not apply to this data (e.g. no numerical column); the reason is reported."""


@dataclass
class Outcome:
    value: float
    ci: ConfidenceInterval | None = None
    warnings: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def check_bootstrap(n_bootstrap: int, level: float) -> None:
    if n_bootstrap < 0 or (0 < n_bootstrap < 20):
        raise ConfigError(f"n_bootstrap must be 0 (no interval) or at least 20, got {n_bootstrap}")
    if not 0 < level < 1:
        raise ConfigError(f"level must lie strictly between 0 and 1, got {level}")


def run_metric(
    *,
    name: str,
    family: Family,
    direction: Direction,
    compute: Callable[[], Outcome],
    n_real: int | None,
    n_synthetic: int | None,
    n_holdout: int | None = None,
    seed: int | None = None,
    parameters: dict[str, Any] | None = None,
    threat_model: str | None = None,
    warnings: Sequence[str] = (),
    modality: str = "tabular",
) -> MetricResult:
    """Time `compute` and wrap what it returns; a computation that fails becomes a 'failed' result with the reason.

    User errors (BiosynthError: wrong columns, bad parameters) propagate: they are the caller's to fix.
    """
    common: dict[str, Any] = dict(
        name=name, family=family, modality=modality, direction=direction, n_real=n_real, n_synthetic=n_synthetic,
        n_holdout=n_holdout, seed=seed, parameters=parameters or {}, threat_model=threat_model,
    )
    start = time.perf_counter()
    try:
        outcome = compute()
    except BiosynthError:
        raise
    except NotApplicable as reason:
        return MetricResult(value=None, status="not_applicable", error=str(reason), warnings=tuple(warnings),
                            duration_s=time.perf_counter() - start, **common)
    except Exception as err:  # noqa: BLE001 - a metric that fails is reported with its reason, never dropped
        return MetricResult(value=None, status="failed", error=f"{type(err).__name__}: {err}",
                            warnings=tuple(warnings), duration_s=time.perf_counter() - start, **common)
    return MetricResult(value=float(outcome.value), ci=outcome.ci, warnings=(*warnings, *outcome.warnings),
                        details=outcome.details, duration_s=time.perf_counter() - start, **common)


def bootstrap_counts(generator: np.random.Generator, n: int) -> np.ndarray:
    """How often each of `n` rows is drawn in one resample with replacement (a multinomial count vector)."""
    return np.bincount(generator.integers(0, n, size=n), minlength=n).astype(np.float64)


_BLOCK = 64  # resamples per block: bounds the (block x rows) temporaries on large tables


def auroc_replicates(positive: np.ndarray, score: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Weighted AUROC (ties count one half) of `score` for `positive` under each row of `counts` (resamples x rows,
    as `bootstrap_counts` draws them); NaN where a resample holds no positive or no negative row (scikit-learn gives
    NaN there too, with a warning).

    scikit-learn's `roc_auc_score` gives the same values (tested), one resample per call; its input checks, not its
    arithmetic, made 200-resample intervals cost seconds, so all resamples are computed here at once.
    """
    order = np.argsort(score, kind="stable")
    ranked = score[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])  # first row of each run of equal scores
    is_pos = positive[order].astype(np.float64)
    out = np.empty(len(counts))
    for block in range(0, len(counts), _BLOCK):
        weights = counts[block : block + _BLOCK][:, order]
        pos = np.add.reduceat(weights * is_pos, starts, axis=1)
        neg = np.add.reduceat(weights * (1.0 - is_pos), starts, axis=1)
        below = np.cumsum(neg, axis=1) - neg
        with np.errstate(invalid="ignore", divide="ignore"):
            area = (pos * (below + 0.5 * neg)).sum(axis=1) / (pos.sum(axis=1) * neg.sum(axis=1))
        out[block : block + _BLOCK] = np.where((pos.sum(axis=1) > 0) & (neg.sum(axis=1) > 0), area, np.nan)
    return out


def bootstrap_interval(replicates: np.ndarray, point: float, level: float, what: str,
                       bounds: tuple[float, float] = (-np.inf, np.inf)) -> tuple[ConfidenceInterval | None, list[str]]:
    """Basic (reverse-percentile) bootstrap interval [2*point - q_high, 2*point - q_low], clipped to `bounds`.

    Distances between samples are biased: a resample is farther from the other side than the sample itself, so
    the replicates sit below the point estimate; the basic interval reflects them around it and so corrects for
    that first-order bias, where a plain percentile interval can miss the point estimate altogether.
    """
    finite = replicates[np.isfinite(replicates)]
    notes: list[str] = []
    if len(replicates) == 0:
        return None, notes
    if len(finite) < 0.9 * len(replicates):
        notes.append(f"no interval for {what}: only {len(finite)} of {len(replicates)} bootstrap replicates "
                     "were defined")
        return None, notes
    alpha = (1 - level) / 2
    q_low, q_high = np.quantile(finite, [alpha, 1 - alpha])
    low = float(np.clip(2 * point - q_high, *bounds))
    high = float(np.clip(2 * point - q_low, *bounds))
    if not low <= point <= high:
        notes.append(f"the interval for {what} excludes the value: the plug-in estimate is biased at this sample "
                     f"size (bootstrap bias {finite.mean() - point:+.4g}); the basic interval corrects for it")
    return ConfidenceInterval(low=low, high=high, level=level,
                              method=f"basic bootstrap over rows, B={len(replicates)}"), notes


def finite_or_none(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


_BLAS: list[Any] = []  # threadpoolctl's controller, made once: finding the loaded libraries costs ~2 ms a call


def one_blas_thread() -> Any:
    """A context with one BLAS thread: the products here are small, and threads only cost on a shared machine."""
    if not _BLAS:
        _BLAS.append(ThreadpoolController())
    return _BLAS[0].limit(limits=1, user_api="blas")
