"""PNG output: the image with its provenance JSON in an iTXt chunk (readable with Pillow's `Image.text`)."""

from __future__ import annotations

import io
import json
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

PROVENANCE_KEY = "biosynth:provenance"


def encode_png(image: Image.Image, provenance: dict[str, Any]) -> bytes:
    """PNG bytes of `image` with `provenance` as canonical JSON; the same inputs give the same bytes."""
    info = PngInfo()
    info.add_itxt(PROVENANCE_KEY, json.dumps(provenance, sort_keys=True, ensure_ascii=False, separators=(",", ":")))
    info.add_text("Software", "biosynth-image")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info, optimize=False, compress_level=6)
    return buffer.getvalue()


def read_png_provenance(data: bytes | io.BytesIO | str) -> dict[str, Any]:
    """The provenance a biosynth PNG carries (a KeyError if it has none)."""
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    with Image.open(source) as image:
        image.load()
        return dict(json.loads(image.text[PROVENANCE_KEY]))  # type: ignore[attr-defined]
