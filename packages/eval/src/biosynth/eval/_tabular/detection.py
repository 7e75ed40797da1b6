"""Detection: how well a classifier tells real rows from synthetic ones (cross-validated ROC AUC)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from threadpoolctl import threadpool_limits

from biosynth.core import ConfigError, rng
from biosynth.eval._measure import (
    SMALL_SAMPLE,
    NotApplicable,
    Outcome,
    auroc_replicates,
    bootstrap_interval,
    check_bootstrap,
    run_metric,
)
from biosynth.eval._result import Direction, Family, MetricResult
from biosynth.eval._tabular.columns import ColumnKinds, MetadataLike, check_tables, continuous_with_nan

_MAX_NATIVE_CATEGORIES = 255  # HistGradientBoosting's native categorical support stops at max_bins categories


def _features(real: pd.DataFrame, synthetic: pd.DataFrame, meta: ColumnKinds) -> tuple[np.ndarray, list[bool]]:
    """Numbers as they are (datetimes as nanoseconds), categories as codes; missing stays NaN."""
    columns, categorical = [], []
    for name in meta.scored:
        if meta.columns[name].continuous:
            columns.append(np.concatenate([continuous_with_nan(real[name]), continuous_with_nan(synthetic[name])]))
            categorical.append(False)
        else:
            codes, uniques = pd.factorize(pd.concat([real[name].astype(object), synthetic[name].astype(object)],
                                                    ignore_index=True))
            columns.append(np.where(codes < 0, np.nan, codes).astype(np.float64))
            categorical.append(len(uniques) <= _MAX_NATIVE_CATEGORIES)
    return np.column_stack(columns), categorical


def detection_auc(real: pd.DataFrame, synthetic: pd.DataFrame, metadata: MetadataLike = None,
                  *, folds: int = 5, n_bootstrap: int = 200, level: float = 0.95, seed: int = 0,
                  threads: int | None = 1) -> MetricResult:
    """Out-of-fold ROC AUC of a gradient-boosted classifier separating real from synthetic rows.

    0.5 means the two are indistinguishable to it, 1.0 that every row is told apart. The classifier is
    scikit-learn's HistGradientBoostingClassifier (missing values and categories handled natively); every row is
    scored once by a model that did not see it (stratified `folds`-fold cross-validation). The interval resamples
    the out-of-fold scores (it does not refit), so it covers the evaluation's sampling, not the fitting's.
    `threads` caps OpenMP threads (None: all cores); one thread is fastest below ~50,000 rows and on shared machines.
    """
    check_bootstrap(n_bootstrap, level)
    if folds < 2:
        raise ConfigError(f"folds must be at least 2, got {folds}")
    meta = ColumnKinds.coerce(metadata, real)
    check_tables(meta, real=real, synthetic=synthetic)

    def compute() -> Outcome:
        if not meta.scored:
            raise NotApplicable("no scored columns")
        if min(len(real), len(synthetic)) < folds:
            raise NotApplicable(f"needs at least {folds} rows on each side for {folds}-fold cross-validation")
        x, categorical = _features(real, synthetic, meta)
        y = np.concatenate([np.zeros(len(real)), np.ones(len(synthetic))])
        model = HistGradientBoostingClassifier(categorical_features=categorical, random_state=seed)
        split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        with threadpool_limits(limits=threads, user_api="openmp"):
            scores = cross_val_predict(model, x, y, cv=split, method="predict_proba")[:, 1]
        auc = float(roc_auc_score(y, scores))
        warnings = []
        if min(len(real), len(synthetic)) < SMALL_SAMPLE:
            warnings.append(f"small sample: fewer than {SMALL_SAMPLE} rows on a side; the classifier may be undertrained")
        ci = None
        if n_bootstrap:
            generator = rng(seed)
            n_r, n_s = len(real), len(synthetic)
            counts = np.array([np.concatenate([np.bincount(generator.integers(0, n_r, n_r), minlength=n_r),
                                               np.bincount(generator.integers(0, n_s, n_s), minlength=n_s)])
                               for _ in range(n_bootstrap)], dtype=np.float64)
            reps = auroc_replicates(y == 1, scores, counts)
            ci, notes = bootstrap_interval(reps, auc, level, "the detection AUC", bounds=(0.0, 1.0))
            warnings += notes
        return Outcome(value=auc, ci=ci, warnings=warnings,
                       details={"classifier": "HistGradientBoostingClassifier", "folds": folds,
                                "features": meta.scored})

    return run_metric(name="detection_auc", family=Family.FIDELITY, direction=Direction.LOWER, compute=compute,
                      n_real=len(real), n_synthetic=len(synthetic), seed=seed,
                      parameters={"folds": folds, "n_bootstrap": n_bootstrap, "level": level,
                                  "classifier": "HistGradientBoostingClassifier(default)", "threads": threads})
