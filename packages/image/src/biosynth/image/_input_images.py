"""Input images of `image_to_image` and `inpaint`: a file or a folder named by a core `InputFile` (real data by
default: fingerprinted in the manifest, under the policy), or the image of a parent image record.

PNG, JPEG, TIFF and BMP load with Pillow; DICOM (`.dcm`, or a file with the DICM preamble) loads its pixels
with pydicom (rescaled to 8 bits, MONOCHROME1 inverted) and nothing else: no patient attribute of an input
is ever read into a record or an output file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from biosynth.core import ConfigError, GenerationError, ImagePayload, InputFile, Record, sha256_file

SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm"})


@dataclass(frozen=True)
class SourceImage:
    """One input image and how it is recorded (its sha256 and where it came from, never its pixels)."""

    image: Image.Image
    facts: dict[str, Any]


def list_images(file: InputFile, parameter: str) -> list[Path]:
    """The image files an `InputFile` names: the file itself, or a folder's images in sorted order."""
    path = file.path
    if path.is_file():
        return [path]
    found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
                   and not any(part.startswith(".") for part in p.relative_to(path).parts))
    if not found:
        raise ConfigError(f"`{parameter}`: {str(path)!r} holds no images ({', '.join(sorted(SUFFIXES))})")
    return found


def _is_dicom(path: Path) -> bool:
    if path.suffix.lower() == ".dcm":
        return True
    with path.open("rb") as handle:
        return handle.read(132)[128:132] == b"DICM"


def load_image(path: Path, mode: str = "RGB") -> Image.Image:
    """The pixels of an image file as a PIL image in `mode` (DICOM through pydicom, pixels only)."""
    try:
        if _is_dicom(path):
            return _dicom_pixels(path).convert(mode)
        with Image.open(path) as image:
            return image.convert(mode)
    except (OSError, ValueError, AttributeError) as err:
        raise GenerationError(f"cannot read the image {path.name!r}: {err}") from None


def _dicom_pixels(path: Path) -> Image.Image:
    try:
        import pydicom
    except ImportError:
        raise ConfigError("reading a DICOM input needs pydicom: pip install 'biosynth-image[dicom]'") from None
    ds = pydicom.dcmread(path)
    pixels = np.asarray(ds.pixel_array, dtype=np.float64)
    if pixels.ndim == 4 or (pixels.ndim == 3 and pixels.shape[-1] not in (3, 4)):
        pixels = pixels[0]  # a multi-frame image: its first frame
    if pixels.ndim == 2:
        low, high = float(pixels.min()), float(pixels.max())
        scaled = (pixels - low) / (high - low) if high > low else np.zeros_like(pixels)
        if getattr(ds, "PhotometricInterpretation", "") == "MONOCHROME1":
            scaled = 1.0 - scaled
        return Image.fromarray(np.round(scaled * 255).astype(np.uint8), mode="L")
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)[..., :3], mode="RGB")


def fit(image: Image.Image, width: int | None, height: int | None) -> Image.Image:
    """`image` resized to width x height, or (with no size given) cut down to multiples of 8."""
    if width is not None and height is not None:
        size = (width, height)
    else:
        size = (max(8, image.width - image.width % 8), max(8, image.height - image.height % 8))
    return image if image.size == size else image.resize(size, Image.Resampling.BICUBIC)


def parent_image(record: Record, root: Path) -> SourceImage:
    """The image of a parent image record (an earlier step's file under the dataset root)."""
    payload = record.payload
    if not isinstance(payload, ImagePayload):
        raise GenerationError(f"record {record.id} is not an image record; give `image` (a file or folder)")
    path = root / payload.media.path
    if not path.is_file():
        raise GenerationError(f"the image of record {record.id} ({payload.media.path}) is missing")
    return SourceImage(load_image(path), {"source": "parent", "record": record.id, "sha256": payload.media.sha256})


def input_image(files: list[Path], file: InputFile, index: int, parameter: str, mode: str = "RGB") -> SourceImage:
    """Sample `index`'s image from an InputFile's list: `files[index % len(files)]`."""
    path = files[index % len(files)]
    name = path.name if file.path.is_file() else path.relative_to(file.path).as_posix()
    return SourceImage(load_image(path, mode), {"source": parameter, "file": name, "sha256": sha256_file(path),
                                                "real": file.real})
