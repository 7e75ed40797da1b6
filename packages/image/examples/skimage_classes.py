"""Write crops of the images that ship with scikit-image into class sub-folders, as training data for
`biosynth image train-default` (offline; pip install scikit-image).

    python packages/image/examples/skimage_classes.py packages/image/examples/skimage-data \
        packages/image/examples/skimage-holdout

Classes: `retina` (a fundus photograph), `microaneurysms` (a retinal detail), `cell` (a microscopy image),
`ihc` (immunohistochemistry); 24 crops of 64x64 pixels each, grayscale. The optional second folder gets 8 more
crops per class at positions no training crop has, for `biosynth evaluate --holdout` (the generator never trains on
them; they come from the same four pictures, so they show how close an honest new crop comes to the training crops).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image


def write_classes(folder: Path, *, per_class: int = 24, size: int = 64, seed: int = 0, holdout: Path | None = None,
                  holdout_per_class: int = 8) -> Path:
    """`per_class` crops per class into `folder`; with `holdout`, `holdout_per_class` more per class there, at
    positions none of the training crops has (a held-out crop identical to a training crop is not held out)."""
    from skimage import data

    sources = {"retina": data.retina(), "microaneurysms": data.microaneurysms(), "cell": data.cell(),
               "ihc": data.immunohistochemistry()}
    rng = np.random.default_rng(seed)
    other = np.random.default_rng(seed + 1)
    for name, image in sources.items():
        gray = np.asarray(Image.fromarray(image).convert("L"))
        crop = min(size, *gray.shape)
        (folder / name).mkdir(parents=True, exist_ok=True)
        used = set()
        for k in range(per_class):
            top = int(rng.integers(0, gray.shape[0] - crop + 1))
            left = int(rng.integers(0, gray.shape[1] - crop + 1))
            used.add((top, left))
            Image.fromarray(gray[top:top + crop, left:left + crop]).save(folder / name / f"{k:03d}.png")
        if holdout is None:
            continue
        (holdout / name).mkdir(parents=True, exist_ok=True)
        k = 0
        while k < holdout_per_class:
            top = int(other.integers(0, gray.shape[0] - crop + 1))
            left = int(other.integers(0, gray.shape[1] - crop + 1))
            if (top, left) in used:
                continue
            used.add((top, left))
            Image.fromarray(gray[top:top + crop, left:left + crop]).save(holdout / name / f"{k:03d}.png")
            k += 1
    return folder


if __name__ == "__main__":
    print(write_classes(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "skimage-data"),
                        holdout=Path(sys.argv[2]) if len(sys.argv) > 2 else None))
