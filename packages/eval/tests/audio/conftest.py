"""Spoken scenes for the audio metrics, rendered once per session through the registry: a test generator writes
fixed clinical dialogues, biosynth-audio's `dialogue_audio` (found by entry point, never imported) speaks them with
two espeak-ng voices, in a studio step (ward noise at 15 dB) and a telephone step (ambulance noise at 10 dB). A
second dataset with other voices and a slower rate, copied out as a folder of FLAC files with JSON transcripts,
stands in for real recordings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from biosynth.core import (
    DialoguePayload,
    Draft,
    Generator,
    GeneratorParams,
    Group,
    Registry,
    SampleRequest,
    StepContext,
    SyntheticDataset,
    Turn,
    parse_recipe,
    run_recipe,
)

LINES = [
    [("Paramedic", "paramedic", "Can you hear me? We are taking you to the hospital now."),
     ("Patient", "patient", "My chest hurts and my left arm feels numb."),
     ("Paramedic", "paramedic", "Your blood pressure is 150/90. I will give you aspirin, 325 mg to chew."),
     ("Patient", "patient", "Thank you, the pain started about an hour ago.")],
    [("Doctor", "doctor", "Good morning, what brings you in today?"),
     ("Patient", "patient", "I have had a cough and a fever since Tuesday."),
     ("Doctor", "doctor", "Let me listen to your lungs. Take a deep breath for me."),
     ("Patient", "patient", "It hurts a little when I breathe in.")],
]


class _LinesParams(GeneratorParams):
    pass


class _FixedDialogues(Generator[_LinesParams]):
    """Test generator: the dialogues of LINES in turn."""

    name = "fixed_dialogues"

    def _generate_one(self, request: SampleRequest, ctx: StepContext) -> Draft:
        lines = LINES[request.index % len(LINES)]
        return Draft(payload=DialoguePayload(turns=tuple(Turn(speaker=s, role=r, text=t) for s, r, t in lines)))


def _espeak(variant: str, **extra: Any) -> dict[str, Any]:
    return {"voice": {"kind": "tts_voice", "backend": "espeak", "params": {"variant": variant, **extra}}}


def _scene(voices: list[dict[str, Any]], noise: dict[str, Any], channel: str) -> dict[str, Any]:
    return {"voice_pool": voices, "noise": noise, "channel": {"kind": channel},
            "timing": {"overlap_probability": 0.0, "gap_s": [0.4, 0.6]}}


def _render(root: Path, voices: list[dict[str, Any]], count: int, *, phone: bool = True) -> SyntheticDataset:
    registry = Registry()
    registry.register(Group.GENERATORS, "fixed_dialogues", _FixedDialogues)
    steps = [{"name": "talks", "generator": "fixed_dialogues", "count": count},
             {"name": "studio", "generator": "dialogue_audio", "from": "talks",
              "params": _scene(voices, {"kind": "ward", "snr_db": 15}, "studio")}]
    if phone:
        steps.append({"name": "phone", "generator": "dialogue_audio", "from": "talks",
                      "params": _scene(voices, {"kind": "ambulance", "snr_db": 10}, "telephone")})
    recipe = parse_recipe({"name": "spoken", "seed": 11, "steps": steps})
    run_recipe(recipe, root, registry=registry)
    return SyntheticDataset(root)


@pytest.fixture(scope="session")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> SyntheticDataset:
    return _render(tmp_path_factory.mktemp("spoken") / "ds", [_espeak("m3"), _espeak("f2")], 1)


@pytest.fixture(scope="session")
def real_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Recordings as a user would give them: <name>.flac with <name>.json (turns) beside it."""
    base = tmp_path_factory.mktemp("real")
    dataset = _render(base / "ds", [_espeak("m1", speed=140), _espeak("f4", speed=140)], 2, phone=False)
    folder = base / "recordings"
    folder.mkdir()
    for record in dataset.records("studio"):
        audio = dataset.root / record.payload.media.path
        transcript = next(a for a in record.payload.attachments if a.path.endswith(".transcript.json"))
        shutil.copy(audio, folder / audio.name)
        turns = json.loads((dataset.root / transcript.path).read_text())["turns"]
        (folder / audio.name).with_suffix(".json").write_text(json.dumps({"turns": [
            {k: t[k] for k in ("speaker", "start", "end", "text")} for t in turns]}))
    return folder
