"""Datasets to review: text notes from core's template generator, and tiny PNG images from a test generator."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from biosynth.core import (
    Draft,
    Generator,
    GeneratorParams,
    Group,
    ImagePayload,
    Registry,
    SampleRequest,
    StepContext,
    parse_recipe,
    run_recipe,
)


@pytest.fixture(scope="session")
def notes_dataset(tmp_path_factory) -> Path:
    """12 text records (step 'notes') made from 12 attribute rows (step 'patients')."""
    root = tmp_path_factory.mktemp("review-notes") / "ds"
    recipe = parse_recipe({"name": "review-notes", "seed": 11, "steps": [
        {"name": "patients", "generator": "attributes", "count": 12,
         "params": {"table": "patients", "attributes": {"age": {"type": "integer", "low": 18, "high": 90},
                                                        "diagnosis": ["asthma", "heart failure", "COPD"]}}},
        {"name": "notes", "generator": "template", "from": "patients",
         "params": {"template": "${age}-year-old patient admitted with ${diagnosis}."}}]})
    run_recipe(recipe, root)
    return root


class PixelParams(GeneratorParams):
    size: int = 8


class PixelImages(Generator[PixelParams]):
    """Writes a tiny seeded PNG per record, with a caption."""

    name = "test_pixels"

    def _generate_one(self, request: SampleRequest, ctx: StepContext) -> Draft:
        pixels = np.random.default_rng(request.index).integers(0, 255, (self.params.size, self.params.size, 3))
        buffer = io.BytesIO()
        Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
        media = ctx.write_media(request.index, ".png", buffer.getvalue(), "image/png")
        return Draft(payload=ImagePayload(media=media, width=self.params.size, height=self.params.size,
                                          caption=f"chest radiograph {request.index}"))


@pytest.fixture(scope="session")
def images_dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("review-images") / "ds"
    registry = Registry()
    registry.register(Group.GENERATORS, "test_pixels", PixelImages)
    run_recipe(parse_recipe({"name": "review-images", "seed": 2, "steps": [
        {"name": "xray", "generator": "test_pixels", "count": 4}]}), root, registry=registry)
    return root
