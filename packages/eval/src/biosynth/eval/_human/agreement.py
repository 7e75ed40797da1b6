"""Agreement between reviewers, and between reviewers and LLM judges, per criterion, with percentile bootstrap
intervals over items (records).

Fleiss' kappa comes from statsmodels, Krippendorff's alpha from `krippendorff` (missing ratings allowed), Spearman's
rho and Kendall's tau-b from SciPy, each fed the rating matrices built here; Cohen's kappa (weighted for ordinal
scales) is scikit-learn's formula on the confusion matrix (see `cohen_kappa`). All are tested equal to the reference
packages to 1e-9.
"""

from __future__ import annotations

import itertools
import logging
import warnings
from collections.abc import Callable
from typing import Literal

import numpy as np

from biosynth.core import ConfigError
from biosynth.eval._human.criteria import Criterion
from biosynth.eval._human.folder import AnnotationSet
from biosynth.eval._human.judge_scores import JudgeScore, judge_label
from biosynth.eval._measure import NotApplicable, Outcome, check_bootstrap, run_metric
from biosynth.eval._result import ConfidenceInterval, Direction, Family, MetricResult

Weights = Literal["linear", "quadratic"]
log = logging.getLogger("biosynth")


class Ratings:
    """One criterion's ratings as an items x reviewers matrix of scores (NaN: not rated)."""

    def __init__(self, annotations: AnnotationSet, criterion: Criterion) -> None:
        rows = [a for a in annotations.annotations if a.criterion == criterion.name]
        self.criterion = criterion
        self.items = list(dict.fromkeys(a.record_id for a in rows))
        self.reviewers = sorted({a.reviewer for a in rows})
        item_index = {item: i for i, item in enumerate(self.items)}
        reviewer_index = {reviewer: j for j, reviewer in enumerate(self.reviewers)}
        self.matrix = np.full((len(self.items), len(self.reviewers)), np.nan)
        for a in rows:
            self.matrix[item_index[a.record_id], reviewer_index[a.reviewer]] = a.score

    @property
    def count(self) -> int:
        return int(np.isfinite(self.matrix).sum())


# ---- the statistics on one (possibly resampled) matrix ---------------------------------------------------------

def cohen_kappa(a: np.ndarray, b: np.ndarray, scores: tuple[int, ...], weights: Weights | None) -> float:
    """Cohen's kappa of two raters' scores, on the confusion matrix over the whole scale (NaN when undefined).

    scikit-learn's `cohen_kappa_score` computes the same formula but validates its inputs for ~8 ms a call; a
    bootstrap calls it thousands of times. Tested equal to it to 1e-9 (tests/human/test_agreement.py)."""
    k = len(scores)
    index = {score: i for i, score in enumerate(scores)}
    confusion = np.zeros((k, k))
    np.add.at(confusion, ([index[int(x)] for x in a], [index[int(y)] for y in b]), 1.0)
    expected = np.outer(confusion.sum(axis=1), confusion.sum(axis=0)) / confusion.sum()
    distance = np.abs(np.subtract.outer(np.arange(k), np.arange(k))).astype(float)
    weight = {None: (distance > 0).astype(float), "linear": distance, "quadratic": distance ** 2}[weights]
    disagreement_expected = float((weight * expected).sum())
    if disagreement_expected == 0:
        return float("nan")
    return 1.0 - float((weight * confusion).sum()) / disagreement_expected


def cohen_pairs(matrix: np.ndarray, scores: tuple[int, ...], weights: Weights | None) -> list[tuple[int, int, float, int]]:
    """(reviewer a, reviewer b, kappa, items both rated) for each pair of reviewers with two or more common items."""
    out = []
    for a, b in itertools.combinations(range(matrix.shape[1]), 2):
        both = np.isfinite(matrix[:, a]) & np.isfinite(matrix[:, b])
        if both.sum() < 2:
            continue
        out.append((a, b, cohen_kappa(matrix[both, a], matrix[both, b], scores, weights), int(both.sum())))
    return out


def fleiss_table(matrix: np.ndarray, scores: tuple[int, ...]) -> tuple[np.ndarray, int, int]:
    """Items x categories counts for Fleiss' kappa, which needs one number of ratings per item: the items rated by
    the most common number (two or more) of reviewers. Returns the table, that number, and the items left out."""
    counts = np.isfinite(matrix).sum(axis=1)
    eligible = counts[counts >= 2]
    if len(eligible) == 0:
        return np.zeros((0, len(scores))), 0, len(counts)
    values, frequency = np.unique(eligible, return_counts=True)
    m = int(values[frequency == frequency.max()].max())
    kept = matrix[counts == m]
    table = np.stack([(kept == s).sum(axis=1) for s in scores], axis=1).astype(float)
    return table, m, int(len(counts) - len(kept))


def fleiss(matrix: np.ndarray, scores: tuple[int, ...]) -> float:
    from statsmodels.stats.inter_rater import fleiss_kappa

    table, _, _ = fleiss_table(matrix, scores)
    if len(table) < 2:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(fleiss_kappa(table, method="fleiss"))


def krippendorff_alpha(matrix: np.ndarray, scores: tuple[int, ...], level: str) -> float:
    import krippendorff

    pairable = np.isfinite(matrix).sum(axis=1) >= 2
    observed = np.unique(matrix[pairable][np.isfinite(matrix[pairable])])
    if len(observed) < 2:  # one value among pairable ratings: no variation to agree on (alpha is 0/0)
        return float("nan")
    return float(krippendorff.alpha(reliability_data=matrix.T, level_of_measurement=level,
                                    value_domain=list(scores)))


# ---- bootstrap and results ---------------------------------------------------------------------------------------

def percentile_interval(replicates: np.ndarray, point: float, level: float, what: str,
                        n_bootstrap: int) -> tuple[ConfidenceInterval | None, list[str]]:
    """The percentile bootstrap interval. Agreement coefficients and correlations are bounded and skewed near their
    bounds, where the basic (reflected) interval of the distance metrics would run past 1 and be clipped; the
    percentile interval stays inside the statistic's range (as Krippendorff's and Zapf et al.'s bootstraps do)."""
    finite = replicates[np.isfinite(replicates)]
    if len(finite) < 0.9 * len(replicates):
        return None, [f"no interval for {what}: only {len(finite)} of {len(replicates)} bootstrap replicates were "
                      "defined (too few records, or resamples with a single score)"]
    alpha = (1 - level) / 2
    low, high = (float(q) for q in np.quantile(finite, [alpha, 1 - alpha]))
    notes = [] if low <= point <= high else [f"the percentile interval for {what} excludes the value: the estimate is "
                                              f"biased at this sample size (bootstrap bias {finite.mean() - point:+.4g})"]
    return ConfidenceInterval(low=low, high=high, level=level,
                              method=f"percentile bootstrap over items (records), B={n_bootstrap}"), notes


def _interval(statistic: Callable[[np.ndarray], float], n: int, point: float, n_bootstrap: int, seed: int,
              level: float, what: str) -> tuple[ConfidenceInterval | None, list[str]]:
    """`statistic` of the items drawn with replacement, B times, and their percentile interval."""
    if n_bootstrap == 0:
        return None, []
    generator = np.random.default_rng(seed)
    replicates = np.array([statistic(generator.integers(0, n, size=n)) for _ in range(n_bootstrap)])
    return percentile_interval(replicates, point, level, what, n_bootstrap)


def _checked(value: float, reason: str) -> float:
    if not np.isfinite(value):
        raise NotApplicable(reason)
    return value


def agreement_results(annotations: AnnotationSet, judge_scores: tuple[JudgeScore, ...] = (), *, seed: int = 0,
                      n_bootstrap: int = 200, level: float = 0.95, weights: Weights = "quadratic") -> list[MetricResult]:
    """Every agreement measure for every criterion of the review, as MetricResults of family 'human'."""
    check_bootstrap(n_bootstrap, level)
    if weights not in ("linear", "quadratic"):
        raise ConfigError(f"kappa weights must be 'linear' or 'quadratic', got {weights!r}")
    known = {c.name for c in annotations.criteria}
    unknown = sorted({s.criterion for s in judge_scores} - known)
    if unknown:
        raise ConfigError(f"judge scores name criteria {unknown} that the review did not ask; it asked {sorted(known)}")
    results: list[MetricResult] = []
    for criterion in annotations.criteria:
        ratings = Ratings(annotations, criterion)
        log.info("agreement on %r: %d records, %d reviewers, %d ratings, %d bootstrap replicates", criterion.name,
                 len(ratings.items), len(ratings.reviewers), ratings.count, n_bootstrap)
        common = {"modality": annotations.modality, "seed": seed, "family": Family.HUMAN,
                  "direction": Direction.HIGHER}
        base = {"criterion": criterion.name, "scale": list(criterion.scores), "ordinal": criterion.ordinal,
                "reviewers": len(ratings.reviewers), "ratings": ratings.count}
        results.append(_mean_score(ratings, base, common, n_bootstrap, seed, level))
        results.append(_cohen(ratings, base, common, None if not criterion.ordinal else weights, n_bootstrap, seed, level))
        results.append(_fleiss(ratings, base, common, n_bootstrap, seed, level))
        results.append(_alpha(ratings, base, common, n_bootstrap, seed, level))
        scores = [s for s in judge_scores if s.criterion == criterion.name]
        judges = list(dict.fromkeys(judge_label(s.judge) for s in scores))
        for judge in judges:
            chosen = [s for s in scores if judge_label(s.judge) == judge]
            suffix = "" if len(judges) == 1 else f".{chosen[0].judge.name}"
            results.extend(_judge_correlations(ratings, chosen, judge, suffix, base, common, n_bootstrap, seed, level))
    return results


def _mean_score(ratings: Ratings, base: dict, common: dict, n_bootstrap: int, seed: int, level: float) -> MetricResult:
    criterion = ratings.criterion

    def compute() -> Outcome:
        if not criterion.ordinal:
            raise NotApplicable(f"criterion {criterion.name!r} is nominal: a mean score needs an ordered scale")
        if not ratings.items:
            raise NotApplicable(f"no ratings of criterion {criterion.name!r} were imported")
        item_means = np.nanmean(ratings.matrix, axis=1)
        point = float(item_means.mean())
        ci, notes = _interval(lambda rows: float(item_means[rows].mean()), len(item_means), point, n_bootstrap, seed,
                              level, "the mean score")
        shares = {criterion.label_of(s): float(np.mean(ratings.matrix[np.isfinite(ratings.matrix)] == s))
                  for s in criterion.scores}
        return Outcome(point, ci, notes, details={"distribution": shares})

    return run_metric(name=f"human.mean_score.{criterion.name}", compute=compute, n_real=None,
                      n_synthetic=len(ratings.items), parameters=base, **common)


def _cohen(ratings: Ratings, base: dict, common: dict, weights: Weights | None, n_bootstrap: int, seed: int,
           level: float) -> MetricResult:
    criterion = ratings.criterion

    def mean_kappa(matrix: np.ndarray) -> float:
        kappas = [k for _, _, k, _ in cohen_pairs(matrix, criterion.scores, weights) if np.isfinite(k)]
        return float(np.mean(kappas)) if kappas else float("nan")

    def compute() -> Outcome:
        pairs = cohen_pairs(ratings.matrix, criterion.scores, weights)
        if not pairs:
            raise NotApplicable(f"no two reviewers rated two or more of the same records on {criterion.name!r}")
        point = _checked(mean_kappa(ratings.matrix), f"every reviewer pair used a single score on {criterion.name!r}: "
                         "kappa is undefined (0/0)")
        ci, notes = _interval(lambda rows: mean_kappa(ratings.matrix[rows]), len(ratings.items), point, n_bootstrap,
                              seed, level, "Cohen's kappa")
        details = {"pairs": [{"reviewer_a": ratings.reviewers[a], "reviewer_b": ratings.reviewers[b],
                              "kappa": k if np.isfinite(k) else None, "items": n} for a, b, k, n in pairs]}
        if len(pairs) > 1:
            notes.append(f"{len(pairs)} reviewer pairs: the value is the mean of their kappas (Light's kappa)")
        return Outcome(point, ci, notes, details)

    return run_metric(name=f"human.cohen_kappa.{criterion.name}", compute=compute, n_real=None,
                      n_synthetic=len(ratings.items), parameters={**base, "weights": weights or "unweighted"}, **common)


def _fleiss(ratings: Ratings, base: dict, common: dict, n_bootstrap: int, seed: int, level: float) -> MetricResult:
    criterion = ratings.criterion

    def compute() -> Outcome:
        table, m, left_out = fleiss_table(ratings.matrix, criterion.scores)
        if len(table) < 2:
            raise NotApplicable(f"fewer than two records of {criterion.name!r} were rated by two or more reviewers")
        point = _checked(fleiss(ratings.matrix, criterion.scores), "all ratings used one score: Fleiss' kappa is "
                         "undefined (0/0)")
        ci, notes = _interval(lambda rows: fleiss(ratings.matrix[rows], criterion.scores), len(ratings.items), point,
                              n_bootstrap, seed, level, "Fleiss' kappa")
        if left_out:
            notes.append(f"Fleiss' kappa needs one number of ratings per record: {len(table)} records rated by {m} "
                         f"reviewers were used, {left_out} others left out (Krippendorff's alpha uses them all)")
        if criterion.ordinal:
            notes.append("Fleiss' kappa treats the scale as nominal (no weights); Krippendorff's alpha is ordinal")
        return Outcome(point, ci, notes, {"raters_per_record": m, "records_used": len(table), "records_left_out": left_out})

    return run_metric(name=f"human.fleiss_kappa.{criterion.name}", compute=compute, n_real=None,
                      n_synthetic=len(ratings.items), parameters=base, **common)


def _alpha(ratings: Ratings, base: dict, common: dict, n_bootstrap: int, seed: int, level: float) -> MetricResult:
    criterion = ratings.criterion
    measurement = "ordinal" if criterion.ordinal else "nominal"

    def compute() -> Outcome:
        if (np.isfinite(ratings.matrix).sum(axis=1) >= 2).sum() < 1:
            raise NotApplicable(f"no record of {criterion.name!r} was rated by two or more reviewers")
        point = _checked(krippendorff_alpha(ratings.matrix, criterion.scores, measurement),
                         "the ratings of records rated twice or more use one score: alpha is undefined (0/0)")
        ci, notes = _interval(lambda rows: krippendorff_alpha(ratings.matrix[rows], criterion.scores, measurement),
                              len(ratings.items), point, n_bootstrap, seed, level, "Krippendorff's alpha")
        missing = int(np.isnan(ratings.matrix).sum())
        return Outcome(point, ci, notes, {"missing_ratings": missing})

    return run_metric(name=f"human.krippendorff_alpha.{criterion.name}", compute=compute, n_real=None,
                      n_synthetic=len(ratings.items), parameters={**base, "level_of_measurement": measurement}, **common)


def judge_human_pairs(ratings: Ratings, scores: list[JudgeScore]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(judge score, mean human score) for the records both scored."""
    by_record = {s.record_id: s.score for s in scores}
    index = [i for i, item in enumerate(ratings.items) if item in by_record]
    judge = np.array([by_record[ratings.items[i]] for i in index], dtype=float)
    human = np.nanmean(ratings.matrix[index], axis=1) if index else np.zeros(0)
    return judge, human, [ratings.items[i] for i in index]


def _correlation(kind: str, x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import kendalltau, spearmanr

    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    statistic = spearmanr(x, y).statistic if kind == "spearman" else kendalltau(x, y).statistic
    return float(statistic)


def _judge_correlations(ratings: Ratings, scores: list[JudgeScore], judge: str, suffix: str, base: dict, common: dict,
                        n_bootstrap: int, seed: int, level: float) -> list[MetricResult]:
    criterion = ratings.criterion
    x, y, items = judge_human_pairs(ratings, scores)
    out = []
    for kind, title in (("spearman", "Spearman's rho"), ("kendall", "Kendall's tau-b")):
        def compute(kind: str = kind, title: str = title) -> Outcome:
            if not criterion.ordinal:
                raise NotApplicable(f"criterion {criterion.name!r} is nominal: a correlation needs an ordered scale")
            if len(items) < 3:
                raise NotApplicable(f"{len(items)} records carry both a judge score and a human rating on "
                                    f"{criterion.name!r}; a correlation needs three or more")
            point = _checked(_correlation(kind, x, y), "the judge's scores or the human ratings are constant over the "
                             "records: the correlation is undefined")
            ci, notes = _interval(lambda rows: _correlation(kind, x[rows], y[rows]), len(items), point, n_bootstrap,
                                  seed, level, title)
            return Outcome(point, ci, notes, {"records": len(items), "human": "mean of the reviewers' scores per record"})

        out.append(run_metric(name=f"human.judge_{kind}.{criterion.name}{suffix}", compute=compute, n_real=None,
                              n_synthetic=len(items), parameters={**base, "judge": judge}, **common))
    return out
