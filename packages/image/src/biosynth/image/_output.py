"""Writing a generated image: PNG or DICOM through core's `write_media`, carrying the provenance the record holds."""

from __future__ import annotations

from typing import Any, Literal

from biosynth.core import Draft, Generator, ImagePayload, MediaRef, Provenance, SampleRequest, StepContext
from biosynth.image._dicom import DicomParams

OutputFormat = Literal["png", "dicom"]


def placeholder(width: int, height: int) -> ImagePayload:
    """A payload to build a draft's facts before the file exists (replaced by the real one)."""
    return ImagePayload(media=MediaRef(path="pending", sha256="0" * 64, mime_type="image/png", bytes=0),
                        width=width, height=height)


def write_image(generator: Generator[Any], request: SampleRequest, image: Any, draft: Draft, ctx: StepContext, *,
                fmt: OutputFormat, dicom: DicomParams, model_name: str) -> MediaRef:
    """The image file, with `record_id`, `parents`, `labels` and the record's provenance (no `created_at`)."""
    provenance = Provenance(generator=generator.name, generator_version=generator.version(), step=ctx.step,
                            seed=request.seed, **draft.facts())
    embedded = {"record_id": f"{ctx.step}-{request.index:06d}",
                "parents": [request.input.id] if request.input is not None else [],
                "labels": draft.labels, "provenance": provenance.model_dump(mode="json", exclude={"created_at"})}
    if fmt == "png":
        from biosynth.image._png import encode_png

        return ctx.write_media(request.index, ".png", encode_png(image, embedded), "image/png")
    from biosynth.image._dicom import encode_dicom

    case_id = request.input.case_id if request.input is not None else f"case-{ctx.step}-{request.index:06d}"
    data = encode_dicom(image, embedded, seed=request.seed, index=request.index, case_id=case_id,
                        model_name=model_name, software_version=generator.version(), params=dicom)
    return ctx.write_media(request.index, ".dcm", data, "application/dicom")


def require_dicom(name: str, fmt: OutputFormat) -> None:
    """Refuse `format: dicom` at setup when pydicom/highdicom are not installed."""
    if fmt != "dicom":
        return
    try:
        import highdicom  # noqa: F401
    except ImportError:
        from biosynth.core import ConfigError

        raise ConfigError(f"{name}: format 'dicom' needs pydicom and highdicom: pip install 'biosynth-image[dicom]'") from None
