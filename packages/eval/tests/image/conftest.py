"""Real image tiles from the pictures scikit-image ships (offline), split without overlap into training, held-out
and unseen sets, and a small core generator that writes image records, so the CLI runs on a real dataset folder."""

from __future__ import annotations

import io
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from PIL import Image

from biosynth.core import Draft, Generator, GeneratorParams, ImagePayload, SampleRequest, StepContext
from biosynth.eval._image.io import ImageSet

TILE = 32


def _tiles(image: np.ndarray, count: int, seed: int) -> list[np.ndarray]:
    rgb = np.asarray(Image.fromarray(image).convert("RGB"))
    rows, cols = rgb.shape[0] // TILE, rgb.shape[1] // TILE
    grid = [(r, c) for r in range(rows) for c in range(cols)]
    chosen = np.random.default_rng(seed).permutation(len(grid))[:count]
    return [rgb[grid[k][0] * TILE:(grid[k][0] + 1) * TILE, grid[k][1] * TILE:(grid[k][1] + 1) * TILE] for k in chosen]


@pytest.fixture(scope="session")
def tiles() -> dict[str, list[np.ndarray]]:
    """60 disjoint 32x32 tiles of each of three scikit-image pictures (retina, IHC, cells); the splits use 36."""
    from skimage import data

    return {"retina": _tiles(data.retina()[300:1100, 300:1100], 60, 1), "ihc": _tiles(data.immunohistochemistry(), 60, 2),
            "cell": _tiles(data.cell(), 60, 3)}


def image_set(tiles: dict[str, list[np.ndarray]], start: int, stop: int) -> ImageSet:
    images, names, labels = [], [], []
    for name, found in tiles.items():
        for k in range(start, stop):
            images.append(found[k])
            names.append(f"{name}/{k:03d}.png")
            labels.append(name)
    return ImageSet(images=images, names=names, labels=labels)


@pytest.fixture(scope="session")
def splits(tiles) -> dict[str, ImageSet]:
    """Per class: 12 training, 8 held-out (calibration), 8 unseen, and 8 more as a stand-in 'synthetic' set."""
    return {"train": image_set(tiles, 0, 12), "holdout": image_set(tiles, 12, 20), "unseen": image_set(tiles, 20, 28),
            "other": image_set(tiles, 28, 36)}


def _write_folder(images: ImageSet, folder: Path) -> Path:
    for image, name in zip(images.images, images.names, strict=True):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / name)
    return folder


@pytest.fixture(scope="session")
def write_folder():
    """`write_folder(image_set, folder)`: the images as PNG files under their names (class sub-folders)."""
    return _write_folder


@pytest.fixture(scope="session")
def tile_generator(tiles) -> type:
    """A core generator class that writes real tiles as image records."""
    TileImages.tiles = tiles
    return TileImages


class TileParams(GeneratorParams):
    classes: tuple[str, ...] = ("retina", "ihc", "cell")
    first: int = 40
    dicom: bool = False  # write pydicom's CT_small test file instead (a synthetic DICOM's pixels are read too)


class TileImages(Generator[TileParams]):
    """Writes real tiles as 'synthetic' image records (class label `tissue`, a caption): a stand-in generator whose
    output the image metrics can be checked on; the tiles come from `TileImages.tiles`."""

    name = "test_tiles"
    tiles: ClassVar[dict[str, list[np.ndarray]]] = {}

    def _generate_one(self, request: SampleRequest, ctx: StepContext) -> Draft:
        tissue = self.params.classes[request.index % len(self.params.classes)]
        if self.params.dicom:
            from pydicom.data import get_testdata_file

            data = Path(get_testdata_file("CT_small.dcm")).read_bytes()
            media = ctx.write_media(request.index, ".dcm", data, "application/dicom")
            return Draft(payload=ImagePayload(media=media, width=128, height=128), labels={"tissue": tissue})
        image = self.tiles[tissue][self.params.first + request.index // len(self.params.classes)]
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        media = ctx.write_media(request.index, ".png", buffer.getvalue(), "image/png")
        return Draft(payload=ImagePayload(media=media, width=TILE, height=TILE, caption=f"a tile of {tissue} tissue"),
                     labels={"tissue": tissue})


@pytest.fixture(scope="session")
def lite():
    """EfficientNet-Lite0 with the shipped weights, on 64 px inputs (224 is the default; smaller keeps tests quick)."""
    from biosynth.eval._image.features import EfficientNetLite0Features

    return EfficientNetLite0Features(resolution=64)


@pytest.fixture(scope="session")
def lite_features(lite, splits) -> dict[str, np.ndarray]:
    """Every split's features, extracted once for the session."""
    from biosynth.eval._image.features import extract

    return {name: extract(lite, images.images) for name, images in splits.items()}
