"""Agreement statistics equal the reference packages (scikit-learn, statsmodels, krippendorff, SciPy) to 1e-9 on fixed
data, and reproduce published values; bootstrap intervals over records; undefined cases are said, never zeroed."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest
from scipy.stats import kendalltau, spearmanr
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

from biosynth.core import ModelRef
from biosynth.eval._human.agreement import agreement_results, cohen_kappa, fleiss
from biosynth.eval._human.criteria import Criterion
from biosynth.eval._human.folder import Annotation, AnnotationSet, DatasetRef
from biosynth.eval._human.judge_scores import JudgeScore

SCALE = Criterion(name="quality", question="Quality?", scores=(1, 2, 3, 4))
NAN = np.nan
# 14 records x 3 reviewers on a 1-4 scale; reviewer C skipped three records (missing ratings)
FIXED = np.array([[4, 4, 3], [3, 3, 3], [2, 3, 2], [1, 1, NAN], [4, 3, 4], [2, 2, 1], [3, 4, 4], [1, 2, 1],
                  [4, 4, NAN], [2, 1, 2], [3, 3, 2], [1, 1, 1], [4, 4, NAN], [3, 2, 3]])
REVIEWERS = ("reviewer-aaaaaaaaaaaa", "reviewer-bbbbbbbbbbbb", "reviewer-cccccccccccc")
JUDGE = ModelRef(name="tiny-judge", backend="fake", revision="1")


def annotation_set(matrix: np.ndarray, criterion: Criterion = SCALE, reviewers: tuple[str, ...] = REVIEWERS) -> AnnotationSet:
    rows = [Annotation(record_id=f"r{i:02d}", criterion=criterion.name, reviewer=reviewers[j], score=int(matrix[i, j]),
                       source="label-studio")
            for i in range(matrix.shape[0]) for j in range(matrix.shape[1]) if np.isfinite(matrix[i, j])]
    return AnnotationSet(dataset=DatasetRef(path="ds", recipe_sha256="0" * 64, records_sha256=None, seed=0), step=None,
                         modality="text", criteria=(criterion,), pseudonymisation={}, reviewers=reviewers[:matrix.shape[1]],
                         annotations=tuple(rows))


def by_name(results) -> dict:
    return {r.name: r for r in results}


@pytest.mark.parametrize("weights", ["linear", "quadratic"])
def test_cohen_kappa_equals_scikit_learn(weights) -> None:
    two = FIXED[:, :2]
    result = by_name(agreement_results(annotation_set(two), n_bootstrap=0, weights=weights))["human.cohen_kappa.quality"]
    reference = cohen_kappa_score(two[:, 0].astype(int), two[:, 1].astype(int), weights=weights)
    assert result.ok and result.value == pytest.approx(reference, abs=1e-9)
    assert result.parameters["weights"] == weights and result.n_synthetic == 14
    # three reviewers: the mean over pairs of the records both rated (Light's kappa), each pair as scikit-learn has it
    three = by_name(agreement_results(annotation_set(FIXED), n_bootstrap=0, weights=weights))["human.cohen_kappa.quality"]
    pairs = []
    for a, b in ((0, 1), (0, 2), (1, 2)):
        both = np.isfinite(FIXED[:, a]) & np.isfinite(FIXED[:, b])
        pairs.append(cohen_kappa_score(FIXED[both, a].astype(int), FIXED[both, b].astype(int), weights=weights))
    assert three.value == pytest.approx(np.mean(pairs), abs=1e-9)
    assert [p["kappa"] for p in three.details["pairs"]] == pytest.approx(pairs, abs=1e-9)
    assert [p["items"] for p in three.details["pairs"]] == [14, 11, 11]


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_formula_equals_scikit_learn_on_random_pairs(weights) -> None:
    """Including scales whose middle categories nobody used (scikit-learn's `labels` keeps the whole scale)."""
    generator = np.random.default_rng(7)
    for trial in range(25):
        n = int(generator.integers(5, 40))
        scale = (0, 1, 2, 3, 4, 5)
        a = generator.choice([0, 1, 4, 5] if trial % 3 == 0 else scale, n)
        b = np.clip(a + generator.integers(-1, 2, n), 0, 5)
        expected = cohen_kappa_score(a, b, labels=list(scale), weights=weights)
        assert cohen_kappa(a.astype(float), b.astype(float), scale, weights) == pytest.approx(expected, abs=1e-9)


def test_nominal_scale_is_unweighted() -> None:
    nominal = Criterion(name="kind", question="Kind?", scores=(1, 2, 3), labels=("a", "b", "c"), ordinal=False)
    matrix = np.array([[1, 1], [2, 2], [3, 1], [2, 2], [1, 3], [3, 3], [2, 1], [1, 1]], dtype=float)
    results = by_name(agreement_results(annotation_set(matrix, nominal), n_bootstrap=0))
    assert results["human.cohen_kappa.kind"].value == pytest.approx(
        cohen_kappa_score(matrix[:, 0].astype(int), matrix[:, 1].astype(int)), abs=1e-9)
    assert results["human.krippendorff_alpha.kind"].value == pytest.approx(
        krippendorff.alpha(reliability_data=matrix.T, level_of_measurement="nominal"), abs=1e-9)
    assert results["human.mean_score.kind"].status == "not_applicable"


def test_fleiss_kappa_equals_statsmodels_and_the_published_example() -> None:
    complete = FIXED[np.isfinite(FIXED).all(axis=1)]
    result = by_name(agreement_results(annotation_set(FIXED), n_bootstrap=0))["human.fleiss_kappa.quality"]
    table, _ = aggregate_raters(complete.astype(int))
    assert result.value == pytest.approx(fleiss_kappa(table, method="fleiss"), abs=1e-9)
    assert result.details == {"raters_per_record": 3, "records_used": 11, "records_left_out": 3}
    assert any("3 others left out" in w for w in result.warnings)
    # Fleiss (1971) as Wikipedia works it: 10 subjects, 14 raters, 5 categories, kappa = 0.210
    counts = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                       [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])
    matrix = np.array([np.repeat(np.arange(1, 6), row) for row in counts], dtype=float)
    assert fleiss(matrix, (1, 2, 3, 4, 5)) == pytest.approx(fleiss_kappa(counts), abs=1e-9)
    assert fleiss(matrix, (1, 2, 3, 4, 5)) == pytest.approx(0.210, abs=5e-4)


def test_krippendorff_alpha_with_missing_ratings_equals_the_package() -> None:
    result = by_name(agreement_results(annotation_set(FIXED), n_bootstrap=0))["human.krippendorff_alpha.quality"]
    assert result.value == pytest.approx(krippendorff.alpha(reliability_data=FIXED.T, level_of_measurement="ordinal"),
                                         abs=1e-9)
    assert result.details["missing_ratings"] == 3 and result.parameters["level_of_measurement"] == "ordinal"
    # the package's documented example (3 coders, 15 units, missing values): nominal alpha 0.691358
    data = np.array([[NAN, NAN, NAN, NAN, NAN, 3, 4, 1, 2, 1, 1, 3, 3, NAN, 3],
                     [1, NAN, 2, 1, 3, 3, 4, 3, NAN, NAN, NAN, NAN, NAN, NAN, NAN],
                     [NAN, NAN, 2, 1, 3, 4, 4, NAN, 2, 1, 1, 3, 3, NAN, 4]]).T
    nominal = Criterion(name="code", question="Code?", scores=(1, 2, 3, 4), labels=("a", "b", "c", "d"), ordinal=False)
    rows = annotation_set(data, nominal)
    assert len(rows.annotations) == 27  # the two units nobody coded hold no annotation
    alpha = by_name(agreement_results(rows, n_bootstrap=0))["human.krippendorff_alpha.code"].value
    assert alpha == pytest.approx(0.691358, abs=1e-6)


def test_judge_human_correlations_equal_scipy_and_intervals_cover_them() -> None:
    judge = np.array([3.6, 2.9, 2.2, 1.1, 3.9, 1.7, 3.2, 1.4, 3.7, 1.9, 2.6, 1.0, 3.8, 2.8])
    scores = tuple(JudgeScore(record_id=f"r{i:02d}", criterion="quality", score=s, judge=JUDGE) for i, s in enumerate(judge))
    results = by_name(agreement_results(annotation_set(FIXED), scores, n_bootstrap=200, seed=4))
    human = np.nanmean(FIXED, axis=1)
    rho, tau = results["human.judge_spearman.quality"], results["human.judge_kendall.quality"]
    assert rho.value == pytest.approx(spearmanr(judge, human).statistic, abs=1e-9)
    assert tau.value == pytest.approx(kendalltau(judge, human).statistic, abs=1e-9)
    assert rho.parameters["judge"] == "tiny-judge@1 (fake)" and rho.n_synthetic == 14
    for result in results.values():
        assert result.family.value == "human" and result.ok, (result.name, result.error)
        assert result.ci is not None and result.ci.method == "percentile bootstrap over items (records), B=200"
        assert result.ci.low <= result.value <= result.ci.high, result.name
    again = by_name(agreement_results(annotation_set(FIXED), scores, n_bootstrap=200, seed=4))
    assert again["human.krippendorff_alpha.quality"].ci == results["human.krippendorff_alpha.quality"].ci  # seeded
    assert results["human.mean_score.quality"].value == pytest.approx(human.mean(), abs=1e-12)


def test_undefined_agreement_is_reported_not_zeroed() -> None:
    constant = np.full((5, 2), 3.0)  # everyone gave 3: kappa and alpha are 0/0
    results = by_name(agreement_results(annotation_set(constant), n_bootstrap=0))
    for name in ("human.cohen_kappa.quality", "human.fleiss_kappa.quality", "human.krippendorff_alpha.quality"):
        assert results[name].status == "not_applicable" and results[name].value is None, name
        assert "undefined" in results[name].error
    single = annotation_set(FIXED[:, :1])  # one reviewer: nothing to agree on
    for result in agreement_results(single, n_bootstrap=0):
        if "mean_score" not in result.name:
            assert result.status == "not_applicable" and result.error, result.name
