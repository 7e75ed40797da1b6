"""Datasets to review: text notes from core's template generator, and tiny PNG images from a test generator."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from biosynth.core import (
    AudioPayload,
    AudioSegment,
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


class ToneParams(GeneratorParams):
    rate: int = 8000


class ToneClips(Generator[ToneParams]):
    """Writes a 0.1 s WAV tone per record, with one transcribed turn."""

    name = "test_tones"

    def _generate_one(self, request: SampleRequest, ctx: StepContext) -> Draft:
        t = np.arange(self.params.rate // 10) / self.params.rate
        samples = (8000 * np.sin(2 * np.pi * (200 + 50 * request.index) * t)).astype("<i2")
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(self.params.rate)
            out.writeframes(samples.tobytes())
        media = ctx.write_media(request.index, ".wav", buffer.getvalue(), "audio/wav")
        return Draft(payload=AudioPayload(media=media, sample_rate=self.params.rate, duration_s=0.1, segments=(
            AudioSegment(start_s=0.0, end_s=0.1, speaker="doctor", text=f"take dose {request.index}"),)))


@pytest.fixture(scope="session")
def audio_dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("review-audio") / "ds"
    registry = Registry()
    registry.register(Group.GENERATORS, "test_tones", ToneClips)
    run_recipe(parse_recipe({"name": "review-audio", "seed": 3, "steps": [
        {"name": "calls", "generator": "test_tones", "count": 2}]}), root, registry=registry)
    return root
