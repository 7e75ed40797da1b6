"""DOMIAS-style density-ratio membership inference (van Breugel et al., AISTATS 2023), as synthcity implements it.

synthcity's `DomiasMIAKDE`: fit `scipy.stats.gaussian_kde` (Scott's rule, full covariance) to the synthetic data
(p_G) and to a reference sample of the real population (p_R), score each candidate record by p_G(x) / (p_R(x) +
1e-10), members = the training records, non-members = held-out records; the reference set is another part of the
held-out data. Here the score is log p_G(x) - log p_R(x) from `gaussian_kde.logpdf`: the same ordering (so the
same AUC and ROC) wherever p_R(x) >> 1e-10, and no underflow to 0 = 0/0 ties in many dimensions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import gaussian_kde
from sklearn.metrics import roc_auc_score, roc_curve

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
from biosynth.eval._tabular.columns import ColumnKinds, MetadataLike, check_tables, continuous_with_nan

FPR_TARGETS = (0.01, 0.001)

DOMIAS_THREAT = (
    "Membership inference, black-box, with auxiliary data (DOMIAS, van Breugel et al. 2023): the adversary holds the "
    "released synthetic data, a reference sample of the real population (never used for training), and a candidate "
    "real record. A generator that overfits places more synthetic density at its training records than the "
    "population has there, so the adversary scores a record by the ratio of the synthetic data's kernel density to "
    "the reference sample's density at it, and calls high ratios members. Members are all training records, "
    "non-members held-out records that are not in the reference sample; AUC 0.5 and TPR equal to FPR mean the "
    "attack learns nothing.")


_MISSING = "(missing)"


def _discrete(series: pd.Series) -> pd.Series:
    """Values as objects with one marker for every kind of missing value (None, NaN, NaT compare unequal)."""
    return series.astype(object).where(series.notna(), _MISSING)


def encode_features(fit: pd.DataFrame, frames: list[pd.DataFrame], meta: ColumnKinds) -> tuple[list[np.ndarray], list[str]]:
    """Numeric features for a density estimate, with statistics taken from `fit` (the real data).

    Numerical and datetime columns are standardised (mean and standard deviation of `fit`); missing values become
    the mean, plus a 0/1 missing indicator when `fit` has any. Categorical and boolean columns are one-hot encoded on
    `fit`'s categories (missing is a category) with the first category dropped, so the columns of one variable
    are not linearly dependent; a category `fit` lacks is all zeros.
    """
    blocks: list[list[np.ndarray]] = [[] for _ in frames]
    names: list[str] = []
    for name in meta.scored:
        kind = meta.columns[name]
        if kind.continuous:
            reference = continuous_with_nan(fit[name])
            present = reference[~np.isnan(reference)]
            if len(present) == 0:
                continue
            centre, scale = float(present.mean()), float(present.std())
            scale = scale if scale > 0 else 1.0
            for block, frame in zip(blocks, frames, strict=True):
                values = (continuous_with_nan(frame[name]) - centre) / scale
                missing = np.isnan(values)
                block.append(np.where(missing, 0.0, values)[:, None])
                if np.isnan(reference).any():
                    block.append(missing.astype(np.float64)[:, None])
            names.append(name)
            if np.isnan(reference).any():
                names.append(f"{name} (missing)")
        else:
            _, categories = pd.factorize(_discrete(fit[name]))
            index = pd.Index(categories)
            for block, frame in zip(blocks, frames, strict=True):
                codes = index.get_indexer(_discrete(frame[name]))
                one_hot = np.zeros((len(frame), max(len(categories) - 1, 0)))
                rows = np.flatnonzero(codes > 0)
                one_hot[rows, codes[rows] - 1] = 1.0
                block.append(one_hot)
            names.extend(f"{name}={value}" for value in list(categories)[1:])
    return [np.hstack(block) if block else np.zeros((len(frame), 0)) for block, frame in zip(blocks, frames, strict=True)], names


def _tpr_at(fpr: np.ndarray, tpr: np.ndarray, target: float) -> float:
    return float(tpr[fpr <= target].max())


def membership_inference_density(train: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame | None = None,
                                 metadata: MetadataLike = None, *,
                                 reference: pd.DataFrame | None = None, n_bootstrap: int = 200, level: float = 0.95,
                                 seed: int = 0) -> MetricResult:
    """DOMIAS density-ratio membership inference: ROC AUC (the value), TPR at FPR 1% and 0.1% in the details.

    Without `reference`, the holdout is split at random (seeded) into two halves: non-members and the reference
    sample (as synthcity splits its held-out set). A feature that is constant in the synthetic or the reference
    data is left out (its covariance would be singular), listed in the details. Intervals: basic bootstrap over
    members and non-members (each resampled on its own), for the AUC and both TPRs. Leak flag: the AUC interval's
    lower bound lies above 0.5. Cost: a Gaussian kernel sum over every (candidate, synthetic) and (candidate,
    reference) pair.
    """
    check_bootstrap(n_bootstrap, level)
    meta = ColumnKinds.coerce(metadata, train)
    check_tables(meta, train=train, synthetic=synthetic, holdout=holdout, reference=reference)

    def compute() -> Outcome:
        if holdout is None:
            raise NotApplicable("DOMIAS needs a holdout: real records from the same population that the generator "
                                "never saw (non-members, and the reference sample unless reference= is given)")
        if reference is None:
            if len(holdout) < 4:
                raise NotApplicable(f"the holdout has {len(holdout)} rows; DOMIAS splits it into non-members and a "
                                    "reference sample and needs at least 4")
            order = rng(seed).permutation(len(holdout))
            half = len(holdout) // 2
            non_members, ref = holdout.iloc[order[:half]], holdout.iloc[order[half:]]
        else:
            non_members, ref = holdout, reference
        real = pd.concat([train, holdout] + ([] if reference is None else [reference]), ignore_index=True)
        (x_member, x_non, x_syn, x_ref), names = encode_features(real, [train, non_members, synthetic, ref], meta)
        keep = (np.ptp(x_syn, axis=0) > 0) & (np.ptp(x_ref, axis=0) > 0)
        dropped = [n for n, k in zip(names, keep, strict=True) if not k]
        if not keep.any():
            raise NotApplicable("every feature is constant in the synthetic or the reference data; no density to fit")
        dimension = int(keep.sum())
        for role, data in (("synthetic", x_syn), ("reference", x_ref)):
            if len(data) <= dimension:
                raise NotApplicable(f"the {role} sample has {len(data)} rows for {dimension} features; a kernel "
                                    "density with a full covariance needs more rows than features")
        candidates = np.vstack([x_member, x_non])[:, keep]
        density_synthetic = gaussian_kde(x_syn[:, keep].T)
        density_reference = gaussian_kde(x_ref[:, keep].T)
        scores = density_synthetic.logpdf(candidates.T) - density_reference.logpdf(candidates.T)
        if not np.isfinite(scores).all():
            raise ValueError(f"{int((~np.isfinite(scores)).sum())} density ratios are not finite (a density "
                             "underflowed even in the log domain)")
        n_member, n_non = len(x_member), len(x_non)
        labels = np.r_[np.ones(n_member), np.zeros(n_non)]
        auc = float(roc_auc_score(labels, scores))
        fpr, tpr, _ = roc_curve(labels, scores)
        tprs = {target: _tpr_at(fpr, tpr, target) for target in FPR_TARGETS}
        warnings: list[str] = []
        for target in FPR_TARGETS:
            if n_non * target < 1:
                warnings.append(f"TPR at FPR {target:g} is not resolvable with {n_non} non-members (needs "
                                f"{int(1 / target)}); the reported value is TPR at FPR 0")
        if min(n_non, len(x_ref)) < SMALL_SAMPLE:
            warnings.append(f"small sample: fewer than {SMALL_SAMPLE} non-members or reference records; the "
                            "reference density and the AUC are noisy")
        if dropped:
            warnings.append(f"features constant in the synthetic or reference data were left out: {dropped}")
        ci, tpr_ci = None, {}
        if n_bootstrap:
            generator = rng(seed)
            reps = np.empty((n_bootstrap, 1 + len(FPR_TARGETS)))
            counts = np.array([np.r_[bootstrap_counts(generator, n_member), bootstrap_counts(generator, n_non)]
                               for _ in range(n_bootstrap)]).reshape(n_bootstrap, len(labels))
            reps[:, 0] = auroc_replicates(labels == 1, scores, counts)
            for b, weights in enumerate(counts):
                f, t, _ = roc_curve(labels, scores, sample_weight=weights)
                reps[b, 1:] = [_tpr_at(f, t, target) for target in FPR_TARGETS]
            ci, notes = bootstrap_interval(reps[:, 0], auc, level, "the attack AUC", bounds=(0.0, 1.0))
            warnings += notes
            for i, target in enumerate(FPR_TARGETS, start=1):
                interval, _ = bootstrap_interval(reps[:, i], tprs[target], level, f"TPR at FPR {target:g}",
                                                 bounds=(0.0, 1.0))
                tpr_ci[target] = None if interval is None else [interval.low, interval.high]
        else:
            warnings.append("no interval, so no leak decision (set n_bootstrap >= 20)")
        details: dict[str, Any] = {
            "tpr_at_fpr_0.01": tprs[0.01], "tpr_at_fpr_0.001": tprs[0.001],
            "tpr_at_fpr_0.01_ci": tpr_ci.get(0.01), "tpr_at_fpr_0.001_ci": tpr_ci.get(0.001),
            "members": n_member, "non_members": n_non, "reference_records": len(x_ref), "features": dimension,
            "dropped_features": dropped, "leak_detected": None if ci is None else bool(ci.low > 0.5),
            "leak_rule": "AUC interval lower bound > 0.5",
            "reference_sample": "the reference= table" if reference is not None else "a seeded half of the holdout",
            "bars": [["AUC", auc, None if ci is None else [ci.low, ci.high]],
                     *[[f"TPR at FPR {t:g}", tprs[t], tpr_ci.get(t)] for t in FPR_TARGETS]],
        }
        return Outcome(value=auc, ci=ci, warnings=warnings, details=details)

    if reference is not None and holdout is None:
        raise ConfigError("reference= is the population sample for the density ratio; it also needs holdout= "
                          "(the non-member candidates)")
    return run_metric(name="membership_inference_density", family=Family.PRIVACY, direction=Direction.LOWER,
                      compute=compute, n_real=len(train), n_synthetic=len(synthetic),
                      n_holdout=None if holdout is None else len(holdout), seed=seed, threat_model=DOMIAS_THREAT,
                      parameters={"n_bootstrap": n_bootstrap, "level": level,
                                  "density": "scipy.stats.gaussian_kde (Scott's rule, full covariance)",
                                  "score": "log p_synthetic(x) - log p_reference(x)",
                                  "features": "standardised numbers (+ missing indicators), one-hot categories "
                                              "(first dropped), statistics from the real data",
                                  "fpr_targets": list(FPR_TARGETS)})
