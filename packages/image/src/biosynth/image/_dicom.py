"""DICOM output: a Secondary Capture image marked synthetic, with biosynth's provenance inside.

- Synthetic Data (0008,001C) = YES, Image Type DERIVED\\SECONDARY, Conversion Type SYN (synthetic image);
- a Contributing Equipment item with purpose (109100, DCM, "Synthesizing Equipment") naming biosynth and the model;
- the provenance JSON in a private block (group 0x0011, creator `biosynth`, element 0x01, UT);
- Study, Series and SOP Instance UIDs derived by core's one rule (`biosynth.core.derived_uid`: `2.25.` + a 128-bit
  integer from a sha256): from the sample's seed when generated, from the dataset and record ids when exported
  (`biosynth export --to dicom`, so the FHIR ImagingStudy names the same UIDs); no creation dates or times, so one
  seed gives one file, byte for byte;
- patient attributes are synthetic (the record's case id); nothing is copied from any input file.

pydicom and highdicom are imported when a file is written (the `dicom` extra).
"""

from __future__ import annotations

import io
import json
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from biosynth.core import ImagingUids, derived_uid

PRIVATE_GROUP = 0x0011
PRIVATE_CREATOR = "biosynth"
PROVENANCE_ELEMENT = 0x01


class DicomParams(BaseModel):
    """What the DICOM header says beyond the image (used with `format: dicom`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    modality: str = Field("OT", pattern=r"^[A-Z]{2,4}$", description="the Modality the image stands for (OT: other)")
    body_part: str | None = Field(None, pattern=r"^[A-Z0-9 _]{1,16}$", description="Body Part Examined, e.g. CHEST")
    series_description: str = Field("biosynth synthetic images", max_length=64)
    institution: str | None = Field(None, max_length=64)
    laterality: Literal["R", "L"] | None = Field(None, description="for a paired body part")
    patient_orientation: tuple[str, str] | None = Field(
        None, description="row and column directions, e.g. ['P', 'F']; unknown (empty) by default")


def seed_uids(seed: int) -> ImagingUids:
    """The UIDs of a generated sample: from its seed (core's `derived_uid(seed, "study")`, ...)."""
    return ImagingUids(study=derived_uid(seed, "study"), series=derived_uid(seed, "series"),
                       instance=derived_uid(seed, "instance"))


def encode_dicom(image: Any, provenance: dict[str, Any], *, seed: int, index: int, case_id: str, model_name: str,
                 software_version: str, params: DicomParams, uids: ImagingUids | None = None,
                 series_number: int = 1) -> bytes:
    """DICOM Part 10 bytes of `image` (a PIL image, L or RGB) as a synthetic Secondary Capture.

    `uids` default to the seed's; the instance number is `index + 1`."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    uids = uids or seed_uids(seed)
    pixels = np.asarray(image)
    monochrome = pixels.ndim == 2
    equipment = hd.ContributingEquipment(
        manufacturer="biosynth", purpose_of_reference=codes.DCM.SynthesizingEquipment,
        manufacturer_model_name=model_name[:64], software_versions=f"biosynth-image {software_version}"[:64],
        contribution_description=f"synthesized by biosynth {provenance['provenance']['generator']}"[:64])
    sc = hd.sc.SCImage(
        pixel_array=pixels, photometric_interpretation="MONOCHROME2" if monochrome else "RGB", bits_allocated=8,
        coordinate_system="PATIENT", patient_orientation=params.patient_orientation or ("L", "F"),
        study_instance_uid=uids.study, series_instance_uid=uids.series,
        series_number=series_number, sop_instance_uid=uids.instance, instance_number=index + 1,
        manufacturer="biosynth", patient_id=case_id[:64], patient_name=f"SYNTHETIC^{case_id}"[:64],
        patient_birth_date=None, patient_sex=None, study_id=case_id[-16:], accession_number=None,
        contributing_equipment=[equipment],
    )
    if params.patient_orientation is None:
        sc.PatientOrientation = None  # type 2: present and empty when not known
    sc.SyntheticData = "YES"
    sc.ImageType = ["DERIVED", "SECONDARY"]
    sc.ConversionType = "SYN"
    sc.Modality = params.modality
    sc.SeriesDescription = params.series_description
    sc.BurnedInAnnotation = "NO"
    if params.body_part:
        sc.BodyPartExamined = params.body_part
    if params.laterality is not None:
        sc.Laterality = params.laterality
    elif params.body_part is None:
        sc.Laterality = None  # type 2C: with no body part it may be paired, so present and empty (unknown)
    if params.institution:
        sc.InstitutionName = params.institution
    # dates would make two runs differ (the record's provenance keeps when it was made): type 2 ones stay empty
    for keyword in ("ContentDate", "ContentTime", "SeriesDate", "SeriesTime", "InstanceCreationDate",
                    "InstanceCreationTime", "DateOfSecondaryCapture", "TimeOfSecondaryCapture"):
        if keyword in sc:
            delattr(sc, keyword)
    for item in sc.ContributingEquipmentSequence:  # highdicom's own item and ours
        if "ContributionDateTime" in item:
            del item.ContributionDateTime
    sc.StudyDate = None
    sc.StudyTime = None
    block = sc.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True)
    text = json.dumps(provenance, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    block.add_new(PROVENANCE_ELEMENT, "UT", text)
    buffer = io.BytesIO()
    sc.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def read_dicom_provenance(path: Any) -> dict[str, Any]:
    """The provenance a biosynth DICOM file carries in its private block (a KeyError if it has none)."""
    import pydicom

    ds = pydicom.dcmread(path)
    block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)
    return dict(json.loads(block[PROVENANCE_ELEMENT].value))
