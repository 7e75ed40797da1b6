"""The result schema, failures reported with reasons, the suite, report.json / report.html, the CLI plugin."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from threadpoolctl import threadpool_limits

from biosynth.core import ConfigError, Group, InputDataError, default_registry, parse_recipe, run_recipe
from biosynth.eval import (
    ColumnKinds,
    Direction,
    EvaluationReport,
    Family,
    MetricResult,
    column_pair_trends,
    column_shapes,
    detection_auc,
    evaluate_tabular,
    range_coverage,
)
from biosynth.eval._tabular.detection import _features


def test_result_schema_refuses_silent_failures() -> None:
    with pytest.raises(ValidationError, match="status 'ok' but value"):
        MetricResult(name="x", family=Family.FIDELITY, value=float("nan"), direction=Direction.HIGHER)
    with pytest.raises(ValidationError, match="without the reason"):
        MetricResult(name="x", family=Family.FIDELITY, value=None, status="failed", direction=Direction.HIGHER)
    with pytest.raises(ValidationError, match="threat model"):
        MetricResult(name="x", family=Family.PRIVACY, value=0.5, direction=Direction.LOWER)
    ok = MetricResult(name="x", family=Family.FIDELITY, value=0.9, direction=Direction.HIGHER)
    with pytest.raises(ValidationError):
        ok.value = 0.1  # type: ignore[misc]


def test_constant_and_empty_columns_are_reported_not_zeroed(real_table, synthetic_table, metadata) -> None:
    synthetic = synthetic_table.copy()
    synthetic["bmi"] = 25.0  # constant synthetic column: SDMetrics' ConstantInputError for its correlations
    real = real_table.copy()
    real["visits"] = 3.0  # constant real column: range coverage undefined
    pairs = column_pair_trends(real, synthetic, metadata, n_bootstrap=0, real_correlation_threshold=0,
                               real_association_threshold=0)
    assert pairs.ok
    bmi_rows = [r for r in pairs.details["pairs"] if "bmi" in (r["column_1"], r["column_2"])
                and r["metric"] == "CorrelationSimilarity"]
    assert bmi_rows and all(r["score"] is None and r["status"] == "failed" and "constant" in r["reason"]
                            for r in bmi_rows)
    coverage = range_coverage(real, synthetic, metadata, n_bootstrap=0)
    visits = next(r for r in coverage.details["columns"] if r["column"] == "visits")
    assert visits["score"] is None and visits["status"] == "not_applicable" and "constant" in visits["reason"]
    # the average is over the defined columns only
    defined = [r["score"] for r in coverage.details["columns"] if r["score"] is not None]
    assert coverage.value == pytest.approx(np.mean(defined))


def test_a_metric_with_nothing_to_score_says_why(real_table, synthetic_table) -> None:
    only_numbers = {"columns": {"age": {"sdtype": "numerical"}}}
    result = column_pair_trends(real_table, synthetic_table, only_numbers, n_bootstrap=0)
    assert result.status == "not_applicable" and result.value is None and "no pairs" in result.error


def test_wrong_columns_and_parameters_are_user_errors(real_table, synthetic_table, metadata) -> None:
    with pytest.raises(InputDataError, match="lacks column"):
        column_shapes(real_table, synthetic_table.drop(columns=["age"]), metadata)
    with pytest.raises(ConfigError, match="n_bootstrap"):
        column_shapes(real_table, synthetic_table, metadata, n_bootstrap=5)


def test_intervals_are_seeded_and_cover_sampling(real_table, synthetic_table, metadata) -> None:
    a = column_shapes(real_table, synthetic_table, metadata, n_bootstrap=50, seed=4)
    b = column_shapes(real_table, synthetic_table, metadata, n_bootstrap=50, seed=4)
    c = column_shapes(real_table, synthetic_table, metadata, n_bootstrap=50, seed=5)
    assert a.ci == b.ci and a.ci != c.ci
    assert a.ci.low < a.value < a.ci.high and a.n_real == 1500 and a.n_synthetic == 1200
    assert all(r["ci"][0] <= r["ci"][1] for r in a.details["columns"])


def test_small_samples_are_warned(real_table, synthetic_table, metadata) -> None:
    result = column_shapes(real_table.iloc[:40], synthetic_table.iloc[:30], metadata, n_bootstrap=0)
    assert result.ok and any("small sample" in w for w in result.warnings)


def test_detection_auc_equals_scikit_learn_cross_validation(real_table, synthetic_table, metadata, make_table) -> None:
    result = detection_auc(real_table, synthetic_table, metadata, n_bootstrap=0, seed=2)
    numbers = ["age", "bmi", "sbp", "visits"]
    x = pd.concat([real_table[numbers], synthetic_table[numbers]], ignore_index=True).to_numpy()
    # the reference: the same classifier and folds on the numerical columns plus category codes
    features, categorical = _features(real_table, synthetic_table, ColumnKinds.coerce(metadata, real_table))
    assert np.array_equal(features[:, :4], x, equal_nan=True)
    y = np.r_[np.zeros(len(real_table)), np.ones(len(synthetic_table))]
    with threadpool_limits(limits=1, user_api="openmp"):  # as detection_auc's default; shared CI machines
        scores = cross_val_predict(HistGradientBoostingClassifier(categorical_features=categorical, random_state=2),
                                   features, y, cv=StratifiedKFold(5, shuffle=True, random_state=2),
                                   method="predict_proba")[:, 1]
    assert result.value == pytest.approx(roc_auc_score(y, scores), abs=1e-12)
    same = detection_auc(real_table, make_table(1200, seed=99), metadata, n_bootstrap=0)
    assert abs(same.value - 0.5) < 0.06 < result.value - 0.5


def test_metrics_are_registered_entry_points() -> None:
    registry = default_registry()
    names = registry.names(Group.METRICS)
    for name in ("tabular.column_shapes", "tabular.column_pair_trends", "tabular.dcr", "tabular.detection_auc",
                 "tabular.membership_inference_distance", "tabular.exact_copy_rate", "tabular.membership_inference_density",
                 "tabular.attribute_inference_nn", "tabular.attribute_inference_cap", "visits.halo_r2",
                 "visits.visit_count_distribution", "visits.codes_per_visit_distribution", "text.perplexity",
                 "text.label_consistency"):
        assert name in names
    assert registry.get(Group.METRICS, "tabular.column_shapes") is column_shapes
    assert "evaluate" in registry.names(Group.CLI)


def test_suite_writes_json_and_self_contained_html(real_table, synthetic_table, metadata, tmp_path) -> None:
    holdout = real_table.sample(frac=0.3, random_state=0)
    report = evaluate_tabular(real_table.drop(holdout.index), synthetic_table, holdout.reset_index(drop=True),
                              metadata, seed=1, n_bootstrap=30)
    path = report.write(tmp_path)
    data = json.loads(path.read_text())
    assert "NaN" not in path.read_text()
    again = EvaluationReport.model_validate(data)
    assert [r.name for r in again.results] == [r.name for r in report.results] and len(report.results) == 12
    assert all(r.status == "ok" for r in again.results), [(r.name, r.error) for r in again.results]
    html = (tmp_path / "report.html").read_text()
    namespaces_removed = re.sub(r'xmlns(:\w+)?="http://www\.w3\.org/[^"]*"', "", html)  # names, never fetched
    assert html.count("<svg") >= 5 and "http" not in namespaces_removed
    assert "<script" not in html and "Threat model" in html


def _biosynth() -> str:
    return str(Path(sysconfig.get_path("scripts")) / "biosynth")


@pytest.mark.slow
def test_cli_evaluates_a_dataset(tmp_path) -> None:
    recipe = parse_recipe({"name": "cli-eval", "seed": 7, "steps": [{
        "name": "patients", "generator": "attributes", "count": 150,
        "params": {"table": "patients", "attributes": {
            "age": {"type": "integer", "low": 18, "high": 95},
            "sex": ["female", "male"],
            "systolic_bp": {"type": "normal", "mean": 132, "sd": 18, "low": 80, "high": 220, "decimals": 0}}}}]})
    run_recipe(recipe, tmp_path / "ds")
    g = np.random.default_rng(0)
    real = pd.DataFrame({"age": g.integers(18, 96, 200), "sex": g.choice(["female", "male"], 200),
                         "systolic_bp": np.round(np.clip(g.normal(132, 18, 200), 80, 220))})
    real.iloc[:150].to_csv(tmp_path / "real.csv", index=False)
    real.iloc[150:].to_parquet(tmp_path / "holdout.parquet")
    env = {**os.environ, "CI": "1"}
    done = subprocess.run([_biosynth(), "evaluate", str(tmp_path / "ds"), "--real", str(tmp_path / "real.csv"),
                           "--holdout", str(tmp_path / "holdout.parquet"), "--out", str(tmp_path / "report"),
                           "--step", "patients", "--bootstrap", "20", "--target", "sex", "--sensitive", "sex", "--sensitive",
                           "age"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    report = EvaluationReport.model_validate_json((tmp_path / "report" / "report.json").read_text())
    assert report.n_synthetic == 150 and report.n_real == 150 and report.n_holdout == 50
    assert report.provenance is not None and report.provenance["checklist"]
    assert "column_shapes" in done.stdout and "utility_tstr" in done.stdout
    assert report.result("utility_tstr").ok and report.result("utility_tstr").details["target"] == "sex"
    assert report.result("attribute_inference_nn").parameters["sensitive"] == ["sex", "age"]
    assert report.result("membership_inference_density").ok
    # errors are biosynth errors: one paragraph, exit 2
    pd.DataFrame({"age": [1, 2]}).to_csv(tmp_path / "narrow.csv", index=False)
    bad = subprocess.run([_biosynth(), "evaluate", str(tmp_path / "ds"), "--real", str(tmp_path / "narrow.csv"),
                          "--out", str(tmp_path / "r2")], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "lacks the synthetic column" in bad.stderr and "Traceback" not in bad.stderr
    missing = subprocess.run([_biosynth(), "evaluate", str(tmp_path / "ds"), "--real", str(tmp_path / "nope.csv"),
                              "--out", str(tmp_path / "r3")], capture_output=True, text=True, env=env)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    # --out is checked before any metric runs: a file, or a folder holding someone else's report.json, is refused
    # and left byte-identical; an earlier biosynth report in the folder is replaced
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "report.json").write_text('{"mine": true}')
    for out, said in (("notes.txt", "is a file"), ("theirs", "biosynth did not write")):
        refused = subprocess.run([_biosynth(), "evaluate", str(tmp_path / "ds"), "--real", str(tmp_path / "real.csv"),
                                  "--out", str(tmp_path / out), "--bootstrap", "0"], capture_output=True, text=True,
                                 env=env)
        assert refused.returncode == 2 and said in refused.stderr and "Traceback" not in refused.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert (tmp_path / "theirs" / "report.json").read_text() == '{"mine": true}'
    again = subprocess.run([_biosynth(), "evaluate", str(tmp_path / "ds"), "--real", str(tmp_path / "real.csv"),
                            "--out", str(tmp_path / "report"), "--bootstrap", "0"], capture_output=True, text=True,
                           env=env)
    assert again.returncode == 0, again.stderr
    assert EvaluationReport.model_validate_json((tmp_path / "report" / "report.json").read_text()).n_holdout is None
    assert sys.executable  # the console script belongs to this interpreter's environment


def test_a_metric_that_raises_is_reported_failed_with_its_reason() -> None:
    from biosynth.eval._measure import run_metric

    def broken() -> None:
        return 1 / 0  # type: ignore[return-value]

    result = run_metric(name="broken", family=Family.FIDELITY, direction=Direction.HIGHER, compute=broken,
                        n_real=10, n_synthetic=10)
    assert result.status == "failed" and result.value is None and result.error.startswith("ZeroDivisionError")


def test_suite_without_holdout_keeps_every_metric_with_a_reason(real_table, synthetic_table, metadata) -> None:
    report = evaluate_tabular(real_table, synthetic_table, None, metadata, n_bootstrap=0)
    assert len(report.results) == 12 and report.n_holdout is None
    for name in ("dcr", "membership_inference_distance", "membership_inference_density", "attribute_inference_nn",
                 "attribute_inference_cap"):
        result = report.result(name)
        assert result.status == "not_applicable" and "holdout" in result.error and result.threat_model
    assert report.result("exact_copy_rate").ok and report.result("column_shapes").ci is None
    json.loads(report.to_json())
