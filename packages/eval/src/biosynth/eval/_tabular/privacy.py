"""Privacy metrics, each with its threat model: distance to closest record, exact copies, membership inference.

`train` is the real table the generator learned from; `holdout` is real data from the same population that it
never saw. The holdout is the baseline every privacy metric compares against: a generator that leaks places
synthetic records closer to (or on top of) training records than unseen real records are.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binomtest, fisher_exact
from sklearn.metrics import roc_auc_score, roc_curve

from biosynth.core import rng
from biosynth.eval._measure import (
    SMALL_SAMPLE,
    NotApplicable,
    Outcome,
    auroc_replicates,
    bootstrap_interval,
    check_bootstrap,
    run_metric,
)
from biosynth.eval._result import ConfidenceInterval, Direction, Family, MetricResult
from biosynth.eval._tabular.columns import ColumnKinds, MetadataLike, check_tables
from biosynth.eval._tabular.distance import nearest_records

DISTANCE = ("SDMetrics' DCR (Gower) distance: mean over scored columns of min(|a-b|/range, 1) for numerical and "
            "datetime columns (range of the reference table; missing vs present = 1, missing vs missing = 0) and "
            "of a mismatch indicator for categorical and boolean columns")

DCR_THREAT = ("An adversary holding the released synthetic data looks for training individuals in it. A synthetic "
              "record much closer to a training record than unseen real records (the holdout) are reveals a "
              "near-copy of that individual. Measured: distance to the closest training record for every synthetic "
              "record and for every holdout record (exact, all rows).")
COPY_THREAT = ("An adversary holding the released synthetic data reads training records off it verbatim. A synthetic "
               "record equal to a training record on every scored column discloses that record; the holdout's rate "
               "of such matches is the baseline for records that coincide by chance.")
MIA_THREAT = ("Membership inference, black-box, no auxiliary data: the adversary holds the released synthetic data "
              "and a candidate real record and guesses that the record was in the training data when it lies close "
              "to a synthetic record (score = minus the distance to the closest synthetic record). Members are all "
              "training records, non-members all holdout records; AUC 0.5 and TPR equal to FPR mean the attack "
              "learns nothing.")


def _setup(train: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame | None,
           metadata: MetadataLike, n_bootstrap: int, level: float) -> ColumnKinds:
    check_bootstrap(n_bootstrap, level)
    meta = ColumnKinds.coerce(metadata, train)
    check_tables(meta, train=train, synthetic=synthetic, holdout=holdout)
    return meta


def _needs_holdout(holdout: pd.DataFrame | None, what: str) -> pd.DataFrame:
    if holdout is None:
        raise NotApplicable(f"{what} needs a holdout: real records from the same population that the generator "
                            "never saw (pass holdout=...)")
    return holdout


def _summary(values: np.ndarray) -> dict[str, float]:
    return {"median": float(np.median(values)), "p05": float(np.quantile(values, 0.05)),
            "mean": float(values.mean()), "share_zero": float((values == 0).mean())}


def distance_to_closest_record(train: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame | None = None,
                               metadata: MetadataLike = None, *, n_bootstrap: int = 200,
                               level: float = 0.95, seed: int = 0) -> MetricResult:
    """Median DCR synthetic->train divided by median DCR holdout->train (1 = as far as unseen records; 0 = copies).

    Leak flag (details.leak_detected): the interval's upper bound lies below 1, i.e. synthetic records sit
    significantly closer to the training data than unseen real records do.
    """
    meta = _setup(train, synthetic, holdout, metadata, n_bootstrap, level)

    def compute() -> Outcome:
        hold = _needs_holdout(holdout, "the DCR baseline")
        syn_dcr, _ = nearest_records(synthetic, train, meta)
        hold_dcr, _ = nearest_records(hold, train, meta)
        syn_median, hold_median = float(np.median(syn_dcr)), float(np.median(hold_dcr))
        if hold_median == 0:
            raise NotApplicable("the holdout's median distance to the training data is 0 (many records coincide, "
                                "as in low-cardinality tables); the ratio is undefined - read exact_copy_rate")
        value = syn_median / hold_median
        warnings: list[str] = []
        if min(len(syn_dcr), len(hold_dcr)) < SMALL_SAMPLE:
            warnings.append(f"small sample: fewer than {SMALL_SAMPLE} synthetic or holdout rows; the medians are noisy")
        ci = None
        if n_bootstrap:
            generator = rng(seed)
            reps = np.array([
                np.median(syn_dcr[generator.integers(0, len(syn_dcr), len(syn_dcr))])
                / np.median(hold_dcr[generator.integers(0, len(hold_dcr), len(hold_dcr))])
                for _ in range(n_bootstrap)
            ])
            ci, notes = bootstrap_interval(reps, value, level, "the DCR ratio", bounds=(0.0, np.inf))
            warnings += notes
        leak = None if ci is None else bool(ci.high < 1)
        if ci is None:
            warnings.append("no interval, so no leak decision (set n_bootstrap >= 20)")
        return Outcome(value=value, ci=ci, warnings=warnings, details={
            "synthetic_to_train": _summary(syn_dcr), "holdout_to_train": _summary(hold_dcr),
            "leak_detected": leak, "leak_rule": "interval upper bound < 1", "distance": DISTANCE,
        })

    return run_metric(name="dcr", family=Family.PRIVACY, direction=Direction.HIGHER, compute=compute,
                      n_real=len(train), n_synthetic=len(synthetic), n_holdout=None if holdout is None else len(holdout),
                      seed=seed, threat_model=DCR_THREAT,
                      parameters={"n_bootstrap": n_bootstrap, "level": level, "distance": "gower (SDMetrics DCR)",
                                  "statistic": "median ratio"})


def _row_ids(meta: ColumnKinds, *frames: pd.DataFrame) -> list[np.ndarray]:
    """One integer per distinct row over the scored columns (missing equals missing), across all frames."""
    codes = []
    for name in meta.scored:
        values = pd.concat([f[name].astype(object) for f in frames], ignore_index=True)
        column_codes, _ = pd.factorize(values, use_na_sentinel=False)
        codes.append(column_codes)
    _, ids = np.unique(np.column_stack(codes), axis=0, return_inverse=True)
    ids = ids.ravel()
    bounds = np.cumsum([0, *(len(f) for f in frames)])
    return [ids[bounds[i] : bounds[i + 1]] for i in range(len(frames))]


def exact_copy_rate(train: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame | None = None,
                    metadata: MetadataLike = None, *, level: float = 0.95,
                    seed: int = 0) -> MetricResult:
    """Share of synthetic records equal to some training record on every scored column (exact comparison).

    Interval: Clopper-Pearson. Leak flag: one-sided Fisher exact test, synthetic rate above the holdout's, p < 1-level.
    """
    meta = _setup(train, synthetic, holdout, metadata, 0, level)

    def compute() -> Outcome:
        frames = [train, synthetic] + ([holdout] if holdout is not None else [])
        ids = _row_ids(meta, *frames)
        in_train = np.zeros(int(max(i.max() for i in ids)) + 1, dtype=bool)
        in_train[ids[0]] = True
        copies = int(in_train[ids[1]].sum())
        interval = binomtest(copies, len(synthetic)).proportion_ci(confidence_level=level, method="exact")
        ci = ConfidenceInterval(low=float(interval.low), high=float(interval.high), level=level,
                                method="Clopper-Pearson (exact binomial)")
        details: dict[str, Any] = {"synthetic_copies": copies, "leak_rule": f"one-sided Fisher exact test p < {1 - level:g}"}
        warnings: list[str] = []
        if holdout is not None:
            hold_copies = int(in_train[ids[2]].sum())
            _, p_value = fisher_exact([[copies, len(synthetic) - copies], [hold_copies, len(holdout) - hold_copies]],
                                      alternative="greater")
            details.update(holdout_copies=hold_copies, holdout_rate=hold_copies / len(holdout),
                           p_value=float(p_value), leak_detected=bool(p_value < 1 - level))
        else:
            details["leak_detected"] = None
            warnings.append("no holdout: no baseline rate of chance matches, so no leak decision")
        return Outcome(value=copies / len(synthetic), ci=ci, warnings=warnings, details=details)

    return run_metric(name="exact_copy_rate", family=Family.PRIVACY, direction=Direction.LOWER, compute=compute,
                      n_real=len(train), n_synthetic=len(synthetic), n_holdout=None if holdout is None else len(holdout),
                      seed=seed, threat_model=COPY_THREAT, parameters={"level": level, "columns": "all scored"})


def _tpr_at(fpr: np.ndarray, tpr: np.ndarray, target: float) -> float:
    return float(tpr[fpr <= target].max())


def membership_inference_distance(train: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame | None = None,
                                  metadata: MetadataLike = None, *,
                                  n_bootstrap: int = 200, level: float = 0.95, seed: int = 0) -> MetricResult:
    """Distance-based membership inference: ROC AUC, and TPR at FPR 1% and 0.1% in the details.

    Leak flag: the interval's lower bound lies above 0.5.
    """
    meta = _setup(train, synthetic, holdout, metadata, n_bootstrap, level)

    def compute() -> Outcome:
        hold = _needs_holdout(holdout, "membership inference")
        member, _ = nearest_records(train, synthetic, meta)
        non_member, _ = nearest_records(hold, synthetic, meta)
        labels = np.concatenate([np.ones(len(member)), np.zeros(len(non_member))])
        scores = -np.concatenate([member, non_member])
        auc = float(roc_auc_score(labels, scores))
        fpr, tpr, _ = roc_curve(labels, scores)
        warnings: list[str] = []
        for target in (0.01, 0.001):
            if len(non_member) * target < 1:
                warnings.append(f"TPR at FPR {target:g} is not resolvable with {len(non_member)} non-members "
                                f"(needs {int(1 / target)}); the reported value is TPR at FPR 0")
        ci = None
        if n_bootstrap:
            generator = rng(seed)
            counts = np.array([np.concatenate([
                np.bincount(generator.integers(0, len(member), len(member)), minlength=len(member)),
                np.bincount(generator.integers(0, len(non_member), len(non_member)), minlength=len(non_member))])
                for _ in range(n_bootstrap)], dtype=np.float64)
            reps = auroc_replicates(labels == 1, scores, counts)
            ci, notes = bootstrap_interval(reps, auc, level, "the attack AUC", bounds=(0.0, 1.0))
            warnings += notes
        if ci is None:
            warnings.append("no interval, so no leak decision (set n_bootstrap >= 20)")
        return Outcome(value=auc, ci=ci, warnings=warnings, details={
            "tpr_at_fpr_0.01": _tpr_at(fpr, tpr, 0.01), "tpr_at_fpr_0.001": _tpr_at(fpr, tpr, 0.001),
            "members": len(member), "non_members": len(non_member),
            "leak_detected": None if ci is None else bool(ci.low > 0.5), "leak_rule": "interval lower bound > 0.5",
            "distance": DISTANCE.replace("reference table", "synthetic table"),
        })

    return run_metric(name="membership_inference_distance", family=Family.PRIVACY, direction=Direction.LOWER,
                      compute=compute, n_real=len(train), n_synthetic=len(synthetic),
                      n_holdout=None if holdout is None else len(holdout), seed=seed, threat_model=MIA_THREAT,
                      parameters={"n_bootstrap": n_bootstrap, "level": level, "score": "-DCR to synthetic",
                                  "fpr_targets": [0.01, 0.001]})
