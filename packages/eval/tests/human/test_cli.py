"""`biosynth review export | import | agreement` end to end, the report it joins, pseudonyms, and bad inputs (exit 2,
nothing already written lost)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from biosynth.core import BiosynthError, Group, ModelRef, default_registry
from biosynth.eval import EvaluationReport
from biosynth.eval._human.cli import app
from biosynth.eval._human.pseudonyms import Pseudonymiser
from biosynth.eval._result import Direction, Family, MetricResult

JUDGE = ModelRef(name="judge-model", backend="llamacpp", revision="r1").model_dump(mode="json")
CRITERIA = {"criteria": [{"name": "fluency", "question": "Fluent?", "scores": [1, 2, 3, 4, 5]}]}


def invoke(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def refused(result, match: str) -> None:
    """The CLI's error: a BiosynthError (printed without traceback, exit 2, by `biosynth`) naming the problem."""
    assert isinstance(result.exception, BiosynthError), result.output
    assert result.exception.exit_code == 2 and match in str(result.exception), str(result.exception)


def ls_export(tasks: list[dict], ratings: dict[str, list[int]]) -> list[dict]:
    return [{**t, "id": i, "annotations": [
        {"id": 100 * i + u, "completed_by": {"id": u, "email": f"user{u}@example.org"}, "was_cancelled": False,
         "result": [{"from_name": "fluency", "to_name": "text", "type": "rating", "value": {"rating": r}}]}
        for u, r in enumerate(ratings[t["data"]["record_id"]], start=1)]} for i, t in enumerate(tasks)]


@pytest.fixture(scope="module")
def cli_run(notes_dataset, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("review-cli")
    (root / "criteria.json").write_text(json.dumps(CRITERIA))
    judge = [{"record_id": f"notes-{i:06d}", "criterion": "fluency", "score": 1 + (i % 5) * 0.9, "judge": JUDGE}
             for i in range(12)]
    (root / "judge.jsonl").write_text("\n".join(json.dumps(row) for row in judge))
    exported = invoke("export", notes_dataset, "--to", "label-studio", "--out", root / "review", "--step", "notes",
                      "--criteria", root / "criteria.json", "--judge-results", root / "judge.jsonl")
    assert exported.exit_code == 0, exported.output
    tasks = json.loads((root / "review" / "tasks.json").read_text())
    ratings = {f"notes-{i:06d}": [min(5, 1 + i % 5 + d) for d in (0, i % 2, 0)] for i in range(12)}
    (root / "export.json").write_text(json.dumps(ls_export(tasks, ratings)))
    imported = invoke("import", notes_dataset, root / "export.json", "--out", root / "review")
    assert imported.exit_code == 0, imported.output
    report = EvaluationReport(modality="text", created_at="2026-12-07T00:00:00+00:00", seed=0, n_real=10,
                              n_synthetic=12, n_holdout=None, columns={}, software={"biosynth-eval": "0.1.0"},
                              results=(MetricResult(name="text.distinct_1", family=Family.DIVERSITY, modality="text",
                                                    value=0.5, direction=Direction.HIGHER),))
    report.write(root / "report")  # as `biosynth evaluate` leaves it
    agreement = invoke("agreement", root / "review", "--out", root / "report", "--bootstrap", "50", "--weights", "linear")
    assert agreement.exit_code == 0, agreement.output
    return {"root": root, "dataset": notes_dataset, "tasks": tasks, "ratings": ratings, "export": exported,
            "import": imported, "agreement": agreement}


def test_registered_as_the_review_subcommand() -> None:
    assert default_registry().get(Group.CLI, "review") is app


def test_export_import_agreement_into_the_evaluation_report(cli_run) -> None:
    root = cli_run["root"]
    assert "12 records, 1 criteria, 12 judge scores" in cli_run["export"].output
    assert cli_run["tasks"][3]["predictions"][0]["result"][0]["value"] == {"rating": 4}  # judge 3.7 -> 4
    assert "36 ratings by 3 reviewers on 12 records" in cli_run["import"].output
    report = EvaluationReport.model_validate_json((root / "report" / "report.json").read_text())
    names = [r.name for r in report.results]
    assert names == ["text.distinct_1", "human.mean_score.fluency", "human.cohen_kappa.fluency",
                     "human.fleiss_kappa.fluency", "human.krippendorff_alpha.fluency", "human.judge_spearman.fluency",
                     "human.judge_kendall.fluency"]
    assert report.result("human.cohen_kappa.fluency").parameters["weights"] == "linear"
    assert report.result("human.judge_spearman.fluency").value > 0.9  # the judge tracks the first reviewer's scale
    assert report.software["krippendorff"] != "not installed" and report.software["statsmodels"] != "not installed"
    html = (root / "report" / "report.html").read_text()
    assert "<section id='human'>" in html and "Krippendorff&#x27;s alpha" in html and "judge-model@r1" in html
    assert "example.org" not in html and "example.org" not in (root / "review" / "annotations.json").read_text()
    again = invoke("agreement", root / "review", "--out", root / "report", "--bootstrap", "0")
    assert again.exit_code == 0, again.output
    rerun = EvaluationReport.model_validate_json((root / "report" / "report.json").read_text())
    assert [r.name for r in rerun.results] == names and rerun.result("human.fleiss_kappa.fluency").ci is None


def test_pseudonyms_are_keyed_and_stable(cli_run, monkeypatch) -> None:
    one, other = Pseudonymiser(b"k" * 32, "test"), Pseudonymiser(b"j" * 32, "test")
    assert one("label-studio:Ann@Example.org") == one(" label-studio:ann@example.org") != other("label-studio:ann@example.org")
    assert one("label-studio:user:1").startswith("reviewer-") and len(one("label-studio:user:1")) == 21
    root = cli_run["root"]
    before = (root / "review" / "annotations.json").read_text()
    monkeypatch.setenv("BIOSYNTH_REVIEWER_KEY", "another key of 32 characters....")
    result = invoke("import", cli_run["dataset"], root / "export.json", "--out", root / "review")
    refused(result, "would get two pseudonyms")
    assert (root / "review" / "annotations.json").read_text() == before


def test_bad_exports_are_refused_and_nothing_is_lost(cli_run, tmp_path) -> None:
    root, dataset, tasks = cli_run["root"], cli_run["dataset"], cli_run["tasks"]
    before = (root / "review" / "annotations.json").read_text()
    cases = {
        "unknown.json": (ls_export([{"data": {"record_id": "notes-999999"}}], {"notes-999999": [3]}),
                         "record id 'notes-999999' was not sent for review"),
        "scale.json": (ls_export(tasks[:1], {tasks[0]["data"]["record_id"]: [6]}), "rating 6 is outside the scale 1..5"),
        "no-id.json": ([{"data": {"text": "x"}, "annotations": []}], "data.record_id is missing"),
        "no-user.json": ([{"data": {"record_id": "notes-000000"}, "annotations": [{"result": []}]}],
                         "completed_by is missing"),
        "object.json": ({"tasks": []}, "expected a JSON list of tasks"),
    }
    for name, (document, match) in cases.items():
        (tmp_path / name).write_text(json.dumps(document))
        refused(invoke("import", dataset, tmp_path / name, "--out", root / "review"), match)
    (tmp_path / "broken.json").write_text('[{"data": ')
    refused(invoke("import", dataset, tmp_path / "broken.json", "--out", root / "review"), "is not valid JSON")
    (tmp_path / "argilla.json").write_text(json.dumps([{"id": "notes-000000", "responses": {
        "fluency": [{"value": 9, "user_id": "u1"}]}}]))
    refused(invoke("import", dataset, tmp_path / "argilla.json", "--out", root / "review"), "rating 9 is outside the scale")
    assert (root / "review" / "annotations.json").read_text() == before
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not biosynth's")
    refused(invoke("export", dataset, "--to", "argilla", "--out", tmp_path / "mine"), "biosynth did not write it")
    refused(invoke("export", dataset, "--to", "argilla", "--out", root / "review"), "holds imported annotations")
    refused(invoke("export", dataset, "--to", "prodigy", "--out", tmp_path / "new"), "--to must be label-studio or argilla")
    (tmp_path / "criteria.json").write_text(json.dumps({"criteria": [{"name": "x y", "question": "?"}]}))
    refused(invoke("export", dataset, "--to", "argilla", "--out", tmp_path / "new", "--criteria", tmp_path / "criteria.json"),
            "criteria[0].name: String should match pattern")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "not biosynth's" and not (tmp_path / "new").exists()
    export_review = invoke("export", dataset, "--to", "label-studio", "--out", tmp_path / "fresh", "--step", "notes")
    assert export_review.exit_code == 0, export_review.output
    refused(invoke("import", dataset, tmp_path / "unknown.json", "--out", tmp_path / "fresh"), "was not sent for review")
    assert sorted(p.name for p in (tmp_path / "fresh").iterdir()) == ["label_config.xml", "review.json", "tasks.json"]


def test_biosynth_exits_2_without_a_traceback(cli_run, tmp_path) -> None:
    root = cli_run["root"]
    (tmp_path / "unknown.json").write_text(json.dumps(ls_export([{"data": {"record_id": "x-1"}}], {"x-1": [2]})))
    done = subprocess.run([sys.executable, "-c", "from biosynth.core.cli import main; main()", "review", "import",
                           str(cli_run["dataset"]), str(tmp_path / "unknown.json"), "--out", str(root / "review")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "error:" in done.stderr and "'x-1' was not sent for review" in done.stderr and "Traceback" not in done.stderr


def test_judge_scores_from_a_judge_report(tmp_path) -> None:
    """The judges' report rows (family 'judge', the judge in parameters) are the review's judge scores."""
    from biosynth.eval._human.judge_scores import read_judge_scores

    rows = [{"record_id": "notes-000001", "criterion": "asclepius", "score": 3.2, "confidence": 0.8,
             "rationale_sha256": "c" * 64}]
    judged = MetricResult(name="judge.asclepius", family=Family.JUDGE, modality="text", value=3.2,
                          direction=Direction.HIGHER, parameters={"judge": JUDGE}, details={"scores": rows})
    pairwise = MetricResult(name="judge.pairwise", family=Family.JUDGE, modality="text", value=0.5,
                            direction=Direction.HIGHER, details={"scores": [0.5, 0.5]})
    EvaluationReport(modality="text", created_at="2026-12-07T00:00:00+00:00", seed=0, n_real=0, n_synthetic=1,
                     n_holdout=None, columns={}, software={}, results=(judged, pairwise)).write(tmp_path, html_report=False)
    (score,) = read_judge_scores(tmp_path / "report.json")
    assert (score.record_id, score.criterion, score.score, score.confidence) == ("notes-000001", "asclepius", 3.2, 0.8)
    assert score.judge == ModelRef.model_validate(JUDGE)
    (tmp_path / "bad.jsonl").write_text('{"record_id": "a", "criterion": "asclepius", "score": "high"}\n')
    with pytest.raises(BiosynthError, match="line 1"):
        read_judge_scores(tmp_path / "bad.jsonl")


def test_criteria_from_a_judge_rubric(tmp_path) -> None:
    """A judge's rubric (a shipped name, or a file in the rubric's shape) gives the review question of that name and
    scale, so the judge's scores meet the reviewers' ratings."""
    from biosynth.eval._human.criteria import load_criteria

    (shipped,) = load_criteria(Path("asclepius"))
    assert (shipped.name, shipped.scores, shipped.labels) == ("asclepius", (1, 2, 3, 4),
                                                              ("Unacceptable", "Poor", "Satisfactory", "Excellent"))
    (tmp_path / "rubric.yaml").write_text("id: judge/brevity/v1\nname: brevity\ncriterion: Is the note concise?\n"
                                          "steps: [Read it.]\nlevels:\n  - {value: 0, label: wordy, description: d}\n"
                                          "  - {value: 1, label: concise, description: d}\n")
    (own,) = load_criteria(tmp_path / "rubric.yaml")
    assert (own.name, own.question, own.scores, own.labels) == ("brevity", "Is the note concise?", (0, 1),
                                                                ("wordy", "concise"))
    with pytest.raises(BiosynthError, match="neither a file nor a shipped rubric"):
        load_criteria(Path("no_such_rubric"))
    (tmp_path / "text.json").write_text(json.dumps([{"name": "text", "question": "?"}]))
    with pytest.raises(BiosynthError, match="reserved for the record's fields"):
        load_criteria(tmp_path / "text.json")


def test_judge_scores_off_the_scale_and_another_datasets_report_are_refused(cli_run, tmp_path) -> None:
    root, dataset = cli_run["root"], cli_run["dataset"]
    (tmp_path / "judge.jsonl").write_text(json.dumps({"record_id": "notes-000001", "criterion": "fluency",
                                                      "score": 9.0, "judge": JUDGE}))
    refused(invoke("export", dataset, "--to", "label-studio", "--out", tmp_path / "r", "--step", "notes", "--criteria",
                   root / "criteria.json", "--judge-results", tmp_path / "judge.jsonl"),
            "scored 9.0 on 'fluency' (an integer among [1, 2, 3, 4, 5])")
    other = EvaluationReport(modality="text", created_at="2026-12-07T00:00:00+00:00", seed=0, n_real=1, n_synthetic=1,
                             n_holdout=None, columns={}, software={}, results=(),
                             provenance={"recipe": {"name": "other", "sha256": "f" * 64, "seed": 1}})
    other.write(tmp_path / "other-report")
    refused(invoke("agreement", root / "review", "--out", tmp_path / "other-report"), "holds the report of another dataset")


def test_the_judges_report_feeds_the_review(cli_run, tmp_path) -> None:
    """`biosynth judge` (a fake judge backend) writes a report; its scores become Label Studio predictions, and the
    agreement joins that report beside the judge's results."""
    from biosynth.eval._judge.cli import app as judge_app

    dataset = cli_run["dataset"]
    judged = CliRunner().invoke(judge_app, [str(dataset), "--judge", "fake", "--judge-param",
                                            'responses=["ok [RESULT] 3", "poor [RESULT] 2", "great [RESULT] 4"]',
                                            "--step", "notes", "--method", "prometheus", "--out", str(tmp_path / "judged")])
    assert judged.exit_code == 0, judged.output
    exported = invoke("export", dataset, "--to", "label-studio", "--out", tmp_path / "review", "--step", "notes",
                      "--criteria", "asclepius", "--judge-results", tmp_path / "judged" / "report.json")
    assert exported.exit_code == 0, exported.output
    tasks = json.loads((tmp_path / "review" / "tasks.json").read_text())
    shown = [t["predictions"][0]["result"][0]["value"]["choices"][0] for t in tasks]
    assert len(shown) == 12 and set(shown) <= {"Poor", "Satisfactory", "Excellent"}
    assert {t["predictions"][0]["model_version"] for t in tasks} == {"fake-llm@1 (fake)"}
