"""Utility: train on synthetic, test on real (TSTR) beside train on real (TRTR) and on real + synthetic."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from biosynth.core import ConfigError, rng
from biosynth.eval._measure import (
    SMALL_SAMPLE,
    NotApplicable,
    Outcome,
    auroc_replicates,
    bootstrap_counts,
    bootstrap_interval,
    check_bootstrap,
    run_metric,
)
from biosynth.eval._result import Direction, Family, MetricResult
from biosynth.eval._tabular.columns import ColumnKind, ColumnKinds, MetadataLike, check_tables, continuous_with_nan

ARMS = ("trtr", "tstr", "augmented")  # train on real / on synthetic / on real + synthetic; always test on real
MODELS = ("logistic_regression", "gradient_boosting")
SCORES = ("auroc", "f1")
HEADLINE = ("tstr", "gradient_boosting", "auroc")
_MISSING = "(missing)"


def _features(frame: pd.DataFrame, features: list[str], meta: ColumnKinds) -> pd.DataFrame:
    """Continuous columns as float (datetimes as nanoseconds, NaN for missing), discrete ones as strings or NaN."""
    out = {}
    for name in features:
        if meta.columns[name].continuous:
            out[name] = continuous_with_nan(frame[name])
        else:
            text = frame[name].astype(object).map(str).to_numpy(dtype=object)
            text[frame[name].isna().to_numpy()] = np.nan
            out[name] = text
    return pd.DataFrame(out, index=frame.index)


def _pipeline(model: str, continuous: list[str], discrete: list[str], seed: int) -> Pipeline:
    """Imputation + one-hot encoding (+ scaling for the linear model), then the classifier."""
    numeric_steps: list[Any] = [SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)]
    if model == "logistic_regression":
        numeric_steps.append(StandardScaler())
    prepare = ColumnTransformer([
        ("continuous", make_pipeline(*numeric_steps), continuous),
        ("discrete", make_pipeline(SimpleImputer(strategy="constant", fill_value=_MISSING),
                                   OneHotEncoder(handle_unknown="ignore", sparse_output=False)), discrete),
    ])
    classifier: Any = (LogisticRegression(max_iter=2000) if model == "logistic_regression"
                       else HistGradientBoostingClassifier(random_state=seed))
    return Pipeline([("prepare", prepare), ("classifier", classifier)])


def _auroc(y: np.ndarray, proba: np.ndarray, classes: np.ndarray, weight: np.ndarray | None) -> float:
    """Binary AUROC of the last class; for more classes the macro one-vs-rest mean over the test set's classes.

    Hand-written one-vs-rest (the same average as scikit-learn's multi_class='ovr'): it scores each class present
    in the test rows against the rest, so a training set holding an extra class still gives a defined score.
    """
    if len(classes) == 2:
        return float(roc_auc_score(y == classes[1], proba[:, 1], sample_weight=weight))
    present = [i for i, c in enumerate(classes) if np.any((y == c) if weight is None else (y == c) & (weight > 0))]
    return float(np.mean([roc_auc_score(y == classes[i], proba[:, i], sample_weight=weight) for i in present]))


def _f1(y: np.ndarray, predicted: np.ndarray, classes: np.ndarray, weight: np.ndarray | None) -> float:
    """F1 of the last class when binary, else macro F1 over the classes."""
    if len(classes) == 2:
        return float(f1_score(y, predicted, pos_label=classes[1], average="binary", sample_weight=weight,
                              zero_division=0.0))
    return float(f1_score(y, predicted, labels=classes, average="macro", sample_weight=weight, zero_division=0.0))


# The bootstrap scores every (arm, model) pair on every resample: 200 resamples x 6 pairs x 2 scores are 2,400
# scikit-learn calls whose input checks (not the arithmetic) took 10 of the quickstart's 11 s of utility. The
# replicates are therefore computed here for all resamples at once, from the same definitions (weighted by the
# resample's counts); the point estimates stay scikit-learn's, and the tests hold both to scikit-learn's values.

def _auroc_replicates(y: np.ndarray, proba: np.ndarray, classes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """`_auroc` under each row of `counts` (resamples x test rows): NaN where a resample holds one class only."""
    if len(classes) == 2:
        return auroc_replicates(y == classes[1], proba[:, 1], counts)
    per_class = np.stack([auroc_replicates(y == c, proba[:, i], counts) for i, c in enumerate(classes)], 1)
    present = np.stack([counts[:, y == c].sum(axis=1) > 0 for c in classes], axis=1)
    undefined = np.any(np.isnan(per_class) & present, axis=1)  # a class present without any other class
    mean = np.where(present, np.nan_to_num(per_class), 0.0).sum(axis=1) / present.sum(axis=1)
    return np.where(undefined, np.nan, mean)


def _f1_replicates(y: np.ndarray, predicted: np.ndarray, classes: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """`_f1` under each row of `counts`: F1 = 2TP / (2TP + FP + FN), 0 where that is 0 / 0 (zero_division=0)."""
    def f1(label: Any) -> np.ndarray:
        hit, said = y == label, predicted == label
        tp, fp, fn = counts @ (hit & said), counts @ (~hit & said), counts @ (hit & ~said)
        denominator = 2 * tp + fp + fn
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denominator > 0, 2 * tp / denominator, 0.0)

    if len(classes) == 2:
        return f1(classes[1])
    return np.mean([f1(c) for c in classes], axis=0)


def utility_tstr(real_train: pd.DataFrame, synthetic: pd.DataFrame, real_test: pd.DataFrame | None, target: str,
                 metadata: MetadataLike = None, seed: int = 0, *,
                 n_bootstrap: int = 200, level: float = 0.95, threads: int | None = 1) -> MetricResult:
    """Machine-learning utility: predict `target` from the other scored columns, always scored on `real_test`.

    Three training sets (arms): TRTR (real_train), TSTR (synthetic), augmented (real_train + synthetic); two
    scikit-learn pipelines (logistic regression with scaling, histogram gradient boosting), both with median
    imputation (+ missing indicators) and one-hot encoded categoricals; two scores: AUROC (binary, or macro
    one-vs-rest) and F1 (binary on the last class in sorted order, or macro). The value is TSTR AUROC of gradient
    boosting; `details["scores"]` holds every (arm, model, score) with its interval. The intervals resample the
    test rows (the same resamples for every entry, so they are paired); the models are not refitted.
    A target missing from a table, a training set with one class, or a test class unseen in training gives a
    'failed' result with the reason. Rows whose target is missing are dropped, with a warning.
    """
    check_bootstrap(n_bootstrap, level)
    meta = ColumnKinds.coerce(metadata, real_train)
    frames = {"real_train": real_train, "synthetic": synthetic, "real_test": real_test}

    def compute() -> Outcome:
        if real_test is None:
            raise NotApplicable("utility needs a real test set (the holdout) that no model was trained on")
        lacking = [role for role, frame in frames.items() if frame is not None and target not in frame.columns]
        if lacking:
            raise ValueError(f"target column {target!r} is missing from the {', '.join(lacking)} table(s)")
        features = [c for c in meta.scored if c != target]
        feature_meta = ColumnKinds(columns={c: meta.columns[c] for c in features})
        check_tables(feature_meta, real_train=real_train, synthetic=synthetic, real_test=real_test)
        if not features:
            raise NotApplicable(f"no scored column besides the target {target!r} to predict it from")
        warnings: list[str] = []
        labelled = {}
        for role, frame in frames.items():
            assert frame is not None
            keep = frame[target].notna().to_numpy()
            if not keep.all():
                warnings.append(f"{int((~keep).sum())} of {len(frame)} {role} rows have no {target!r} and were dropped")
            labelled[role] = frame.loc[keep]
        labels = {role: frame[target].astype(object).map(str).to_numpy() for role, frame in labelled.items()}
        for role in ("real_train", "synthetic"):
            if len(np.unique(labels[role])) < 2:
                raise ValueError(f"the target {target!r} has a single class in the {role} table "
                                 f"({np.unique(labels[role]).tolist()}); a classifier needs at least two")
        test_classes = np.unique(labels["real_test"])
        if len(test_classes) < 2:
            raise ValueError(f"the target {target!r} has a single class in the real_test table "
                             f"({test_classes.tolist()}); AUROC needs at least two")
        for role in ("real_train", "synthetic"):
            unseen = sorted(set(test_classes) - set(labels[role]))
            if unseen:
                raise ValueError(f"the real_test table holds class(es) {unseen} of {target!r} that the {role} "
                                 "table never shows; the model trained on it cannot predict them")
        if min(len(labelled["real_train"]), len(labelled["synthetic"]), len(labelled["real_test"])) < SMALL_SAMPLE:
            warnings.append(f"small sample: fewer than {SMALL_SAMPLE} labelled rows in a table; scores are noisy")

        x = {role: _features(frame, features, meta) for role, frame in labelled.items()}
        training = {
            "trtr": (x["real_train"], labels["real_train"]),
            "tstr": (x["synthetic"], labels["synthetic"]),
            "augmented": (pd.concat([x["real_train"], x["synthetic"]], ignore_index=True),
                          np.concatenate([labels["real_train"], labels["synthetic"]])),
        }
        continuous = [c for c in features if meta.columns[c].continuous]
        discrete = [c for c in features if meta.columns[c] in (ColumnKind.CATEGORICAL, ColumnKind.BOOLEAN)]
        y_test = labels["real_test"]
        predictions: dict[tuple[str, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        with threadpool_limits(limits=threads, user_api="openmp"), threadpool_limits(limits=threads, user_api="blas"):
            for arm in ARMS:
                x_train, y_train = training[arm]
                for model in MODELS:
                    fitted = _pipeline(model, continuous, discrete, seed).fit(x_train, y_train)
                    classes = fitted.classes_
                    predictions[arm, model] = (fitted.predict_proba(x["real_test"]), fitted.predict(x["real_test"]),
                                               classes)

        def score_all(weight: np.ndarray | None) -> np.ndarray:
            out = []
            for key in predictions:
                proba, predicted, classes = predictions[key]
                out += [_auroc(y_test, proba, classes, weight), _f1(y_test, predicted, classes, weight)]
            return np.array(out)

        point = score_all(None)
        generator = rng(seed)
        counts = np.array([bootstrap_counts(generator, len(y_test)) for _ in range(n_bootstrap)]).reshape(
            n_bootstrap, len(y_test))
        reps = np.empty((n_bootstrap, len(point)))
        for index, (proba, predicted, classes) in enumerate(predictions.values()):
            reps[:, 2 * index] = _auroc_replicates(y_test, proba, classes, counts)
            reps[:, 2 * index + 1] = _f1_replicates(y_test, predicted, classes, counts)
        rows, headline_ci = [], None
        for index, ((arm, model), score) in enumerate((key, s) for key in predictions for s in SCORES):
            ci = None
            if n_bootstrap:
                interval, notes = bootstrap_interval(reps[:, index], float(point[index]), level,
                                                     f"{arm} {model} {score}", bounds=(0.0, 1.0))
                ci = interval
                if (arm, model, score) == HEADLINE:
                    headline_ci = interval
                    warnings.extend(notes)
            rows.append({"arm": arm, "model": model, "score": score, "value": float(point[index]),
                         "ci": (ci.low, ci.high) if ci else None})
        value = next(r["value"] for r in rows if (r["arm"], r["model"], r["score"]) == HEADLINE)
        trtr = next(r["value"] for r in rows if (r["arm"], r["model"], r["score"]) == ("trtr", *HEADLINE[1:]))
        return Outcome(value=value, ci=headline_ci, warnings=warnings, details={
            "target": target, "classes": test_classes.tolist(), "features": features,
            "value_is": "TSTR AUROC of gradient boosting", "trtr_auroc": trtr, "tstr_minus_trtr_auroc": value - trtr,
            "n_train_real": len(labelled["real_train"]), "n_train_synthetic": len(labelled["synthetic"]),
            "n_test": len(y_test), "scores": rows})

    if not target:
        raise ConfigError("utility_tstr needs the name of the target column")
    return run_metric(name="utility_tstr", family=Family.UTILITY, direction=Direction.HIGHER, compute=compute,
                      n_real=len(real_train), n_synthetic=len(synthetic),
                      n_holdout=None if real_test is None else len(real_test), seed=seed,
                      parameters={"target": target, "n_bootstrap": n_bootstrap, "level": level, "threads": threads,
                                  "arms": list(ARMS), "models": ["LogisticRegression(max_iter=2000)",
                                                                 "HistGradientBoostingClassifier(default)"]})
