"""`--to croissant`: validated and read back by mlcroissant (offline); PROV-O read back as RDF with rdflib."""

from __future__ import annotations

import io
import json
import sys
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from biosynth.core import ExportError, SyntheticDataset, export_dataset, sha256_file
from biosynth.core._export._croissant import CroissantExporter
from biosynth.core._progress import LogProgress

sys.path.insert(0, str(Path(__file__).parent))
import multimodal_case
import report_fixture

mlc = pytest.importorskip("mlcroissant", reason="the `croissant` extra of biosynth-core is not installed")
rdflib = pytest.importorskip("rdflib", reason="the `croissant` extra of biosynth-core is not installed")
RDF = rdflib.RDF

PROV = rdflib.Namespace("http://www.w3.org/ns/prov#")
SDO = rdflib.Namespace("https://schema.org/")
CR = rdflib.Namespace("http://mlcommons.org/croissant/")
# rdflib's JSON-LD parser (used by mlcroissant and here) warns about its own internals
pytestmark = pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
GROUPS = {"tabular": 3, "ehr": 3, "text": 3, "image": 2, "audio": 3, "dialogue": 3}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("croissant")
    ds = SyntheticDataset(multimodal_case.shared(tmp_path_factory))
    report, annotations = report_fixture.write(root / "inputs", ds.manifest)
    options = {"report": str(report), "annotations": str(annotations), "version": "1.2.0",
               "license": "https://creativecommons.org/licenses/by/4.0/", "url": "https://example.org/case"}
    result = export_dataset(ds, "croissant", root / "export", options=options, progress=LogProgress())
    path = result.out / "croissant.json"
    loaded = mlc.Dataset(jsonld=str(path))  # mlcroissant 1.1.1, offline: raises on any validation error
    rows = {rs.uuid: list(loaded.records(rs.uuid)) for rs in loaded.metadata.record_sets}
    return {"ds": ds, "out": result.out, "result": result, "document": json.loads(path.read_text()),
            "loaded": loaded, "rows": rows}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def test_mlcroissant_validates_it_without_warnings(exported: dict[str, Any]) -> None:
    assert exported["document"]["conformsTo"] == "http://mlcommons.org/croissant/1.1"
    assert exported["loaded"].metadata.ctx.issues.errors == set()
    assert exported["loaded"].metadata.ctx.issues.warnings == set()
    assert exported["result"].facts["validation_warnings"] == []


def test_every_record_set_iterates_with_the_records_values(exported: dict[str, Any]) -> None:
    ds: SyntheticDataset = exported["ds"]
    records = {r.id: r for r in ds.records()}
    rows = exported["rows"]
    assert {name: len(rows[name]) for name in GROUPS} == GROUPS
    assert sorted(_text(r["records/id"]) for r in rows["records"]) == sorted(records)
    for row in rows["records"]:
        record = records[_text(row["records/id"])]
        assert json.loads(row["records/provenance"])["generator"] == record.provenance.generator
        assert [_text(p) for p in row["records/parents"]] == list(record.parents)
    (tabular,) = [rs for rs in exported["document"]["recordSet"] if rs["name"] == "tabular"]
    smoking = next(f["@id"] for f in tabular["field"] if f["name"] == "smoking status")
    assert " " not in smoking  # a column name with a space: the @id is made safe, the name and column kept
    for row in rows["tabular"]:
        values = records[_text(row["tabular/id"])].payload.values
        assert (row["tabular/age"], _text(row["tabular/sex"]), row["tabular/bmi"], _text(row[smoking])) == \
            (values["age"], values["sex"], values["bmi"], values["smoking status"])
    for row in rows["ehr"]:
        visits = records[_text(row["ehr/id"])].payload.visits
        assert [v["codes"] for v in json.loads(row["ehr/visits"])] == [list(v.codes) for v in visits]
    for row in rows["dialogue"]:
        record = records[_text(row["dialogue/id"])]
        assert [t["text"] for t in json.loads(row["dialogue/turns"])] == [t.text for t in record.payload.turns]
        assert _text(row["dialogue/case_id"]) == record.case_id


def test_images_and_audio_come_back_with_their_bytes(exported: dict[str, Any]) -> None:
    ds: SyntheticDataset = exported["ds"]
    records = {r.id: r for r in ds.records()}
    for row in exported["rows"]["image"]:
        payload = records[_text(row["image/id"])].payload
        original = (ds.root / payload.media.path).read_bytes()
        assert isinstance(row["image/image"], Image.Image)  # sc:ImageObject, decoded by mlcroissant
        assert np.array_equal(np.asarray(row["image/image"]), np.asarray(Image.open(io.BytesIO(original))))
        assert _text(row["image/media_sha256"]) == payload.media.sha256
    for row in exported["rows"]["audio"]:
        payload = records[_text(row["audio/id"])].payload
        assert row["audio/audio"] == (ds.root / payload.media.path).read_bytes()  # sc:AudioObject, raw bytes
        samples, rate = _wav(row["audio/audio"])
        assert rate == row["audio/sampling_rate"] == 8000 and len(samples) == 2000
        assert [s["speaker"] for s in json.loads(row["audio/segments"])] == ["doctor", "patient"]
        (attachment,) = json.loads(row["audio/attachments"])  # the transcript, as UTF-8 text
        assert attachment["data"].encode() == (ds.root / payload.attachments[0].path).read_bytes()


def test_file_objects_carry_the_sha256_of_the_files(exported: dict[str, Any]) -> None:
    out: Path = exported["out"]
    files = exported["document"]["distribution"]
    assert {f["contentUrl"] for f in files} == {"records.parquet", *(f"data/{g}.parquet" for g in GROUPS)}
    for item in files:
        assert item["@type"] == "cr:FileObject"
        assert item["sha256"] == sha256_file(out / item["contentUrl"])
    records_file = next(f for f in files if f["contentUrl"] == "records.parquet")
    assert records_file["sha256"] == exported["ds"].manifest.records_sha256


def test_prov_o_names_each_step_with_its_generator_model_template_and_inputs(exported: dict[str, Any]) -> None:
    ds: SyntheticDataset = exported["ds"]
    graph = rdflib.Graph().parse(str(exported["out"] / "croissant.json"), format="json-ld")
    (dataset,) = graph.subjects(RDF.type, SDO.Dataset)
    activities = {str(graph.value(a, SDO.name)): a for a in graph.objects(dataset, PROV.wasGeneratedBy)}
    assert set(activities) == set(ds.manifest.steps)
    assert all((a, RDF.type, PROV.Activity) in graph for a in activities.values())

    scans = activities["scans"]
    agents = {str(graph.value(a, SDO.name)): a for a in graph.objects(scans, PROV.wasAssociatedWith)}
    assert set(agents) == {"scans", "Fake LLM (Q4_1 GGUF)"}
    assert all((a, RDF.type, PROV.SoftwareAgent) in graph for a in agents.values())
    assert str(graph.value(agents["Fake LLM (Q4_1 GGUF)"], SDO.version)) == "1"
    used = {str(graph.value(e, SDO.name)): str(graph.value(e, SDO.sha256)) for e in graph.objects(scans, PROV.used)}
    record = next(r for r in ds.records("scans"))
    assert used == {"scan-v1": record.provenance.prompt.template_sha256,
                    "dataset-reference.csv": ds.manifest.inputs[0].sha256}
    assert graph.value(scans, PROV.wasInformedBy) == activities["notes"]

    image_set = next(s for s in graph.subjects(RDF.type, CR.RecordSet) if str(graph.value(s, SDO.name)) == "image")
    assert list(graph.objects(image_set, PROV.wasGeneratedBy)) == [scans]


def test_rai_fields_hold_the_evaluation_the_real_data_and_the_review(exported: dict[str, Any]) -> None:
    metadata = exported["loaded"].metadata  # read back through mlcroissant's RAI properties
    limitations = " ".join(metadata.data_limitations)
    assert "1 of 18 requested samples failed" in limitations
    assert "privacy / distance_to_closest_record = 0.42 [0.31, 0.55]" in limitations
    assert "threat model: attacker holds the synthetic rows" in limitations
    assert "utility / utility_tstr: failed (the target has one class among the synthetic rows)" in limitations
    assert "only 3 synthetic rows: the interval is wide" in limitations
    biases = " ".join(metadata.data_biases)
    assert "fidelity / column_shapes = 0.8612 [0.8011, 0.9034] (95% interval, basic bootstrap over rows, B=200)" in biases
    assert "sex (step patients): female 2, male 1" in biases
    sensitive = " ".join(metadata.personal_sensitive_information)
    assert exported["ds"].manifest.inputs[0].sha256 in sensitive
    assert "Step 'scans' read real data" in sensitive and "local language model 'fake' (permitted)" in sensitive
    assert ("Human review with label-studio: 3 annotations on 2 records by 2 pseudonymous reviewers (pseudonyms: "
            "HMAC-SHA256") in " ".join(metadata.data_annotation_protocol)
    assert "plausibility (Is the note clinically plausible?)" in " ".join(metadata.data_annotation_protocol)
    assert ("human / human.krippendorff_alpha.plausibility = 0.61 [0.2, 0.85]"
            in " ".join(metadata.data_annotation_analysis))
    assert "krippendorff" not in limitations  # agreement is reported with the annotations, not as a limitation
    assert exported["document"]["rai:machineAnnotationTools"] == ["Fake LLM (Q4_1 GGUF)"]


def test_a_report_of_the_wrong_shape_is_refused_by_name(exported: dict[str, Any], tmp_path: Path) -> None:
    bad = tmp_path / "report.json"
    bad.write_text(json.dumps({"modality": "tabular", "results": [{"name": "x"}]}))
    with pytest.raises(ExportError, match=r"option report.*results\[0\]\.family: Field required"):
        CroissantExporter({"report": str(bad)}).export(exported["ds"], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_annotations_of_another_dataset_are_refused(exported: dict[str, Any], tmp_path: Path) -> None:
    other = report_fixture.annotations(exported["ds"].manifest)
    other["dataset"]["recipe_sha256"] = "f" * 64
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps(other))
    with pytest.raises(ExportError, match=r"option annotations: the annotations are of another dataset"):
        CroissantExporter({"annotations": str(path)}).export(exported["ds"], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_missing_mlcroissant_names_the_extra(monkeypatch: pytest.MonkeyPatch, exported: dict[str, Any],
                                            tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "mlcroissant", None)
    with pytest.raises(ExportError, match=r"pip install 'biosynth-core\[croissant\]'"):
        CroissantExporter().export(exported["ds"], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def _wav(data: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(data)) as clip:  # an independent WAV reader: the standard library's
        return np.frombuffer(clip.readframes(clip.getnframes()), dtype="<i2"), clip.getframerate()
