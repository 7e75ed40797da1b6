"""Cross-modal consistency on hand-made cases whose answers are known."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from biosynth.core import (
    Group,
    ImagePayload,
    MediaRef,
    Modality,
    Provenance,
    Record,
    Registry,
    TableRowPayload,
    TextPayload,
    Visit,
    VisitSequencePayload,
)
from biosynth.eval import evaluate_cases, image_note_consistency, note_ehr_consistency


def _prov(step: str) -> Provenance:
    return Provenance(generator=step, generator_version="0", seed=0, step=step)


def history(case: str, *visits: tuple[str, ...], vocabulary: str = "ICD-10-CM") -> Record:
    return Record(id=f"history-{case}", case_id=case, modality=Modality.EHR, provenance=_prov("history"),
                  payload=VisitSequencePayload(visits=tuple(Visit(codes=v) for v in visits), vocabulary=vocabulary))


def row(case: str) -> Record:
    return Record(id=f"admission-{case}", case_id=case, modality=Modality.TABULAR, parents=(f"history-{case}",),
                  payload=TableRowPayload(values={"x": 1}), provenance=_prov("admission"))


def note(case: str, text: str, parent: str | None = None, step: str = "note", name: str = "note") -> Record:
    return Record(id=f"{name}-{case}", case_id=case, modality=Modality.TEXT, payload=TextPayload(text=text),
                  parents=(parent or f"admission-{case}",), provenance=_prov(step))


def image(case: str, label: str | None, parent: str | None = None, name: str = "image") -> Record:
    media = MediaRef(path=f"media/image/{name}-{case}.png", sha256="0" * 64, mime_type="image/png", bytes=1)
    return Record(id=f"{name}-{case}", case_id=case, modality=Modality.IMAGE, parents=(parent or f"note-{case}",),
                  payload=ImagePayload(media=media, width=8, height=8),
                  labels={} if label is None else {"finding": label}, provenance=_prov("image"))


# case a: hypertension, type 2 diabetes and asthma in its history; the note leaves out the asthma.
# case b: hypertension and kidney disease; the note names both, and asthma, which b's history lacks.
CASE_A = [history("a", ("I10", "E11.9"), ("J45.20",)), row("a"),
          note("a", "Discharge summary. Known essential hypertension and type 2 diabetes mellitus; stable.")]
CASE_B = [history("b", ("I10",), ("N18.9",)), row("b"),
          note("b", "Admitted with ESSENTIAL HYPERTENSION, chronic kidney disease and mild intermittent asthma.")]


def test_a_note_missing_a_condition_lowers_recall_by_its_share() -> None:
    recall, precision = note_ehr_consistency([*CASE_A, *CASE_B], n_bootstrap=0)
    assert recall.ok and recall.family.value == "factuality" and recall.modality == "case"
    assert recall.details["per_case"] == pytest.approx({"a": 2 / 3, "b": 1.0})
    assert recall.value == pytest.approx((2 / 3 + 1.0) / 2)
    # precision: a names two concepts, both in its history; b names three, asthma not in its history
    assert precision.details["per_case"] == pytest.approx({"a": 1.0, "b": 2 / 3})
    assert precision.value == pytest.approx((1.0 + 2 / 3) / 2)


def test_the_complete_note_scores_one_and_last_visits_narrows_recall() -> None:
    full = note("a", "Essential hypertension, type 2 diabetes mellitus and mild intermittent asthma.")
    recall, precision = note_ehr_consistency([*CASE_A[:2], full], n_bootstrap=0)
    assert recall.value == pytest.approx(1.0) and precision.value == pytest.approx(1.0)
    recall, _ = note_ehr_consistency(CASE_A, last_visits=1, n_bootstrap=0)  # the last visit holds only the asthma
    assert recall.value == pytest.approx(0.0) and recall.ok


def test_interval_over_cases() -> None:
    cases = []
    for i in range(6):  # recall 1 for even cases, 2/3 for odd ones
        text = "essential hypertension, type 2 diabetes mellitus" + (" and mild intermittent asthma" if i % 2 == 0 else "")
        cases += [history(f"c{i}", ("I10", "E11.9", "J45.20")), row(f"c{i}"), note(f"c{i}", text)]
    recall, _ = note_ehr_consistency(cases, n_bootstrap=50, seed=3)
    assert recall.value == pytest.approx(5 / 6)
    assert recall.ci is not None and recall.ci.low <= recall.value <= recall.ci.high and recall.ci.high <= 1.0
    assert "over cases" in recall.ci.method and recall.n_synthetic == 6


def test_names_and_domains_from_a_vocabulary_file() -> None:
    names = {"1": "Acute bronchitis", "2": "Acetaminophen 325 MG Oral Tablet", "3": "Spirometry", "4": "Viral sinusitis"}
    domains = {"1": "condition", "2": "drug", "3": "procedure", "4": "condition"}
    records = [history("o", ("1", "2", "3"), vocabulary="OMOP"), row("o"),
               note("o", "Acute bronchitis treated with acetaminophen; spirometry normal. No viral sinusitis.")]
    recall, precision = note_ehr_consistency(records, code_names=names, code_domains=domains, n_bootstrap=0)
    assert recall.value == pytest.approx(1.0)  # the procedure is not counted; the drug matches by its name
    assert precision.details["per_case"]["o"] == pytest.approx(2 / 3)  # viral sinusitis is named, not in the history


def test_cases_without_the_needed_records_are_failures_not_zero() -> None:
    lone_note = Record(id="note-z", case_id="z", modality=Modality.TEXT, payload=TextPayload(text="hypertension"),
                       provenance=_prov("note"))
    recall, precision = note_ehr_consistency([lone_note], n_bootstrap=0)
    for result in (recall, precision):
        assert result.status == "failed" and result.value is None
        assert "no EHR history" in (result.error or "")
    # one case lacking its note: scored on the other, the lacking case listed
    recall, _ = note_ehr_consistency([*CASE_A, history("x", ("I10",))], n_bootstrap=0)
    assert recall.ok and recall.details["per_case"] == pytest.approx({"a": 2 / 3})
    assert recall.details["case_failures"] == [{"case": "x", "reason": "no text note made from its EHR history"}]
    assert any("1 cases lack" in w for w in recall.warnings)


def test_an_image_report_is_not_taken_for_the_note() -> None:
    report = note("a", "asthma", parent="image-a", step="report", name="report")
    recall, _ = note_ehr_consistency([*CASE_A, image("a", "asthma"), report], n_bootstrap=0)
    assert recall.details["per_case"] == pytest.approx({"a": 2 / 3})  # the report (from the image) is not a note


def test_image_label_in_its_note() -> None:
    records = [*CASE_A, image("a", "type 2 diabetes mellitus"), *CASE_B, image("b", "pneumonia")]
    result = image_note_consistency(records, label="finding", n_bootstrap=0)
    assert result.ok and result.details["per_case"] == {"a": 1.0, "b": 0.0} and result.value == pytest.approx(0.5)
    unlabelled = image_note_consistency([*CASE_A, image("a", None)], label="finding", n_bootstrap=0)
    assert unlabelled.status == "failed" and "no label 'finding'" in (unlabelled.error or "")
    none = image_note_consistency(CASE_A, label="finding", n_bootstrap=0)
    assert none.status == "failed" and "no image record" in (none.error or "")


def test_suite_and_registration() -> None:
    report = evaluate_cases([*CASE_A, image("a", "asthma")], image_label="finding", n_bootstrap=0)
    assert [r.name for r in report.results] == ["case.note_ehr_recall", "case.note_ehr_precision",
                                                "case.image_label_in_note"]
    assert report.result("case.image_label_in_note").value == 0.0  # the note does not name the asthma
    names = Registry().names(Group.METRICS)
    assert {"case.note_ehr_consistency", "case.image_label_in_note"} <= set(names)


def test_cli_options_that_do_not_fit_are_refused(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from biosynth.core import ConfigError, InputDataError, Runner, parse_recipe
    from biosynth.eval._cli import app

    recipe = parse_recipe({"name": "rows", "steps": [{"name": "rows", "generator": "attributes", "count": 1,
                                                      "params": {"attributes": {"x": [1]}}}]})
    Runner(recipe, tmp_path / "ds").run()
    out = ["--out", str(tmp_path / "report")]
    for args, error, expected in (
        (["--code-names", "names.json"], ConfigError, "--code-names only with --consistency"),
        (["--consistency", "--real", "real.csv"], ConfigError, "--real does not apply to --consistency"),
        (["--consistency", "--step", "nosuch"], ConfigError, "--step 'nosuch' is not a step"),
        (["--consistency", "--code-names", str(tmp_path / "absent.json")], InputDataError, "--code-names: "),
    ):
        result = CliRunner().invoke(app, [str(tmp_path / "ds"), *out, *args])
        assert isinstance(result.exception, error) and expected in str(result.exception), (args, result.exception)
    assert not (tmp_path / "report").exists()
    # a dataset without histories, notes or images: every check fails with its reason, none scores 0
    result = CliRunner().invoke(app, [str(tmp_path / "ds"), *out, "--consistency", "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    statuses = {r["name"]: r["status"] for r in json.loads((tmp_path / "report" / "report.json").read_text())["results"]}
    assert statuses == {"case.note_ehr_recall": "failed", "case.note_ehr_precision": "failed",
                        "case.image_label_in_note": "failed"}
