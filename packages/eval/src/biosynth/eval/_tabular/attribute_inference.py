"""Attribute inference: an adversary who knows some columns of a real record (quasi-identifiers) uses the synthetic
data to guess a sensitive column. Run on training records and on held-out records: the generator leaks when the
guess is better for the records it trained on than for unseen records from the same population.

Two attackers: nearest neighbour (predict the sensitive value of the closest synthetic record, SDMetrics' DCR
distance on the quasi-identifiers) and CAP (SDMetrics' CategoricalCAP: the share of synthetic records with the same
key whose sensitive value is the true one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from biosynth.core import ConfigError, rng
from biosynth.eval._measure import (
    SMALL_SAMPLE,
    NotApplicable,
    Outcome,
    bootstrap_counts,
    bootstrap_interval,
    check_bootstrap,
    run_metric,
)
from biosynth.eval._result import ConfidenceInterval, Direction, Family, MetricResult
from biosynth.eval._tabular.columns import ColumnKind, ColumnKinds, MetadataLike, check_tables, continuous_with_nan
from biosynth.eval._tabular.distance import nearest_records

NN_THREAT = (
    "Attribute inference by nearest neighbour: the adversary knows the quasi-identifier columns of a real person "
    "and the released synthetic data, finds the synthetic record closest to the person on those columns (SDMetrics' "
    "DCR distance) and reads the sensitive column off it. Measured on every training record and on every holdout "
    "record: the leak is how much better the guess is for people the generator trained on (accuracy for "
    "categories, range-normalised absolute error for numbers) than for unseen people.")
CAP_THREAT = (
    "Attribute inference by correct attribution probability (SDMetrics' CategoricalCAP): the adversary knows the "
    "quasi-identifier (key) columns of a real person, collects the synthetic records with exactly the same key, and "
    "believes each sensitive value with the share of those records that carry it. Measured on every training and "
    "holdout record, counting a key that no synthetic record has as probability 0 (the 0CAP convention): the leak "
    "is how much more probability the adversary puts on the true value for people the generator trained on.")

_MISSING = "(missing)"


def _discrete(series: pd.Series) -> np.ndarray:
    """Values as objects, every kind of missing value one marker (None, NaN and NaT compare unequal otherwise)."""
    return series.astype(object).where(series.notna(), _MISSING).to_numpy(dtype=object)


def _sensitive_list(sensitive: str | Sequence[str], meta: ColumnKinds) -> list[str]:
    columns = [sensitive] if isinstance(sensitive, str) else list(sensitive)
    if not columns:
        raise ConfigError("attribute inference needs at least one sensitive column")
    unknown = [c for c in columns if c not in meta.scored]
    if unknown:
        raise ConfigError(f"sensitive column(s) {unknown} are not scored columns of the table {meta.scored}")
    return columns


def _keys_for(column: str, quasi_identifiers: Sequence[str] | None, meta: ColumnKinds) -> list[str]:
    if quasi_identifiers is None:
        return [c for c in meta.scored if c != column]
    unknown = [c for c in quasi_identifiers if c not in meta.scored]
    if unknown:
        raise ConfigError(f"quasi-identifier(s) {unknown} are not scored columns of the table {meta.scored}")
    return [c for c in quasi_identifiers if c != column]


def compare_sides(train_scores: np.ndarray, holdout_scores: np.ndarray, *, leak_sign: float, n_bootstrap: int,
                  level: float, seed: int, what: str) -> dict[str, Any]:
    """Means of a per-record score in [0, 1] on training and holdout records and the leak leak_sign * (train - holdout),
    each with a basic bootstrap interval (training and holdout records resampled on their own)."""
    train_mean, hold_mean = float(train_scores.mean()), float(holdout_scores.mean())
    leak = leak_sign * (train_mean - hold_mean)
    out: dict[str, Any] = {"train": train_mean, "holdout": hold_mean, "leak": leak, "train_ci": None,
                           "holdout_ci": None, "leak_ci": None, "notes": []}
    if not n_bootstrap:
        return out
    generator = rng(seed)
    reps = np.empty((n_bootstrap, 2))
    for b in range(n_bootstrap):
        reps[b] = (bootstrap_counts(generator, len(train_scores)) @ train_scores / len(train_scores),
                   bootstrap_counts(generator, len(holdout_scores)) @ holdout_scores / len(holdout_scores))
    for key, column, point in (("train_ci", reps[:, 0], train_mean), ("holdout_ci", reps[:, 1], hold_mean)):
        interval, _ = bootstrap_interval(column, point, level, f"{what} ({key[:-3]})", bounds=(0.0, 1.0))
        out[key] = None if interval is None else [interval.low, interval.high]
    interval, notes = bootstrap_interval(leak_sign * (reps[:, 0] - reps[:, 1]), leak, level, f"the {what} leak",
                                         bounds=(-1.0, 1.0))
    out["leak_ci"] = None if interval is None else [interval.low, interval.high]
    out["notes"] = notes
    return out


def _per_column_level(level: float, k: int) -> float:
    """Bonferroni: k sensitive columns are k tests; each interval at 1 - (1 - level) / k keeps the family's level."""
    return 1 - (1 - level) / k


def _summarise(rows: list[dict[str, Any]], warnings: list[str], n_bootstrap: int) -> Outcome:
    defined = [r for r in rows if r["leak"] is not None]
    if not defined:
        raise NotApplicable("no sensitive column could be scored: " + "; ".join(f"{r['column']}: {r['reason']}" for r in rows))
    worst = max(defined, key=lambda r: r["leak"])
    flags = [r["leak_ci"][0] > 0 for r in defined if r["leak_ci"] is not None]
    leak_detected = None if not n_bootstrap or len(flags) < len(defined) else any(flags)
    if leak_detected is None:
        warnings.append("no interval for every sensitive column, so no leak decision (set n_bootstrap >= 20)")
    ci = None
    if worst["leak_ci"] is not None:
        ci = ConfidenceInterval(low=worst["leak_ci"][0], high=worst["leak_ci"][1], level=worst["level"],
                                method=f"basic bootstrap over records, B={n_bootstrap} (Bonferroni level)")
    bars = []
    for r in defined:
        bars += [[f"{r['column']}: training {r['short']}", r["train"], r["train_ci"]],
                 [f"{r['column']}: holdout {r['short']}", r["holdout"], r["holdout_ci"]]]
    return Outcome(value=worst["leak"], ci=ci, warnings=warnings, details={
        "columns": [{k: v for k, v in r.items() if k != "notes"} for r in rows], "worst_column": worst["column"],
        "leak_detected": leak_detected,
        "leak_rule": "some sensitive column's leak interval (Bonferroni over the columns) lies above 0",
        "bars": bars})


def attribute_inference_nn(train: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame | None = None,
                           metadata: MetadataLike = None, *,
                           sensitive: str | Sequence[str], quasi_identifiers: Sequence[str] | None = None,
                           n_bootstrap: int = 200, level: float = 0.95, seed: int = 0) -> MetricResult:
    """Nearest-neighbour attribute inference; value: the largest leak over the sensitive columns.

    Per sensitive column (quasi-identifiers: `quasi_identifiers`, default every other scored column): categorical
    and boolean columns score accuracy (the leak: training accuracy - holdout accuracy); numerical and datetime
    columns score the absolute error divided by the training range, capped at 1, a missing prediction counting 1
    (the leak: holdout error - training error). Records whose true sensitive value is missing are left out (counted).
    Leak flag: a column's interval lies above 0, at the Bonferroni level 1 - (1 - level) / columns.
    """
    check_bootstrap(n_bootstrap, level)
    meta = ColumnKinds.coerce(metadata, train)
    check_tables(meta, train=train, synthetic=synthetic, holdout=holdout)
    columns = _sensitive_list(sensitive, meta)

    def compute() -> Outcome:
        if holdout is None:
            raise NotApplicable("attribute inference needs a holdout: its records are the baseline of people the "
                                "generator never saw")
        rows, warnings = [], []
        column_level = _per_column_level(level, len(columns))
        for i, column in enumerate(columns):
            keys = _keys_for(column, quasi_identifiers, meta)
            row: dict[str, Any] = {"column": column, "quasi_identifiers": keys, "level": column_level}
            if not keys:
                rows.append({**row, "leak": None, "reason": "no quasi-identifier column besides the sensitive one"})
                continue
            key_meta = ColumnKinds(columns={k: meta.columns[k] for k in keys})
            kind = meta.columns[column]
            scores = []
            for role, frame in (("train", train), ("holdout", holdout)):
                known = frame[column].notna().to_numpy()
                if not known.all():
                    warnings.append(f"{int((~known).sum())} {role} records without {column!r} were left out")
                targets = frame.loc[known]
                if len(targets) == 0:
                    break
                _, nearest = nearest_records(targets, synthetic, key_meta)
                guessed = synthetic[column].iloc[nearest]
                if kind.continuous:
                    true_values, guesses = continuous_with_nan(targets[column]), continuous_with_nan(guessed)
                    reference = continuous_with_nan(train[column])
                    width = np.nanmax(reference) - np.nanmin(reference)
                    error = np.abs(guesses - true_values) / (width if width > 0 else 1.0)
                    scores.append(np.where(np.isnan(error), 1.0, np.minimum(error, 1.0)))
                else:
                    scores.append((_discrete(guessed) == _discrete(targets[column])).astype(np.float64))
            if len(scores) < 2:
                rows.append({**row, "leak": None, "reason": f"no training or holdout record has a value of {column!r}"})
                continue
            score_name = "absolute error / range" if kind.continuous else "accuracy"
            compared = compare_sides(scores[0], scores[1], leak_sign=-1.0 if kind.continuous else 1.0,
                                     n_bootstrap=n_bootstrap, level=column_level, seed=seed + i,
                                     what=f"{column} {score_name}")
            warnings += compared.pop("notes")
            rows.append({**row, **compared, "score": score_name, "short": "error" if kind.continuous else "accuracy",
                         "n_train": len(scores[0]),
                         "n_holdout": len(scores[1]), "reason": None})
            if min(len(scores[0]), len(scores[1])) < SMALL_SAMPLE:
                warnings.append(f"small sample: fewer than {SMALL_SAMPLE} training or holdout records for {column!r}")
        return _summarise(rows, warnings, n_bootstrap)

    return run_metric(name="attribute_inference_nn", family=Family.PRIVACY, direction=Direction.LOWER,
                      compute=compute, n_real=len(train), n_synthetic=len(synthetic),
                      n_holdout=None if holdout is None else len(holdout), seed=seed, threat_model=NN_THREAT,
                      parameters={"sensitive": columns, "quasi_identifiers": "every other scored column"
                                  if quasi_identifiers is None else list(quasi_identifiers),
                                  "n_bootstrap": n_bootstrap, "level": level, "distance": "gower (SDMetrics DCR)"})


def _key_codes(frames: list[pd.DataFrame], keys: list[str], meta: ColumnKinds, bins: int,
               fit: pd.DataFrame) -> list[np.ndarray]:
    """One integer per distinct key across the frames; continuous keys cut into `bins` quantile bins of `fit`."""
    codes = []
    for name in keys:
        if meta.columns[name].continuous:
            reference = continuous_with_nan(fit[name])
            inner = np.linspace(0, 1, bins + 1)[1:-1]
            edges: np.ndarray = np.unique(np.nanquantile(reference, inner)) if bins > 1 else np.zeros(0)
            parts = []
            for frame in frames:
                values = continuous_with_nan(frame[name])
                parts.append(np.where(np.isnan(values), -1, np.searchsorted(edges, values, side="right")))
            codes.append(np.concatenate(parts))
        else:
            codes.append(pd.factorize(np.concatenate([_discrete(f[name]) for f in frames]))[0])
    _, ids = np.unique(np.column_stack(codes), axis=0, return_inverse=True)
    bounds = np.cumsum([0, *(len(f) for f in frames)])
    return [ids.ravel()[bounds[i]:bounds[i + 1]] for i in range(len(frames))]


def cap_probabilities(synthetic_keys: np.ndarray, synthetic_values: np.ndarray, keys: np.ndarray,
                      values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each target (key, value): the share of synthetic records with that key holding that value, and whether
    any synthetic record has the key. Keys and values are integer codes shared by both sides."""
    n_values = int(max(synthetic_values.max(initial=0), values.max(initial=0))) + 1
    key_count = np.bincount(synthetic_keys, minlength=int(max(synthetic_keys.max(initial=0), keys.max(initial=0))) + 1)
    pairs, pair_count = np.unique(synthetic_keys * n_values + synthetic_values, return_counts=True)
    target_pairs = keys * n_values + values
    where = np.clip(np.searchsorted(pairs, target_pairs), 0, max(len(pairs) - 1, 0))
    hits = np.where(pairs[where] == target_pairs, pair_count[where], 0) if len(pairs) else np.zeros(len(keys))
    matched = key_count[keys] > 0
    return np.where(matched, hits / np.maximum(key_count[keys], 1), 0.0), matched


def attribute_inference_cap(train: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame | None = None,
                            metadata: MetadataLike = None, *,
                            sensitive: str | Sequence[str], quasi_identifiers: Sequence[str] | None = None,
                            bins: int = 10, n_bootstrap: int = 200, level: float = 0.95, seed: int = 0) -> MetricResult:
    """CAP attribute inference (SDMetrics' CategoricalCAP attacker); value: the largest leak over the sensitive columns.

    Per categorical or boolean sensitive column (keys: `quasi_identifiers`, default every other scored column): the
    correct attribution probability of each training and holdout record, 0 when no synthetic record has its key;
    the leak is the training mean - the holdout mean. The details also give SDMetrics' scores for the training
    records: `sdmetrics_categorical_cap` = 1 - mean probability over the records whose key occurs (CategoricalCAP)
    and `sdmetrics_zero_cap` = 1 - mean probability over all (CategoricalZeroCAP). Continuous keys are cut into
    `bins` quantile bins of the training data (SDMetrics takes only categorical keys; with categorical keys the
    scores equal its own). Missing values are a value of their own. Leak flag as in `attribute_inference_nn`.
    """
    check_bootstrap(n_bootstrap, level)
    if bins < 1:
        raise ConfigError(f"bins must be at least 1, got {bins}")
    meta = ColumnKinds.coerce(metadata, train)
    check_tables(meta, train=train, synthetic=synthetic, holdout=holdout)
    columns = _sensitive_list(sensitive, meta)

    def compute() -> Outcome:
        if holdout is None:
            raise NotApplicable("attribute inference needs a holdout: its records are the baseline of people the "
                                "generator never saw")
        rows, warnings = [], []
        column_level = _per_column_level(level, len(columns))
        frames = [synthetic, train, holdout]
        for i, column in enumerate(columns):
            keys = _keys_for(column, quasi_identifiers, meta)
            row: dict[str, Any] = {"column": column, "quasi_identifiers": keys, "level": column_level}
            if meta.columns[column] not in (ColumnKind.CATEGORICAL, ColumnKind.BOOLEAN):
                rows.append({**row, "leak": None, "reason": f"CAP needs a categorical sensitive column; {column!r} is "
                                                            f"{meta.columns[column].value}"})
                continue
            if not keys:
                rows.append({**row, "leak": None, "reason": "no key column besides the sensitive one"})
                continue
            key_ids = _key_codes(frames, keys, meta, bins, train)
            value_ids = np.split(pd.factorize(np.concatenate([_discrete(f[column]) for f in frames]))[0],
                                 np.cumsum([len(synthetic), len(train)]))
            probability, matched = {}, {}
            for side, j in (("train", 1), ("holdout", 2)):
                probability[side], matched[side] = cap_probabilities(key_ids[0], value_ids[0], key_ids[j], value_ids[j])
            compared = compare_sides(probability["train"], probability["holdout"], leak_sign=1.0,
                                     n_bootstrap=n_bootstrap, level=column_level, seed=seed + i,
                                     what=f"{column} correct attribution probability")
            warnings += compared.pop("notes")
            cap = {side: (float(probability[side][matched[side]].mean()) if matched[side].any() else None)
                   for side in ("train", "holdout")}
            rows.append({**row, **compared, "score": "correct attribution probability (0 for unmatched keys)",
                         "short": "CAP",
                         "n_train": len(train), "n_holdout": len(holdout),
                         "matched_train": int(matched["train"].sum()), "matched_holdout": int(matched["holdout"].sum()),
                         "cap_matched_train": cap["train"], "cap_matched_holdout": cap["holdout"],
                         "sdmetrics_categorical_cap": None if cap["train"] is None else 1 - cap["train"],
                         "sdmetrics_zero_cap": 1 - compared["train"], "reason": None})
        return _summarise(rows, warnings, n_bootstrap)

    return run_metric(name="attribute_inference_cap", family=Family.PRIVACY, direction=Direction.LOWER,
                      compute=compute, n_real=len(train), n_synthetic=len(synthetic),
                      n_holdout=None if holdout is None else len(holdout), seed=seed, threat_model=CAP_THREAT,
                      parameters={"sensitive": columns, "quasi_identifiers": "every other scored column"
                                  if quasi_identifiers is None else list(quasi_identifiers), "bins": bins,
                                  "n_bootstrap": n_bootstrap, "level": level})
