"""The report's thumbnails: a few synthetic images (caption, labels, provenance) and a few real ones, as small
PNG data URIs, so report.html stays one self-contained file and report.json can redraw it."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

from biosynth.eval._image.io import ImageSet

THUMBNAIL_SIDE = 96
SHOWN = 8


def data_uri(image: np.ndarray, side: int = THUMBNAIL_SIDE) -> str:
    """The image shrunk to fit side x side (kept if smaller), as a data:image/png;base64 URI."""
    from PIL import Image

    picture = Image.fromarray(image)
    picture.thumbnail((side, side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def gallery(real: ImageSet, synthetic: ImageSet, cards: list[dict[str, Any]] | None = None,
            count: int = SHOWN) -> dict[str, Any]:
    """`{"synthetic": [...], "real": [...]}`: each item a data URI `src`, its `name`, `labels`, and for synthetic
    images the caption and provenance facts (`cards`, one per synthetic image, as `sample_cards` builds them)."""
    shown_synthetic = []
    for i in range(min(count, len(synthetic))):
        card = (cards or [])[i] if cards and i < len(cards) else {}
        record = synthetic.records[i] if i < len(synthetic.records) else None
        shown_synthetic.append({
            "src": data_uri(synthetic.images[i]), "name": synthetic.names[i],
            "caption": card.get("text") or (record.payload.caption if record is not None else None),  # type: ignore[union-attr]
            "labels": dict(record.labels) if record is not None else {},
            "provenance": card.get("provenance")})
    shown_real = [{"src": data_uri(real.images[i]), "name": real.names[i],
                   "labels": {"class": real.labels[i]} if real.labels[i] is not None else {}}
                  for i in _spread(len(real), count)]
    return {"synthetic": shown_synthetic, "real": shown_real}


def _spread(n: int, count: int) -> list[int]:
    """`count` indices spread over 0..n-1 (real folders are sorted by class, so the first few are one class)."""
    if n <= count:
        return list(range(n))
    return sorted({round(float(k)) for k in np.linspace(0, n - 1, count)})
