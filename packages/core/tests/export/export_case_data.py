"""A tiny multimodal dataset for the FHIR, OMOP and DICOM exporter tests, built by core's runner.

Two synthetic patients (`attributes`: sex, birth decade, age band), a visit history each (even patients: dated
visits coded in ICD-10-CM, conditions only; odd patients: undated visits of OMOP concept ids for conditions, drugs
and procedures, whose domains and names are in `vocabulary.json`), a discharge note each (`template`), a PNG
scan per note with a caption, and a WAV clip per note with spoken segments and a transcript file.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import wave
from pathlib import Path

import numpy as np
from PIL import Image

from biosynth.core import (
    AudioPayload,
    AudioSegment,
    Draft,
    Generator,
    GeneratorParams,
    Group,
    ImagePayload,
    Modality,
    ModelRef,
    Registry,
    SampleRequest,
    StepContext,
    Strategy,
    Visit,
    VisitSequencePayload,
    parse_recipe,
    run_recipe,
)
from biosynth.core._progress import LogProgress
from biosynth.core._seeding import rng

HISTORY_MODEL = ModelRef(name="tiny-halo", backend="halo", revision="v1", sha256="ab" * 32, license="Apache-2.0")
# OMOP concept ids (OHDSI vocabulary) with their domains, as a saved HALO folder's vocabulary.json holds them
OMOP_VOCABULARY = {
    "code_names": {"320128": "Essential hypertension", "1112807": "aspirin", "4163872": "Plain chest X-ray",
                   "201826": "Type 2 diabetes mellitus"},
    "code_domains": {"320128": "condition", "1112807": "drug", "4163872": "procedure", "201826": "Condition"},
}


class Histories(Generator[GeneratorParams]):
    """Two or three visits per patient; ICD-10-CM dated visits or OMOP undated ones (see the module doc)."""

    name = "histories"
    input_required = True

    def _generate_one(self, request: SampleRequest, ctx: StepContext) -> Draft:
        assert request.input is not None
        static = {k: request.input.payload.values[k] for k in ("sex", "birth_decade", "age_band")}  # type: ignore[union-attr]
        if request.index % 2 == 0:
            first = dt.date(2020, 1, 1) + dt.timedelta(days=request.index)
            second = first + dt.timedelta(days=430)
            visits = (Visit(codes=("I10",), date=first.isoformat()),
                      Visit(codes=("E11.9", "I10"), date=second.isoformat(), days_since_previous=430))
            payload = VisitSequencePayload(static=static, visits=visits, vocabulary="ICD-10-CM")
        else:
            visits = (Visit(codes=("320128", "1112807")), Visit(codes=("4163872",), days_since_previous=30),
                      Visit(codes=("201826", "1112807", "320128"), days_since_previous=365))
            payload = VisitSequencePayload(static=static, visits=visits, vocabulary="OMOP")
        return Draft(payload=payload, modality=Modality.EHR, model=HISTORY_MODEL,
                     strategy=(Strategy.LEARNED_GENERATOR,))


class Scans(Generator[GeneratorParams]):
    """A 12x10 grey PNG per note, captioned from the note."""

    name = "scans"
    input_required = True

    def _generate_one(self, request: SampleRequest, ctx: StepContext) -> Draft:
        assert request.input is not None
        pixels = rng(request.seed).integers(0, 256, size=(10, 12), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
        media = ctx.write_media(request.index, ".png", buffer.getvalue(), "image/png")
        return Draft(payload=ImagePayload(media=media, width=12, height=10, caption=f"chest film: {request.input.text}"),
                     strategy=(Strategy.DIFFUSION,))


class Clips(Generator[GeneratorParams]):
    """A 0.2 s, 8 kHz mono WAV per note with two spoken segments and a transcript file."""

    name = "clips"
    input_required = True

    def _generate_one(self, request: SampleRequest, ctx: StepContext) -> Draft:
        rate, n = 8000, 1600
        tone = (3000 * np.sin(2 * np.pi * (220 + 20 * request.index) * np.arange(n) / rate)).astype("<i2")
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as handle:
            handle.setnchannels(1)
            handle.setsampwidth(2)
            handle.setframerate(rate)
            handle.writeframes(tone.tobytes())
        media = ctx.write_media(request.index, ".wav", buffer.getvalue(), "audio/wav")
        transcript = ctx.write_media(request.index, ".txt", b"doctor: How are you?\npatient: Better.\n", "text/plain")
        segments = (AudioSegment(start_s=0.0, end_s=0.08, speaker="doctor", text="How are you?"),
                    AudioSegment(start_s=0.08, end_s=0.2, speaker="patient", text="Better."))
        return Draft(payload=AudioPayload(media=media, sample_rate=rate, duration_s=0.2, segments=segments,
                                          attachments=(transcript,)), strategy=(Strategy.TTS,))


def registry() -> Registry:
    reg = Registry()
    for cls in (Histories, Scans, Clips):
        reg.register(Group.GENERATORS, cls.name, cls)
    return reg


RECIPE = {
    "name": "export-case", "seed": 13,
    "steps": [
        {"name": "patients", "generator": "attributes", "count": 2,
         "params": {"attributes": {"sex": ["female", "male"], "birth_decade": ["1950s", "1960s"],
                                   "age_band": ["40-49", "50-59"]}}},
        {"name": "histories", "generator": "histories", "from": "patients"},
        {"name": "notes", "generator": "template", "from": "patients",
         "params": {"template": "Discharge: ${sex} patient born in the ${birth_decade}.", "document_type": "discharge summary"}},
        {"name": "scans", "generator": "scans", "from": "notes"},
        {"name": "clips", "generator": "clips", "from": "notes"},
    ],
}


def build(out: Path) -> Path:
    """Run the recipe into `out`; write `vocabulary.json` beside it; return `out`."""
    run_recipe(parse_recipe(RECIPE), out, registry=registry(), progress=LogProgress())
    (out.parent / "vocabulary.json").write_text(json.dumps(OMOP_VOCABULARY), encoding="utf-8")
    return out
