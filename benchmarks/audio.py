"""Benchmark: dialogue -> finished scene with biosynth-audio, per TTS backend, on 2 cores (not part of the test suite).

For each backend, the same clinical dialogues are rendered three ways, each after one warm-up dialogue:

Each measure runs --repeats times, interleaved, and the fastest run counts.

1. full scene: `dialogue_audio` with two voices of the backend, ambulance noise at 15 dB and the telephone channel
   (FLAC out, transcript JSON, RTTM and NeMo line written): real-time factor = wall time / seconds of scene audio;
2. bare scene: the same with no noise and the studio channel;
3. bare TTS: the same turns, normalised, spoken by the same voices with `Voice.synthesize` alone: real-time
   factor = wall time / seconds of speech.

The scene renderer's overhead is (full scene - bare TTS) wall time, given as a share of the bare TTS time and per
second of scene audio. The issue's target: full-scene RTF <= 0.15 for piper and espeak. Every number is printed,
misses included.

    python benchmarks/audio.py --dialogues 4 --repeats 3 --backends piper espeak

Needs: biosynth-audio[piper,coqui] and Debian espeak-ng. Times are wall-clock on this machine; compare only figures of one
run. coqui runs the tiny random-weight VITS of packages/audio/examples/build_tiny_vits.py by default: a mechanism
check of the renderer around it, not a speed claim for real Coqui voices (give --coqui-model for one).
"""

from __future__ import annotations

import argparse
import importlib.util
import os

os.environ.setdefault("OMP_NUM_THREADS", "2")  # before torch or onnxruntime load: 2 cores, as the target says
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import tempfile
import time
from pathlib import Path
from typing import Any

from run_info import print_end, print_start  # benchmarks/run_info.py, beside this script

from biosynth.core import (
    DialoguePayload,
    Group,
    Modality,
    Provenance,
    Record,
    SampleRequest,
    StepContext,
    Turn,
    default_registry,
    derive_seed,
)
from biosynth.core._generator import generator_class

TARGET_RTF = 0.15
DIALOGUES = [
    [("Paramedic", "paramedic", "Sir, can you hear me? My name is Alex, I am a paramedic. What happened today?"),
     ("Patient", "patient", "I was mowing the lawn and my chest started hurting, like something heavy sitting on it."),
     ("Paramedic", "paramedic", "Your BP is 158/94 and your heart rate is 112. Any allergies to medications?"),
     ("Patient", "patient", "No allergies. I take metoprolol 25 mg twice a day and atorvastatin at night."),
     ("Paramedic", "paramedic", "I am giving you aspirin 325 mg to chew and nitroglycerin 0.4 mg under the tongue."),
     ("Patient", "patient", "Okay. The pain started around 3:30 p.m., maybe forty minutes ago.")],
    [("Nurse", "nurse", "Good morning Mrs. Patel, how did you sleep? Any pain since the last dose?"),
     ("Patient", "patient", "Not very well. My incision aches when I turn, maybe a six out of ten."),
     ("Nurse", "nurse", "You can have acetaminophen 1 g IV q6h. Your last dose was at 2 a.m."),
     ("Patient", "patient", "Yes please. And I feel a little short of breath when I walk to the bathroom."),
     ("Nurse", "nurse", "Your oxygen saturation is 93% on room air. I will let Dr. Nguyen know this morning."),
     ("Patient", "patient", "Thank you. Should I keep using the breathing device every hour?")],
    [("Dispatcher", "dispatcher", "911, what is the address of your emergency?"),
     ("Caller", "caller", "Forty two Elm Street. My father collapsed in the kitchen and he is breathing strangely."),
     ("Dispatcher", "dispatcher", "Help is on the way. Is he awake? Can he answer you?"),
     ("Caller", "caller", "No, he is not answering. His lips look blue and he is seventy eight years old."),
     ("Dispatcher", "dispatcher", "Put the phone on speaker. I will tell you how to do chest compressions."),
     ("Caller", "caller", "Okay, the phone is on speaker, I am kneeling next to him now.")],
    [("Doctor", "doctor", "Your blood sugar this morning was 245. Have you been taking the insulin as prescribed?"),
     ("Patient", "patient", "Mostly. I skipped the evening dose twice this week because I felt dizzy."),
     ("Doctor", "doctor", "Let us change to glargine 18 units at bedtime and check your sugar before breakfast."),
     ("Patient", "patient", "Do I still take the metformin 500 mg with meals?"),
     ("Doctor", "doctor", "Yes, continue metformin. We will repeat the A1c in three months."),
     ("Patient", "patient", "All right. I will write the new dose down so I do not forget it.")],
]

VOICES: dict[str, list[dict[str, Any]]] = {
    "piper": [{"voice": {"kind": "tts_voice", "backend": "piper"}},
              {"voice": {"kind": "tts_voice", "backend": "piper"}, "resample_factor": 1.15}],
    "espeak": [{"voice": {"kind": "tts_voice", "backend": "espeak", "params": {"variant": "m3"}}},
               {"voice": {"kind": "tts_voice", "backend": "espeak", "params": {"variant": "f2"}}}],
}


def dialogue_records(n: int) -> list[Record]:
    return [Record(id=f"talk-{i:06d}", case_id=f"case-{i}", modality=Modality.DIALOGUE,
                   payload=DialoguePayload(turns=tuple(Turn(speaker=s, role=r, text=t)
                                                       for s, r, t in DIALOGUES[i % len(DIALOGUES)])),
                   provenance=Provenance(generator="benchmark", generator_version="1", seed=i))
            for i in range(n)]


def render(backend: str, records: list[Record], root: Path, *, full: bool) -> tuple[float, float]:
    """(wall seconds, scene seconds) of `dialogue_audio` over `records`, after one warm-up dialogue."""
    params: dict[str, Any] = {"voice_pool": VOICES[backend], "format": "flac"}
    if full:
        params |= {"noise": {"kind": "ambulance", "snr_db": 15}, "channel": {"kind": "telephone"}}
    else:
        params |= {"noise": {"kind": "none"}, "channel": {"kind": "studio"}}
    generator = generator_class(default_registry(), "dialogue_audio")(params)
    ctx = StepContext(step=f"{backend}_{'full' if full else 'bare'}", seed=1, root=root)
    generator.generate([SampleRequest(len(records), 7, records[0])], ctx)  # warm-up: loads the voices
    wall = audio = 0.0
    for i, record in enumerate(records):
        start = time.perf_counter()
        [outcome] = generator.generate([SampleRequest(i, derive_seed(1, i), record)], ctx)
        wall += time.perf_counter() - start
        if not isinstance(outcome, Record):
            raise SystemExit(f"{backend}: dialogue {i} failed: {outcome}")
        audio += outcome.payload.duration_s  # type: ignore[union-attr]
    return wall, audio


def bare_tts(backend: str, records: list[Record]) -> tuple[float, float]:
    """(wall seconds, speech seconds) of the voices alone on the normalised turns, two voices by role order."""
    from biosynth.audio import ClinicalNormaliser

    registry = default_registry()
    voices = [registry.get(Group.TTS_VOICES, v["voice"]["backend"])(**v["voice"].get("params", {}))
              for v in VOICES[backend]]
    normaliser = ClinicalNormaliser()
    voices[0].synthesize("Warm up.")
    wall = audio = 0.0
    for record in records:
        roles: dict[str, int] = {}
        for turn in record.payload.turns:  # type: ignore[union-attr]
            voice = voices[roles.setdefault(turn.role, len(roles)) % len(voices)]
            text = normaliser(turn.text)
            start = time.perf_counter()
            speech = voice.synthesize(text)
            wall += time.perf_counter() - start
            audio += speech.duration_s
    return wall, audio


def _tiny_vits(folder: Path) -> Path:
    """The random-weight two-speaker VITS of packages/audio/examples/build_tiny_vits.py (a mechanism check only)."""
    path = Path(__file__).resolve().parents[1] / "packages" / "audio" / "examples" / "build_tiny_vits.py"
    spec = importlib.util.spec_from_file_location("build_tiny_vits", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_tiny_vits(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dialogues", type=int, default=4)
    parser.add_argument("--backends", nargs="+", default=["piper", "espeak", "coqui"])
    parser.add_argument("--coqui-model", type=Path, help="a Coqui model folder (default: the tiny random VITS of "
                        "packages/audio/examples/build_tiny_vits.py, a mechanism check: it speaks noise)")
    parser.add_argument("--coqui-speakers", nargs=2, default=["nurse", "patient"], help="two speakers of that model")
    parser.add_argument("--torch-threads", type=int, default=2, help="torch's intra-op threads (torchaudio's DSP, "
                        "coqui); on a busy machine 1 can be much faster than 2")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each measure; the fastest counts")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:2])
    import torch

    torch.set_num_threads(args.torch_threads)
    records = dialogue_records(args.dialogues)
    print_start(["biosynth-audio", "torch", "torchaudio", "piper-tts", "coqui-tts"])
    print(f"{args.dialogues} dialogues of 6 turns, best of {args.repeats}; cores used: {len(os.sched_getaffinity(0))}; "
          f"torch threads: {args.torch_threads}; load average: {os.getloadavg()[0]:.1f}; target: full-scene RTF <= "
          f"{TARGET_RTF}")
    header = (f"{'backend':8s} {'full scene RTF':>15s} {'bare scene RTF':>15s} {'bare TTS RTF':>13s} "
              f"{'scene s':>8s} {'speech s':>9s} {'renderer overhead':>18s}  target")
    print(header)
    for backend in args.backends:
        if backend == "coqui":
            if importlib.util.find_spec("TTS") is None:
                print(f"{backend:8s} not measured: pip install 'biosynth-audio[coqui]'")
                continue
            model = args.coqui_model or _tiny_vits(Path(tempfile.mkdtemp()) / "tiny_vits")
            VOICES["coqui"] = [{"voice": {"kind": "tts_voice", "backend": "coqui",
                                          "params": {"model": str(model), "speaker": speaker}}}
                               for speaker in args.coqui_speakers]
        elif backend not in VOICES:
            print(f"{backend:8s} not measured: no such backend here")
            continue
        runs: list[tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = []
        for _ in range(args.repeats):  # interleaved, best of each: a busy machine only ever slows a run down
            with tempfile.TemporaryDirectory() as tmp:
                runs.append((render(backend, records, Path(tmp), full=True),
                             render(backend, records, Path(tmp), full=False), bare_tts(backend, records)))
        (full_wall, full_audio), (bare_wall, bare_audio), (tts_wall, tts_audio) = (
            min((run[k] for run in runs), key=lambda pair: pair[0]) for k in range(3))
        full_rtf = full_wall / full_audio
        verdict = "met" if full_rtf <= TARGET_RTF else "MISSED"
        if backend == "coqui" and args.coqui_model is None:
            verdict = "n/a: random tiny VITS (mechanism check)"
        overhead = full_wall - tts_wall
        print(f"{backend:8s} {full_rtf:15.3f} {bare_wall / bare_audio:15.3f} {tts_wall / tts_audio:13.3f} "
              f"{full_audio:8.1f} {tts_audio:9.1f} {overhead / tts_wall:+17.0%}  "
              f"{verdict}")
        print(f"{'':8s} renderer: {overhead:.2f} s over {full_audio:.1f} s of scene audio "
              f"({overhead / full_audio * 1000:.0f} ms per second of audio); wall: full {full_wall:.2f} s, bare scene "
              f"{bare_wall:.2f} s, TTS {tts_wall:.2f} s")
    print_end()


if __name__ == "__main__":
    main()
