"""Reading images to evaluate: synthetic image records from a biosynth dataset (through core's records and media
references only), real images from a folder (PNG/JPEG/TIFF/BMP, DICOM with pydicom; class sub-folders give labels)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from biosynth.core import DatasetError, ImagePayload, InputDataError, Record, SyntheticDataset

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
DICOM_SUFFIXES = (".dcm", ".dicom")


@dataclass(frozen=True)
class ImageSet:
    """Images as uint8 arrays (H x W x 3, sizes may differ), one name and one label (or None) each."""

    images: list[np.ndarray]
    names: list[str]
    labels: list[str | None]
    records: list[Record] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)

    def labelled(self) -> bool:
        return any(label is not None for label in self.labels)


def holds_images(dataset: SyntheticDataset, step: str | None = None) -> bool:
    """Whether the chosen step (or the dataset) holds image records and no table rows. An image record's text is
    its caption: a step of images (and the reports or QA pairs written from them, when no step is named) is an
    image evaluation; pass --step to score the texts instead."""
    kinds = {r.payload.kind for r in dataset.records(step)}
    return "image" in kinds and "table_row" not in kinds


def synthetic_images(dataset: SyntheticDataset, step: str | None = None, label: str | None = None) -> ImageSet:
    """The image records of a dataset (optionally one step) read from their media files, each checked against the
    sha256 its record holds; `label` names the record label to use as the class (None: no labels)."""
    records = [r for r in dataset.records(step) if isinstance(r.payload, ImagePayload)]
    if not records:
        where = f"step {step!r}" if step else "any step"
        raise DatasetError(f"dataset {str(dataset.root)!r} holds no image records in {where} "
                           f"(steps: {list(dataset.manifest.steps)})")
    images = []
    for record in records:
        media = record.payload.media  # type: ignore[union-attr]
        path = dataset.root / media.path
        try:
            data = path.read_bytes()
        except OSError as err:
            raise DatasetError(f"image {media.path!r} of record {record.id!r} cannot be read: {err}; run "
                               "`biosynth inspect` on the dataset") from None
        if hashlib.sha256(data).hexdigest() != media.sha256:
            raise DatasetError(f"image {media.path!r} of record {record.id!r} does not match its sha256; the dataset "
                               "was changed after it was written")
        if path.suffix.lower() in DICOM_SUFFIXES:
            images.append(_decode_dicom(data, path, f"record {record.id!r}:"))
        else:
            images.append(_decode(data, path, f"the image of record {record.id!r}"))
    labels = [None if label is None or r.labels.get(label) is None else str(r.labels[label]) for r in records]
    return ImageSet(images=images, names=[r.payload.media.path for r in records], labels=labels,  # type: ignore[union-attr]
                    records=records)


def record_label_names(images: ImageSet) -> list[str]:
    """The label names every synthetic image record carries (sorted)."""
    if not images.records:
        return []
    common = set(images.records[0].labels)
    for record in images.records[1:]:
        common &= set(record.labels)
    return sorted(common)


def read_real_images(path: str | Path, role: str = "--real") -> ImageSet:
    """Every image in a folder, sorted by path. Images directly in the folder are unlabelled; images in its
    sub-folders (one level) take the sub-folder's name as their class; both at once is an error."""
    folder = Path(path)
    if not folder.exists():
        raise InputDataError(f"{role} {str(folder)!r} does not exist; expected a folder of images (PNG/JPEG, DICOM), "
                             "optionally in class sub-folders")
    if not folder.is_dir():
        raise InputDataError(f"{role} {str(folder)!r} is a file; for images expected a folder of images (PNG/JPEG, "
                             "DICOM), optionally in class sub-folders")
    suffixes = (*IMAGE_SUFFIXES, *DICOM_SUFFIXES)
    try:
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
    except OSError as err:
        raise InputDataError(f"{role} folder {str(folder)!r} cannot be listed: {err}") from None
    if not files:
        raise InputDataError(f"{role} folder {str(folder)!r} holds no images ({', '.join(suffixes)})")
    deep = [p for p in files if len(p.relative_to(folder).parts) > 2]
    if deep:
        raise InputDataError(f"{role} image {str(deep[0])!r} lies two folders deep; expected images in the folder or "
                             "in class sub-folders one level down")
    depths = {len(p.relative_to(folder).parts) for p in files}
    if depths == {1, 2}:
        loose = next(p for p in files if len(p.relative_to(folder).parts) == 1)
        raise InputDataError(f"{role} folder {str(folder)!r} holds images both directly (e.g. {loose.name!r}) and in "
                             "class sub-folders; put every image in a class sub-folder, or none")
    images, labels = [], []
    for file in files:
        images.append(_read_file(file, role))
        labels.append(file.parent.name if depths == {2} else None)
    return ImageSet(images=images, names=[p.relative_to(folder).as_posix() for p in files], labels=labels)


def _read_file(file: Path, role: str) -> np.ndarray:
    try:
        data = file.read_bytes()
    except OSError as err:
        raise InputDataError(f"{role} image {str(file)!r} cannot be read: {err}") from None
    if file.suffix.lower() in DICOM_SUFFIXES:
        return _decode_dicom(data, file, role)
    return _decode(data, file, f"{role} image {str(file)!r}")


def _decode(data: bytes, path: Path, what: str) -> np.ndarray:
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return np.asarray(_to_rgb(image), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise InputDataError(f"{what} ({str(path)!r}) is not a readable image ({type(err).__name__}: {err}); "
                             "expected PNG, JPEG, TIFF or BMP") from None


def _to_rgb(image: Any) -> Any:
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # 16-bit or float grayscale: scale to 8 bits
        values = np.asarray(image, dtype=np.float64)
        return _from_gray(_rescale(values))
    return image.convert("RGB")


def _rescale(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
    return np.round(scaled * 255).astype(np.uint8)


def _from_gray(gray: np.ndarray) -> Any:
    from PIL import Image

    return Image.fromarray(np.repeat(gray[..., None], 3, axis=2))


def _decode_dicom(data: bytes, path: Path, role: str) -> np.ndarray:
    """A DICOM file's pixels (first frame), rescaled to 8 bits, MONOCHROME1 inverted; no other attribute is read."""
    import io

    try:
        import pydicom
    except ImportError:
        raise InputDataError(f"{role} image {str(path)!r} is DICOM, which needs pydicom: "
                             "pip install 'biosynth-eval[image]'") from None
    try:
        dataset = pydicom.dcmread(io.BytesIO(data))
        pixels = np.asarray(dataset.pixel_array, dtype=np.float64)
    except Exception as err:  # noqa: BLE001 - pydicom raises many kinds for a damaged file; each is named
        raise InputDataError(f"{role} image {str(path)!r} is not a readable DICOM image ({type(err).__name__}: "
                             f"{err})") from None
    if pixels.ndim == 4 or (pixels.ndim == 3 and pixels.shape[-1] not in (3, 4)):
        pixels = pixels[0]
    if pixels.ndim == 3:
        return np.asarray(_rescale(pixels[..., :3]), dtype=np.uint8)
    if str(dataset.get("PhotometricInterpretation", "")) == "MONOCHROME1":
        pixels = pixels.max() - pixels
    return np.asarray(_from_gray(_rescale(pixels)), dtype=np.uint8)
