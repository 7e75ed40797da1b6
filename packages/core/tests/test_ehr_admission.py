"""`ehr_admission`: a history becomes an admission row; `template` writes a report for an image record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from biosynth.core import (
    ImagePayload,
    InputDataError,
    MediaRef,
    Modality,
    Provenance,
    Record,
    SampleFailure,
    SampleRequest,
    StepContext,
    TableRowPayload,
    Visit,
    VisitSequencePayload,
)
from biosynth.core._builtin_generators import TemplateText
from biosynth.core._ehr_admission import EhrAdmission


def _history(*visits: tuple[str, ...]) -> Record:
    payload = VisitSequencePayload(static={"sex": "FEMALE", "age_band": "60-69"}, vocabulary="OMOP",
                                   visits=tuple(Visit(codes=v, date=f"2020-01-0{i + 1}") for i, v in enumerate(visits)))
    return Record(id="history-000000", case_id="case-history-000000", modality=Modality.EHR, payload=payload,
                  labels={"sex": "FEMALE"}, provenance=Provenance(generator="halo", generator_version="0", seed=0))


@pytest.fixture
def vocabulary(tmp_path: Path) -> Path:
    path = tmp_path / "vocabulary.json"  # the layout of a HALO folder's vocabulary.json
    path.write_text(json.dumps({"name": "OMOP", "code_names": {"1": "Acute bronchitis", "2": "Acetaminophen 325 MG",
                                                               "3": "Spirometry", "4": "Viral sinusitis"},
                                "code_domains": {"1": "condition", "2": "drug", "3": "procedure", "4": "condition"}}))
    return path


def _run(params: dict[str, object], record: Record, tmp_path: Path) -> Record | SampleFailure:
    generator = EhrAdmission(params)
    return generator.generate([SampleRequest(index=0, seed=1, input=record)], StepContext("admission", 1, tmp_path))[0]


def test_the_last_visits_become_a_named_row(vocabulary: Path, tmp_path: Path) -> None:
    history = _history(("4",), ("1", "2"), ("1", "3"))
    row = _run({"code_names": {"path": str(vocabulary), "real": False}, "last_visits": 2}, history, tmp_path)
    assert isinstance(row, Record) and isinstance(row.payload, TableRowPayload)
    values = row.payload.values
    assert values["conditions"] == "Acute bronchitis"  # sinusitis lies before the last two visits
    assert values["medications"] == "Acetaminophen 325 MG" and values["procedures"] == "Spirometry"
    assert values["primary_condition"] == "Acute bronchitis" and values["primary_code"] == "1"
    assert values["codes"] == "1 2 3" and values["visits"] == 3 and values["admission_date"] == "2020-01-03"
    assert values["sex"] == "FEMALE" and row.labels == {"sex": "FEMALE", "primary_condition": "Acute bronchitis"}
    assert row.case_id == history.case_id and row.parents == (history.id,)
    assert row.provenance.extra["code_names_sha256"] and row.provenance.extra["last_visits"] == 2


def test_without_names_the_codes_stand_for_themselves(tmp_path: Path) -> None:
    row = _run({}, _history(("I10", "E11.9")), tmp_path)
    assert isinstance(row, Record)
    assert row.payload.values["conditions"] == "E11.9; I10"  # no domains known: every code is a diagnosis
    assert row.provenance.extra["unnamed_codes"] == ["E11.9", "I10"]


def test_a_history_without_visits_is_a_failed_sample(tmp_path: Path) -> None:
    failure = _run({}, _history(), tmp_path)
    assert isinstance(failure, SampleFailure) and "has no visits" in failure.reason


def test_a_bad_names_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "names.json"
    bad.write_text("[1, 2]")
    with pytest.raises(InputDataError, match=r"names\.json.*expected a JSON object"):
        _run({"code_names": str(bad)}, _history(("1",)), tmp_path)


def test_template_writes_a_report_for_an_image(tmp_path: Path) -> None:
    media = MediaRef(path="media/image/image-000000.png", sha256="0" * 64, mime_type="image/png", bytes=3)
    image = Record(id="image-000000", case_id="c", modality=Modality.IMAGE, labels={"finding": "effusion"},
                   payload=ImagePayload(media=media, width=32, height=16, caption="a chest x-ray, effusion"),
                   provenance=Provenance(generator="text_to_image", generator_version="0", seed=0))
    report = TemplateText({"template": "$width x $height image of $finding, drawn from: $caption"}).generate(
        [SampleRequest(index=0, seed=1, input=image)], StepContext("report", 1, tmp_path))[0]
    assert isinstance(report, Record)
    assert report.text == "32 x 16 image of effusion, drawn from: a chest x-ray, effusion"
    assert report.parents == ("image-000000",) and report.case_id == "c"
