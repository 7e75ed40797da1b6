"""`biosynth export DATASET --to dicom`: every image record as a synthetic Secondary Capture DICOM file whose Study,
Series and SOP Instance UIDs follow core's `imaging_layout` (a study per case, a series per step), so the FHIR
export of the same dataset names them in its ImagingStudy.

- a PNG (or other Pillow-readable) image is encoded like `format: dicom` output (`encode_dicom`: SyntheticData YES,
  synthesizing equipment, the record's provenance in the private block), with the step's recipe `dicom:` settings;
- a DICOM image (biosynth-image's `format: dicom`) keeps its header and pixels; only its UIDs, series and instance
  numbers are set to the export's (it must be a Secondary Capture marked synthetic, as biosynth writes them).

Files: `<case>/<series number>-<step>/<instance number>.dcm` and `studies.json` (record id -> file and UIDs).
"""

from __future__ import annotations

import io
import json
import re
from typing import Any, ClassVar

from biosynth.core import (
    SECONDARY_CAPTURE_SOP_CLASS,
    ExportContext,
    Exporter,
    ExportError,
    ExportOptions,
    ImagePayload,
    ImagingEntry,
    Record,
    imaging_layout,
)
from biosynth.image._dicom import DicomParams, encode_dicom


class DicomExporter(Exporter):
    format: ClassVar[str] = "dicom"
    description: ClassVar[str] = "image records as synthetic Secondary Capture DICOM studies (a study per case)"
    format_version: ClassVar[int] = 1
    requires: ClassVar[tuple[str, ...]] = ("pydicom", "highdicom")
    extra: ClassVar[str | None] = "biosynth-image[dicom]"
    Options: ClassVar[type[ExportOptions]] = ExportOptions

    def _export(self, ctx: ExportContext) -> dict[str, Any]:
        records = ctx.records()
        layout = imaging_layout(ctx.dataset.manifest, records)
        images = [r for r in records if r.id in layout]
        if not images:
            raise ExportError(f"dataset {str(ctx.dataset.root)!r} holds no image records to export as DICOM")
        ctx.start(len(images))
        index: dict[str, dict[str, Any]] = {}
        converted = kept = 0
        for record in images:
            entry = layout[record.id]
            payload = record.payload
            assert isinstance(payload, ImagePayload)
            relative = f"{_safe(record.case_id)}/{entry.series_number:03d}-{_safe(entry.step)}/" \
                       f"{entry.instance_number:05d}.dcm"
            target = ctx.staging / relative
            if target.exists():  # two case ids that differ only in characters a file name cannot hold
                raise ExportError(f"record {record.id!r}: its file {relative!r} is taken by another case; give the "
                                  "cases ids that differ in letters, digits, '.', '_' or '-'")
            target.parent.mkdir(parents=True, exist_ok=True)
            source = ctx.media_path(payload.media)
            if payload.media.mime_type == "application/dicom" or source.suffix.lower() == ".dcm":
                target.write_bytes(_restamp(source.read_bytes(), entry, record))
                kept += 1
            else:
                target.write_bytes(self._encode(ctx, record, entry, source.read_bytes()))
                converted += 1
            index[record.id] = {"file": relative, "case_id": record.case_id, "step": entry.step,
                                "study_uid": entry.uids.study, "series_uid": entry.uids.series,
                                "sop_instance_uid": entry.uids.instance, "series_number": entry.series_number,
                                "instance_number": entry.instance_number, "modality": entry.modality,
                                "source": payload.media.path}
            ctx.advance()
        (ctx.staging / "studies.json").write_text(json.dumps(index, indent=1, ensure_ascii=False) + "\n",
                                                  encoding="utf-8")
        return {"instances": len(images), "studies": len({e["study_uid"] for e in index.values()}),
                "series": len({e["series_uid"] for e in index.values()}), "encoded_from_images": converted,
                "restamped_dicom": kept, "other_records": len(records) - len(images)}

    def _encode(self, ctx: ExportContext, record: Record, entry: ImagingEntry, data: bytes) -> bytes:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(data)) as opened:
                image = opened.convert("L") if opened.mode in ("L", "I", "I;16", "1") else opened.convert("RGB")
        except (UnidentifiedImageError, OSError) as err:
            raise ExportError(f"record {record.id!r}: {record.payload.media.path!r} is not a readable image "  # type: ignore[union-attr]
                              f"({err})") from None
        provenance = record.provenance
        embedded = {"record_id": record.id, "parents": list(record.parents), "labels": record.labels,
                    "provenance": provenance.model_dump(mode="json", exclude={"created_at"})}
        model = provenance.model.name if provenance.model is not None else provenance.generator
        return encode_dicom(image, embedded, seed=provenance.seed, index=entry.instance_number - 1,
                            case_id=record.case_id, model_name=model, software_version=provenance.generator_version,
                            params=_step_params(ctx, entry), uids=entry.uids, series_number=entry.series_number)


def _step_params(ctx: ExportContext, entry: ImagingEntry) -> DicomParams:
    """The step's recipe `dicom:` settings (as `format: dicom` would have used), else the defaults."""
    for step in ctx.dataset.manifest.recipe.get("steps", []):
        if isinstance(step, dict) and step.get("name") == entry.step:
            settings = (step.get("params") or {}).get("dicom")
            if isinstance(settings, dict):
                return DicomParams.model_validate(settings)
    return DicomParams(modality=entry.modality)


def _restamp(data: bytes, entry: ImagingEntry, record: Record) -> bytes:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except InvalidDicomError as err:
        raise ExportError(f"record {record.id!r}: its DICOM file is not readable ({err})") from None
    if ds.get("SOPClassUID") != SECONDARY_CAPTURE_SOP_CLASS or ds.get("SyntheticData") != "YES":
        raise ExportError(f"record {record.id!r}: its DICOM file is not a synthetic Secondary Capture "
                          f"(SOP class {ds.get('SOPClassUID')}, SyntheticData {ds.get('SyntheticData')!r}); "
                          "biosynth exports only the DICOM files it wrote")
    if ds.get("Modality") != entry.modality:
        raise ExportError(f"record {record.id!r}: its DICOM Modality {ds.get('Modality')!r} differs from its step's "
                          f"recipe setting {entry.modality!r}")
    ds.StudyInstanceUID = entry.uids.study
    ds.SeriesInstanceUID = entry.uids.series
    ds.SOPInstanceUID = entry.uids.instance
    ds.file_meta.MediaStorageSOPInstanceUID = entry.uids.instance
    ds.SeriesNumber = entry.series_number
    ds.InstanceNumber = entry.instance_number
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "x"
