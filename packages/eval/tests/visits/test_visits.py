"""Visit sequences: HALO's measures (moved from biosynth-tabular), the distributions, the suite and the CLI."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from scipy.stats import ks_2samp
from sklearn.metrics import r2_score
from typer.testing import CliRunner

from biosynth.core import (
    Draft,
    Generator,
    GeneratorParams,
    Group,
    InputDataError,
    Registry,
    SampleRequest,
    StepContext,
    Visit,
    VisitSequencePayload,
    parse_recipe,
    run_recipe,
)
from biosynth.eval import (
    HALO_MEASURES,
    EvaluationReport,
    code_statistics,
    codes_per_visit_distribution,
    evaluate_visits,
    halo_r2,
    halo_r2_all,
    visit_count_distribution,
)
from biosynth.eval._cli import app as evaluate_app

REAL = [[["a", "b"], ["b"]], [["a"], ["c"], ["a", "c"]], [["b", "c"]]]


def cohort(n: int, seed: int, codes: int = 12) -> list[list[list[str]]]:
    """Seeded patients whose next visit tends to repeat a code of the previous one (so pairs carry signal)."""
    g = random.Random(seed)
    weights = [1 / (k + 1) for k in range(codes)]
    out = []
    for _ in range(n):
        visits: list[list[str]] = []
        for _ in range(g.randint(1, 6)):
            visit = set(g.choices([f"c{k}" for k in range(codes)], weights, k=g.randint(1, 3)))
            if visits and g.random() < 0.5:
                visit.add(g.choice(visits[-1]))
            visits.append(sorted(visit))
        out.append(visits)
    return out


def test_statistics_follow_the_reference_definitions() -> None:
    stats = code_statistics(REAL)
    assert stats["code_prevalence_per_patient"] == {"a": 2 / 3, "b": 2 / 3, "c": 2 / 3}
    assert stats["code_prevalence_per_visit"] == {"a": 3 / 6, "b": 3 / 6, "c": 3 / 6}
    assert stats["within_visit_pairs_per_visit"] == {("a", "b"): 1 / 6, ("a", "c"): 1 / 6, ("b", "c"): 1 / 6}
    # 3 consecutive pairs of visits: (ab -> b), (a -> c), (c -> ac)
    assert stats["consecutive_visit_pairs_per_visit"] == {
        ("a", "b"): 1 / 3, ("b", "b"): 1 / 3, ("a", "c"): 1 / 3, ("c", "a"): 1 / 3, ("c", "c"): 1 / 3}
    assert stats["consecutive_visit_pairs_per_patient"][("c", "c")] == 1 / 3
    payloads = [VisitSequencePayload(visits=tuple(Visit(codes=tuple(v)) for v in p)) for p in REAL]
    assert code_statistics(payloads) == stats


def test_r2_equals_scikit_learn_over_the_union_of_keys() -> None:
    real, synthetic = cohort(150, 1), cohort(120, 2, codes=14)
    results = halo_r2_all(real, synthetic, n_bootstrap=0)
    real_stats, synthetic_stats = code_statistics(real), code_statistics(synthetic)
    for measure, result in zip(HALO_MEASURES, results, strict=True):
        keys = sorted(set(real_stats[measure]) | set(synthetic_stats[measure]), key=repr)
        expected = r2_score([real_stats[measure].get(k, 0.0) for k in keys],
                            [synthetic_stats[measure].get(k, 0.0) for k in keys])
        assert result.ok and result.value == pytest.approx(expected, abs=1e-12), measure
        assert result.name == f"visits.r2_{measure}" and result.n_real == 150 and result.n_synthetic == 120
    assert halo_r2(real, synthetic, "code_prevalence_per_visit", n_bootstrap=0).value == results[1].value


def test_identical_data_scores_one_and_other_data_less() -> None:
    real = cohort(200, 3)
    same = halo_r2_all(real, real, n_bootstrap=30, seed=1)
    assert all(r.ok and r.value == pytest.approx(1.0) for r in same)
    # another sample of the same population: R² below 1 from sampling noise alone; the basic bootstrap corrects
    # that downward bias, so its interval reaches 1 (the population value) and a warning says it left the estimate
    similar = halo_r2_all(real, cohort(200, 4), n_bootstrap=30, seed=1)
    assert all(r.ok and 0.9 < r.value < 1 and r.ci.high == 1.0 for r in similar)
    assert any("excludes the value" in w for r in similar for w in r.warnings)
    # a different population (half the codes): R² far below 1 and intervals that stay below 1
    different = halo_r2_all(real, cohort(200, 4, codes=6), n_bootstrap=30, seed=1)
    assert all(r.value < 0.8 and r.ci.low <= r.value <= r.ci.high < 1 for r in different)
    other = halo_r2_all(REAL, [[["a"]], [["a"], ["a"]], [["d", "a"]]], n_bootstrap=0)
    assert other[1].value is not None and other[1].value < 0.5
    # every real probability equal: R² is undefined, reported with the reason
    flat = halo_r2_all(REAL, REAL, n_bootstrap=0)
    assert flat[0].status == "not_applicable" and flat[0].value is None and "undefined" in flat[0].error


def test_empty_side_is_an_error() -> None:
    with pytest.raises(InputDataError, match="patients on both sides"):
        halo_r2_all(REAL, [])
    with pytest.raises(InputDataError, match="list of code strings"):
        halo_r2_all(REAL, [[["a", 3]]])


def test_distributions_equal_scipy_ks() -> None:
    real, synthetic = cohort(150, 4), cohort(100, 5)
    visits = visit_count_distribution(real, synthetic, n_bootstrap=50, seed=2)
    assert visits.value == pytest.approx(1 - ks_2samp([len(p) for p in real], [len(p) for p in synthetic]).statistic)
    codes = codes_per_visit_distribution(real, synthetic, n_bootstrap=50, seed=2)
    sizes = [[len(v) for p in side for v in p] for side in (real, synthetic)]
    assert codes.value == pytest.approx(1 - ks_2samp(*sizes).statistic)
    assert codes.details["real"]["mean"] == pytest.approx(np.mean(sizes[0])) and codes.ci.low <= codes.ci.high
    assert visits.modality == "ehr" and visits.n_real == 150


class _VisitParams(GeneratorParams):
    codes: int = 12


class _TinyVisits(Generator[_VisitParams]):
    """A test generator writing seeded visit sequences (the shape HALO writes)."""

    name = "tiny_visits"

    def _generate_one(self, request: SampleRequest, ctx: StepContext) -> Draft:
        (patient,) = cohort(1, request.seed, self.params.codes)
        return Draft(payload=VisitSequencePayload(visits=tuple(Visit(codes=tuple(v)) for v in patient),
                                                  vocabulary="test"))


def test_suite_and_cli_on_a_dataset_of_visit_sequences(tmp_path) -> None:
    registry = Registry()
    registry.register(Group.GENERATORS, "tiny_visits", _TinyVisits)
    recipe = parse_recipe({"name": "visits", "seed": 3, "steps": [
        {"name": "patients", "generator": "tiny_visits", "count": 60}]})
    run_recipe(recipe, tmp_path / "ds", registry=registry)
    real = tmp_path / "real.jsonl"
    lines = [json.dumps(p) for p in cohort(40, 9)[:20]]
    lines += [json.dumps({"visits": [{"codes": v} for v in p]}) for p in cohort(40, 9)[20:]]
    real.write_text("\n".join(lines) + "\n")
    done = CliRunner().invoke(evaluate_app, [str(tmp_path / "ds"), "--real", str(real), "--out", str(tmp_path / "r"),
                                             "--bootstrap", "20"])
    assert done.exit_code == 0, done.output
    report = EvaluationReport.model_validate_json((tmp_path / "r" / "report.json").read_text())
    assert report.modality == "ehr" and report.n_real == 40 and report.n_synthetic == 60
    assert [r.name for r in report.results] == [*(f"visits.r2_{m}" for m in HALO_MEASURES),
                                                "visits.visit_count_distribution",
                                                "visits.codes_per_visit_distribution"]
    assert all(r.ok for r in report.results), [(r.name, r.error) for r in report.results]
    html = (tmp_path / "r" / "report.html").read_text()
    assert "id='visits'" in html and html.count("<svg") >= 1 and report.provenance["checklist"]
    # the real side can also be another biosynth dataset folder; the same patients give R² 1
    again = CliRunner().invoke(evaluate_app, [str(tmp_path / "ds"), "--real", str(tmp_path / "ds"), "--out",
                                              str(tmp_path / "r2"), "--bootstrap", "0"])
    assert again.exit_code == 0, again.output
    same = EvaluationReport.model_validate_json((tmp_path / "r2" / "report.json").read_text())
    assert same.result("visits.r2_code_prevalence_per_patient").value == pytest.approx(1.0)
    wrong = CliRunner().invoke(evaluate_app, [str(tmp_path / "ds"), "--real", str(real), "--out", str(tmp_path / "r3"),
                                              "--target", "x"])
    assert wrong.exit_code != 0 and "do not apply to visit sequences" in str(wrong.exception)


def test_suite_in_python() -> None:
    report = evaluate_visits(cohort(50, 1), cohort(50, 2), seed=1, n_bootstrap=0)
    assert len(report.results) == 8 and report.modality == "ehr" and report.n_real == 50
