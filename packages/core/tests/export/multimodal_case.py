"""A tiny multimodal dataset for the HF, Croissant and card exporter tests: built by core's runner.

Three synthetic patients (`attributes`), a note each (`template`), a visit history each, a PNG scan per note
(captioned by the fake language model, reading a small "real" reference file so the policy and the source
fingerprint show up in the manifest; the third scan fails on purpose), a WAV clip per note with segments,
and a dialogue per note. Media are real PNG and WAV files (Pillow, the standard library's `wave`); each clip
has a JSON transcript attachment.
"""

from __future__ import annotations

import io
import json
import wave
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from biosynth.core import (
    AudioPayload,
    AudioSegment,
    BackendSpec,
    ChatMessage,
    ChatRequest,
    DialoguePayload,
    Draft,
    GenerationError,
    Generator,
    GeneratorParams,
    Group,
    ImagePayload,
    InputFile,
    Modality,
    PromptRef,
    Registry,
    SampleRequest,
    StepContext,
    Strategy,
    Turn,
    Visit,
    VisitSequencePayload,
    parse_recipe,
    run_recipe,
)
from biosynth.core._progress import LogProgress
from biosynth.core._seeding import rng

SCAN_TEMPLATE = "Chest radiograph of a patient described as: {note}"


class _TestGenerator:
    """A fixed version: looking one up for a module outside any distribution scans every installed package."""

    @classmethod
    def version(cls) -> str:
        return "0.0.1-test"


class ScanParams(GeneratorParams):
    # a name with spaces and brackets, as GGUF files are named: JSON-LD ids must not carry them
    model: BackendSpec = BackendSpec(backend="fake", params={"name": "Fake LLM (Q4_1 GGUF)"})
    reference: InputFile | None = None
    fail_index: int = -1


class Scans(_TestGenerator, Generator[ScanParams]):
    """A small RGB PNG per note, its caption written by the (fake) language model from the note."""

    name = "scans"
    input_required = True

    def _generate_one(self, request: SampleRequest, ctx: StepContext) -> Draft:
        assert request.input is not None
        if request.index == self.params.fail_index:
            raise GenerationError("scan renderer refused the prompt")
        model = ctx.language_model(self.params.model)
        rendered = SCAN_TEMPLATE.format(note=request.input.text)
        completion = model.generate([ChatRequest(messages=(ChatMessage(role="user", content=rendered),),
                                                 seed=request.seed)])[0]
        pixels = rng(request.seed).integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels, mode="RGB").save(buffer, format="PNG")
        media = ctx.write_media(request.index, ".png", buffer.getvalue(), "image/png")
        return Draft(
            payload=ImagePayload(media=media, width=8, height=6, caption=completion.text),
            labels={"finding": "opacity" if request.index % 2 else "normal"}, model=completion.model,
            prompt=PromptRef.build("scan-v1", SCAN_TEMPLATE, rendered, redact=ctx.redact_prompts),
            strategy=(Strategy.ZERO_SHOT,),
        )


class Clips(_TestGenerator, Generator[GeneratorParams]):
    """A 0.25 s, 8 kHz mono WAV tone per note, with two speaker segments and their transcript as an attachment."""

    name = "clips"
    input_required = True

    def _generate_one(self, request: SampleRequest, ctx: StepContext) -> Draft:
        rate, seconds = 8000, 0.25
        t = np.arange(int(rate * seconds)) / rate
        tone = (0.3 * 32767 * np.sin(2 * np.pi * (200 + 50 * request.index) * t)).astype("<i2")
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as out:  # the standard library's WAV writer: 16-bit PCM, mono
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(rate)
            out.writeframes(tone.tobytes())
        media = ctx.write_media(request.index, ".wav", buffer.getvalue(), "audio/wav")
        segments = (AudioSegment(start_s=0.0, end_s=0.1, speaker="doctor", text="How are you?"),
                    AudioSegment(start_s=0.1, end_s=0.25, speaker="patient", text="Better."))
        transcript = json.dumps([s.model_dump(mode="json") for s in segments]).encode()
        sidecar = ctx.write_media(request.index, ".json", transcript, "application/json")
        return Draft(payload=AudioPayload(media=media, sample_rate=rate, duration_s=seconds, segments=segments,
                                          attachments=(sidecar,)), strategy=(Strategy.TTS,))


class Histories(_TestGenerator, Generator[GeneratorParams]):
    """Two dated visits with ICD-10-CM codes per patient."""

    name = "histories"
    input_required = True

    def _generate_one(self, request: SampleRequest, ctx: StepContext) -> Draft:
        visits = (Visit(codes=("I10",), date=f"2020-01-0{request.index + 1}"),
                  Visit(codes=("E11.9", "I10"), date=f"2021-03-0{request.index + 1}", days_since_previous=430))
        return Draft(payload=VisitSequencePayload(static={"sex": "female"}, visits=visits, vocabulary="ICD-10-CM"),
                     strategy=(Strategy.LEARNED_GENERATOR,))


class Dialogues(_TestGenerator, Generator[GeneratorParams]):
    name = "dialogues"
    input_required = True

    def _generate_one(self, request: SampleRequest, ctx: StepContext) -> Draft:
        assert request.input is not None
        turns = (Turn(speaker="A", role="doctor", text="What brings you in?"),
                 Turn(speaker="B", role="patient", text=request.input.text or ""))
        return Draft(payload=DialoguePayload(turns=turns, setting="clinic"), modality=Modality.DIALOGUE,
                     strategy=(Strategy.MULTI_AGENT,))


def registry() -> Registry:
    reg = Registry()
    for cls in (Scans, Clips, Histories, Dialogues):
        reg.register(Group.GENERATORS, cls.name, cls)
    return reg


_SHARED: dict[str, Path] = {}


def shared(tmp_path_factory: Any) -> Path:
    """One dataset per test session for the tests that only read it (built on first use)."""
    if "path" not in _SHARED:
        _SHARED["path"] = build(tmp_path_factory.mktemp("multimodal-case") / "dataset")
    return _SHARED["path"]


def build(out: Path, *, with_failure: bool = True, patients: int = 3) -> Path:
    """Run the recipe (`patients` cases) into `out` and return it."""
    reference = out.parent / f"{out.name}-reference.csv"
    reference.parent.mkdir(parents=True, exist_ok=True)
    reference.write_text("age,sex\n61,female\n", encoding="utf-8")
    recipe = parse_recipe({
        "name": "multimodal-case", "seed": 11,
        "steps": [
            {"name": "patients", "generator": "attributes", "count": patients,
             "params": {"attributes": {"age": {"type": "integer", "low": 20, "high": 80},
                                       "sex": ["female", "male"], "bmi": {"type": "normal", "mean": 27, "sd": 4},
                                       "smoking status": ["never", "former"]},
                        "label_columns": ["sex"]}},
            {"name": "histories", "generator": "histories", "from": "patients"},
            {"name": "notes", "generator": "template", "from": "patients",
             "params": {"template": "${age}-year-old ${sex} with cough.", "document_type": "discharge"}},
            {"name": "scans", "generator": "scans", "from": "notes",
             "params": {"reference": str(reference), "fail_index": 2 if with_failure else -1}},
            {"name": "clips", "generator": "clips", "from": "notes"},
            {"name": "dialogues", "generator": "dialogues", "from": "notes"},
        ],
    })
    run_recipe(recipe, out, registry=registry(), progress=LogProgress())
    return out
