"""`biosynth judge` end to end: grading into a new report and into an existing evaluation report, pairwise with
--against, and bad inputs (exit 2, nothing already written lost)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from biosynth.core import BiosynthError, Runner, parse_recipe
from biosynth.core._progress import LogProgress
from biosynth.eval import EvaluationReport
from biosynth.eval._judge.cli import app
from biosynth.eval._result import Direction, Family, MetricResult

ALWAYS_3 = 'responses=["Feedback: clear and complete. [RESULT] 3"]'
ALWAYS_A = 'responses=["Feedback: the first is better. [RESULT] A"]'


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def refused(result, match: str) -> None:
    assert isinstance(result.exception, BiosynthError), result.output
    assert result.exception.exit_code == 2 and match in str(result.exception), str(result.exception)


def notes_dataset(root: Path, name: str, template: str) -> Path:
    recipe = parse_recipe({"name": name, "seed": 3, "steps": [
        {"name": "patients", "generator": "attributes", "count": 5,
         "params": {"attributes": {"age": {"type": "integer", "low": 20, "high": 90}}}},
        {"name": "notes", "generator": "template", "from": "patients",
         "params": {"template": template, "document_type": "discharge summary"}}]})
    Runner(recipe, root / name, progress=LogProgress()).run()
    return root / name


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("judge-cli")
    return (notes_dataset(root, "short", "Patient aged $age discharged."),
            notes_dataset(root, "long", "Patient aged $age admitted with chest pain, troponin negative, discharged home."))


def test_judge_writes_a_report_with_the_rubric_scores_and_bias_checks(datasets, tmp_path: Path) -> None:
    short, _ = datasets
    result = invoke(short, "--judge", "fake", "--judge-param", ALWAYS_3, "--rubric", "asclepius", "--step", "notes",
                    "--out", tmp_path / "report", "--bootstrap", "0")
    assert result.exit_code == 0, result.output
    report = EvaluationReport.model_validate_json((tmp_path / "report" / "report.json").read_text())
    assert report.modality == "text" and report.n_synthetic == 5
    main = report.result("judge.asclepius")
    assert main.family is Family.JUDGE and main.value == 3.0 and main.details["methods"] == {"prometheus": 5}
    assert [row["record_id"] for row in main.details["scores"]] == [f"notes-{i:06d}" for i in range(5)]
    assert main.parameters["judge"]["backend"] == "fake"
    assert report.result("judge.length_bias").status == "not_applicable"  # every score is 3: no correlation
    assert report.result("judge.self_preference").value == 0.0
    # the rows human review reads (biosynth review export --judge-results report.json)
    from biosynth.eval._human.judge_scores import read_judge_scores

    rows = read_judge_scores(tmp_path / "report" / "report.json")
    assert [(r.record_id, r.criterion, r.score, r.judge.backend) for r in rows] == [
        (f"notes-{i:06d}", "asclepius", 3.0, "fake") for i in range(5)]
    page = (tmp_path / "report" / "report.html").read_text()
    assert "<section id='judge'>" in page and "judge/asclepius/v1" in page and "judge.asclepius" in page


def test_judge_results_join_an_existing_evaluation_report_and_replace_earlier_judge_results(datasets,
                                                                                          tmp_path: Path) -> None:
    short, _ = datasets
    distinct = MetricResult(name="text.distinct_2", family=Family.DIVERSITY, modality="text", value=0.5,
                            direction=Direction.HIGHER)
    EvaluationReport(modality="text", created_at="2026-01-01T00:00:00+00:00", seed=0, n_real=5, n_synthetic=5,
                     n_holdout=None, columns={}, software={}, results=(distinct,)).write(tmp_path / "report")
    for _ in range(2):
        result = invoke(short, "--judge", "fake", "--judge-param", ALWAYS_3, "--step", "notes", "--out",
                        tmp_path / "report", "--bootstrap", "0")
        assert result.exit_code == 0, result.output
    report = EvaluationReport.model_validate_json((tmp_path / "report" / "report.json").read_text())
    names = [r.name for r in report.results]
    assert names[0] == "text.distinct_2" and names.count("judge.asclepius") == 1 and report.n_real == 5


def test_pairwise_with_against_reports_the_position_bias_of_a_judge_that_always_says_a(datasets,
                                                                                        tmp_path: Path) -> None:
    short, long = datasets
    result = invoke(short, "--against", long, "--step", "notes", "--against-step", "notes", "--judge", "fake",
                    "--judge-param", ALWAYS_A, "--out", tmp_path / "pairs", "--bootstrap", "0")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "pairs" / "report.json").read_text())
    by_name = {r["name"]: r for r in report["results"]}
    assert by_name["judge.position_bias"]["value"] == 1.0
    assert by_name["judge.pairwise_win_rate"]["status"] == "not_applicable"
    assert by_name["judge.pairwise_win_rate"]["parameters"]["labels"] == ["short", "long"]


def test_bad_inputs_are_refused_with_the_reason(datasets, tmp_path: Path) -> None:
    short, _ = datasets
    base = [short, "--judge", "fake", "--step", "notes", "--out", tmp_path / "r"]
    refused(invoke(*base, "--rubric", "nope"), "neither a shipped rubric")
    refused(invoke(*base, "--judge-param", "model"), "expected KEY=VALUE")
    refused(invoke(*base, "--method", "best"), "expected auto, g-eval or prometheus")
    refused(invoke(*base, "--against-step", "notes"), "--against-step needs --against")
    refused(invoke(short, "--judge", "fake", "--step", "patients", "--out", tmp_path / "r"), "no records a judge can read")
    refused(invoke(*base, "--judge", "no_such_backend"), "no_such_backend")
    refused(invoke(*base, "--rubric", "factual_consistency"), "no source record")  # template notes' parents are rows
    assert not (tmp_path / "r").exists()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "report.json").write_text('{"mine": true}')
    refused(invoke(short, "--judge", "fake", "--step", "notes", "--out", foreign), "biosynth did not write")
    assert (foreign / "report.json").read_text() == '{"mine": true}'

