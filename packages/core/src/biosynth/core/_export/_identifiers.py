"""Identifiers an export derives from a dataset, so two formats of one dataset point at each other.

One rule for every exporter (FHIR in core, DICOM in biosynth-image, ...), so a FHIR ImagingStudy names
the same Study/Series/SOP Instance UIDs as the DICOM files exported from the same records:

- `dataset_key(manifest)`: the dataset's identity, its resolved recipe's sha256 and its seed (the same
  recipe and seed make the same records, so their exports get the same identifiers);
- `derived_uid(*parts)`: a DICOM UID `2.25.<128-bit integer>` from the sha256 of `biosynth:` and the parts
  joined by `:` (PS3.5 B.2: a UUID-derived UID under the `2.25` root, at most 64 characters);
- `imaging_uids(key, record)`: a study per case, a series per (case, step), an instance per record;
- `resource_uuid(key, resource_type, local_id)`: a uuid5 for a FHIR resource, written `urn:uuid:...`.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from biosynth.core._manifest import Manifest
from biosynth.core._records import Record

SECONDARY_CAPTURE_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.7"  # the SOP class biosynth writes images as

# uuid5 namespace of every biosynth export: uuid5(NAMESPACE_URL, "https://biosynth.dev/export")
EXPORT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://biosynth.dev/export")


def dataset_key(manifest: Manifest) -> str:
    """The dataset identity that every derived identifier starts from."""
    return f"{manifest.recipe_sha256}:{manifest.seed}"


def derived_uid(*parts: object) -> str:
    """A `2.25.` DICOM UID from `parts` (deterministic; 128 bits of a sha256, so collisions are negligible)."""
    text = "biosynth:" + ":".join(str(p) for p in parts)
    digest = hashlib.sha256(text.encode("utf-8")).digest()[:16]
    return f"2.25.{int.from_bytes(digest, 'big')}"


@dataclass(frozen=True)
class ImagingUids:
    study: str
    series: str
    instance: str


def imaging_uids(key: str, record: Record) -> ImagingUids:
    """Study per case, series per (case, step), SOP instance per record: the DICOM and FHIR exports share them."""
    step = record.provenance.step or ""
    return ImagingUids(study=derived_uid(key, "study", record.case_id),
                       series=derived_uid(key, "series", record.case_id, step),
                       instance=derived_uid(key, "instance", record.id))


def resource_uuid(key: str, resource_type: str, local_id: str) -> uuid.UUID:
    """A deterministic uuid5 for one FHIR resource made from `local_id` (a record id, a case id, ...)."""
    return uuid.uuid5(EXPORT_NAMESPACE, f"{key}/{resource_type}/{local_id}")


@dataclass(frozen=True)
class ImagingEntry:
    """Where one image record sits in its case's study: UIDs, 1-based series and instance numbers, modality."""

    record_id: str
    case_id: str
    step: str
    uids: ImagingUids
    series_number: int
    instance_number: int
    modality: str


def step_image_modality(manifest: Manifest, step: str) -> str:
    """The DICOM Modality of a step's images: its recipe parameters' `dicom.modality` (biosynth-image's
    `format: dicom` settings), else OT (other)."""
    for entry in manifest.recipe.get("steps", []):
        if isinstance(entry, dict) and entry.get("name") == step:
            dicom = (entry.get("params") or {}).get("dicom") or {}
            modality = dicom.get("modality") if isinstance(dicom, dict) else None
            return str(modality) if modality else "OT"
    return "OT"


def imaging_layout(manifest: Manifest, records: list[Record]) -> dict[str, ImagingEntry]:
    """The study layout of a dataset's image records, by record id: a series per (case, step) numbered in the order
    steps first appear in the case, instances numbered in record order. The DICOM and FHIR exports both use it."""
    key = dataset_key(manifest)
    series_numbers: dict[tuple[str, str], int] = {}
    per_case: dict[str, int] = {}
    per_series: dict[tuple[str, str], int] = {}
    layout: dict[str, ImagingEntry] = {}
    for record in records:
        if record.payload.kind != "image":
            continue
        step = record.provenance.step or ""
        series = (record.case_id, step)
        if series not in series_numbers:
            per_case[record.case_id] = per_case.get(record.case_id, 0) + 1
            series_numbers[series] = per_case[record.case_id]
        per_series[series] = per_series.get(series, 0) + 1
        layout[record.id] = ImagingEntry(
            record_id=record.id, case_id=record.case_id, step=step, uids=imaging_uids(key, record),
            series_number=series_numbers[series], instance_number=per_series[series],
            modality=step_image_modality(manifest, step))
    return layout
