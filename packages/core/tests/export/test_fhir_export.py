"""`biosynth export --to fhir`: Bundles parsed back by fhir.resources (R5 and R4B), plus what it does not check:
references resolve inside each Bundle, codes carry their record's system, HTEST tags, UIDs, attachments, lineage."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from biosynth.core import (
    ExportError,
    Modality,
    Provenance,
    Record,
    SyntheticDataset,
    VisitSequencePayload,
    export_dataset,
    imaging_layout,
    read_export_marker,
)
from biosynth.core._progress import LogProgress

pytest.importorskip("fhir.resources", reason="the `fhir` extra of biosynth-core is not installed")

sys.path.insert(0, str(Path(__file__).parent))
import export_case_data as case_data

SYSTEMS = {"ICD-10-CM": "http://hl7.org/fhir/sid/icd-10-cm", "OMOP": "https://fhir-terminology.ohdsi.org"}
HTEST = ("http://terminology.hl7.org/CodeSystem/v3-ActReason", "HTEST")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return case_data.build(tmp_path_factory.mktemp("fhir") / "ds")


@pytest.fixture(scope="module")
def exports(dataset: Path) -> dict[str, Path]:
    out = {}
    for version in ("R5", "R4B"):
        out[version] = dataset.parent / version
        export_dataset(dataset, "fhir", out[version], progress=LogProgress(),
                       options={"version": version, "vocabulary": str(dataset.parent / "vocabulary.json")})
    return out


def bundles(folder: Path) -> dict[str, dict[str, Any]]:
    index = json.loads((folder / "cases.json").read_text())
    return {case: json.loads((folder / name).read_text()) for case, name in index.items()}


def resources(bundle: dict[str, Any], kind: str | None = None) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if kind is None or e["resource"]["resourceType"] == kind]


def references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                yield item
            else:
                yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


@pytest.mark.parametrize("version", ["R5", "R4B"])
def test_bundles_parse_with_fhir_resources(exports: dict[str, Path], version: str) -> None:
    if version == "R5":
        from fhir.resources.bundle import Bundle
    else:
        from fhir.resources.R4B.bundle import Bundle
    found = bundles(exports[version])
    assert len(found) == 2
    for bundle in found.values():
        parsed = Bundle.model_validate_json(json.dumps(bundle))
        assert parsed.type == "transaction"
        kinds = Counter(type(e.resource).__name__ for e in parsed.entry)
        assert kinds["Patient"] == 1 and kinds["ImagingStudy"] == 1 and kinds["Provenance"] == 5
        assert kinds["Media" if version == "R4B" else "DocumentReference"] == (1 if version == "R4B" else 3)
        assert all(type(e.resource).__module__.startswith("fhir.resources.R4B" if version == "R4B" else
                                                          "fhir.resources.") for e in parsed.entry)
    with pytest.raises((KeyError, ValueError)):  # the releases differ: R5 has no Media (fhir.resources: KeyError)
        from fhir.resources.bundle import Bundle as R5Bundle
        R5Bundle.model_validate_json((exports["R4B"] / "case-patients-000000.json").read_text())


@pytest.mark.parametrize("version", ["R5", "R4B"])
def test_references_resolve_urn_uuids_and_htest_tags(exports: dict[str, Path], version: str) -> None:
    for bundle in bundles(exports[version]).values():
        urls = [e["fullUrl"] for e in bundle["entry"]]
        assert len(urls) == len(set(urls)) and all(u.startswith("urn:uuid:") and len(u) == 45 for u in urls)
        assert all(e["request"] == {"method": "POST", "url": e["resource"]["resourceType"]} for e in bundle["entry"])
        refs = list(references(bundle))
        assert len(refs) > 30 and set(refs) <= set(urls), set(refs) - set(urls)
        for resource in [bundle, *resources(bundle)]:
            assert HTEST in [(t["system"], t["code"]) for t in resource["meta"]["tag"]], resource["resourceType"]


@pytest.mark.parametrize("version", ["R5", "R4B"])
def test_ehr_codes_use_the_records_systems_and_domains(dataset: Path, exports: dict[str, Path], version: str) -> None:
    histories = {r.case_id: r.payload for r in SyntheticDataset(dataset).records("histories")}
    domains = case_data.OMOP_VOCABULARY["code_domains"]
    for case, bundle in bundles(exports[version]).items():
        history = histories[case]
        assert isinstance(history, VisitSequencePayload) and history.vocabulary is not None
        system = SYSTEMS[history.vocabulary]
        expected: Counter[tuple[str, str]] = Counter()
        for visit in history.visits:
            for code in visit.codes:
                kind = domains.get(code, "condition").lower() if history.vocabulary == "OMOP" else "condition"
                expected[({"condition": "Condition", "drug": "MedicationRequest", "procedure": "Procedure"}[kind],
                          code)] += 1
        got: Counter[tuple[str, str]] = Counter()
        for resource in resources(bundle):
            concept = {"Condition": lambda r: r["code"], "Procedure": lambda r: r["code"],
                       "MedicationRequest": lambda r: r["medication"]["concept"] if version == "R5"
                       else r["medicationCodeableConcept"]}.get(resource["resourceType"])
            if concept is None:
                continue
            [coding] = concept(resource)["coding"]
            assert coding["system"] == system, (case, coding)
            got[(resource["resourceType"], coding["code"])] += 1
        assert got == expected
        encounters = resources(bundle, "Encounter")
        assert len(encounters) == len(history.visits)
        period = "actualPeriod" if version == "R5" else "period"
        starts = [e[period]["start"] for e in encounters]
        if history.vocabulary == "ICD-10-CM":
            assert starts == [v.date for v in history.visits]
        else:  # undated: from the birth decade and age band, then the sampled gaps (30 and 365 days)
            assert starts[0].endswith("-01-01") and starts[1][:4] == starts[0][:4]


def test_notes_audio_and_images(dataset: Path, exports: dict[str, Path]) -> None:
    ds = SyntheticDataset(dataset)
    records = ds.records()
    notes = {r.case_id: r.text for r in records if r.provenance.step == "notes"}
    layout = imaging_layout(ds.manifest, records)
    for version in ("R5", "R4B"):
        for case, bundle in bundles(exports[version]).items():
            docs = {d["type"]["text"]: d for d in resources(bundle, "DocumentReference")}
            note = docs["discharge summary"]["content"][0]["attachment"]
            assert base64.b64decode(note["data"]).decode() == notes[case] and note["contentType"].startswith("text/plain")
            audio = resources(bundle, "Media")[0] if version == "R4B" else docs["audio recording"]
            attachment = audio["content"] if version == "R4B" else audio["content"][0]["attachment"]
            data = (exports[version] / attachment["url"]).read_bytes()  # copied beside the bundles
            assert attachment["hash"] == base64.b64encode(hashlib.sha1(data).digest()).decode()
            assert data[:4] == b"RIFF" and attachment["size"] == len(data)
            transcript = docs["transcript"]
            text = base64.b64decode(transcript["content"][0]["attachment"]["data"]).decode()
            assert text == "[0.00-0.08] doctor: How are you?\n[0.08-0.20] patient: Better."
            assert transcript["content"][1]["attachment"]["url"].endswith(".txt")
            audio_url = next(e["fullUrl"] for e in bundle["entry"] if e["resource"] is audio or e["resource"] == audio)
            linked = transcript["relatesTo"][0]["target"] if version == "R5" else transcript["context"]["related"][0]
            assert linked["reference"] == audio_url
            [study] = resources(bundle, "ImagingStudy")
            [scan] = [r for r in records if r.case_id == case and r.provenance.step == "scans"]
            uids = layout[scan.id].uids
            assert study["identifier"][0] == {"system": "urn:dicom:uid", "value": f"urn:oid:{uids.study}"}
            [series] = study["series"]
            assert series["uid"] == uids.series and series["instance"][0]["uid"] == uids.instance
            assert series["instance"][0]["sopClass"]["code"] == "urn:oid:1.2.840.10008.5.1.4.1.1.7"


def test_provenance_names_generator_model_recipe_and_parents(dataset: Path, exports: dict[str, Path]) -> None:
    manifest = SyntheticDataset(dataset).manifest
    bundle = bundles(exports["R5"])["case-patients-000001"]
    by_url = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    provenances = resources(bundle, "Provenance")
    history = next(p for p in provenances if "record histories-000001" in p["activity"]["text"])
    devices = [by_url[a["who"]["reference"]] for a in history["agent"]]
    assert [d["name"][0]["value"] for d in devices] == ["biosynth generator histories", "tiny-halo"]
    assert {"type": {"text": "sha256 of the weights"}, "value": "ab" * 32} in devices[1]["version"]
    assert manifest.recipe_sha256 in history["entity"][0]["what"]["display"]
    assert history["entity"][0]["role"] == "instantiates"
    assert by_url[history["entity"][1]["what"]["reference"]]["resourceType"] == "Patient"  # parent: patients-000001
    targets = {by_url[t["reference"]]["resourceType"] for t in history["target"]}
    assert targets == {"Patient", "Encounter", "Condition", "MedicationRequest", "Procedure"}
    scan = next(p for p in provenances if "record scans-000001" in p["activity"]["text"])
    assert by_url[scan["entity"][1]["what"]["reference"]]["type"]["text"] == "discharge summary"  # from the note


def test_export_is_reproducible_and_stamped(dataset: Path, exports: dict[str, Path], tmp_path: Path) -> None:
    options = {"version": "R5", "vocabulary": str(dataset.parent / "vocabulary.json")}
    export_dataset(dataset, "fhir", tmp_path / "again", options=options)
    for name in json.loads((exports["R5"] / "cases.json").read_text()).values():
        assert (tmp_path / "again" / name).read_bytes() == (exports["R5"] / name).read_bytes()
    marker = read_export_marker(exports["R4B"])
    assert marker["format"] == "fhir" and marker["options"]["version"] == "R4B"
    assert marker["facts"]["resources"]["Media"] == 2 and marker["software"]["fhir.resources"].startswith("8.")


def test_codes_without_domains_or_systems_are_refused_or_text(dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"record 'histories-000001': the domain .* of code '320128' is unknown.*"
                                          r"-O vocabulary="):
        export_dataset(dataset, "fhir", tmp_path / "no-vocab")
    assert not (tmp_path / "no-vocab").exists()
    with pytest.raises(ExportError, match=r"fhir export options is invalid: version: Input should be 'R5' or 'R4B'"):
        export_dataset(dataset, "fhir", tmp_path / "o", options={"version": "R6"})
    cli = [sys.executable, "-c", "from biosynth.core.cli import main; main()", "export", str(dataset), "--to", "fhir"]
    good = subprocess.run([*cli, "--out", str(tmp_path / "o"), "-O", "version=R4B", "-O", "media=embed",
                           "-O", f"vocabulary={dataset.parent / 'vocabulary.json'}"], capture_output=True, text=True,
                          timeout=120)
    assert good.returncode == 0, good.stderr
    assert "fhir: 3 files ->" in good.stdout and not (tmp_path / "o" / "media").exists()  # 2 bundles + cases.json
    media = resources(bundles(tmp_path / "o")["case-patients-000000"], "Media")[0]["content"]
    assert base64.b64decode(media["data"])[:4] == b"RIFF" and "url" not in media


def test_a_history_without_visits_still_has_its_provenance(dataset: Path) -> None:
    from biosynth.core._export._codes import CodeVocabulary
    from biosynth.core._export._fhir_case import CaseBuilder, CaseFacts, CaseSettings

    manifest = SyntheticDataset(dataset).manifest
    empty = Record(id="h-0", case_id="c-0", modality=Modality.EHR,
                   payload=VisitSequencePayload(static={"sex": "MALE"}, visits=(), vocabulary="OMOP"),
                   provenance=Provenance(generator="halo", generator_version="1", step="h", seed=1))
    settings = CaseSettings(version="R4B", key="k", manifest=manifest, vocabulary=CodeVocabulary(),
                            assume_vocabulary=None, anchor_date=None, imaging={}, attach=lambda ref: {})
    bundle = CaseBuilder("c-0", [empty], settings, CaseFacts()).build()
    [patient] = resources(bundle, "Patient")
    [provenance] = resources(bundle, "Provenance")
    assert patient["gender"] == "male" and resources(bundle, "Encounter") == []
    assert provenance["target"] == [{"reference": bundle["entry"][0]["fullUrl"]}]
