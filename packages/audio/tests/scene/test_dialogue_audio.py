"""`dialogue_audio`: core's generator contract, byte-identical repeats, onsets where the transcript says, the
SNR asked for, the telephone channel, and the written transcript, RTTM and NeMo manifest."""

from __future__ import annotations

import importlib.util
import io
import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from biosynth.core import (
    DialoguePayload,
    Modality,
    Provenance,
    Record,
    SampleFailure,
    SampleRequest,
    StepContext,
    Turn,
    default_registry,
    derive_seed,
)
from biosynth.core._generator import generator_class
from biosynth.core.testing import GeneratorContract

LINES = [
    [("Doctor", "doctor", "Good morning, what brings you in today?"),
     ("Patient", "patient", "I have had SOB since Tuesday, Dr. Smith."),
     ("Doctor", "doctor", "Your BP is 135/85. Take 5 mg PO b.i.d.")],
    [("Paramedic", "paramedic", "Can you hear me? We are taking you to the hospital."),
     ("Patient", "patient", "My chest hurts, it started at 3:30 p.m."),
     ("Paramedic", "paramedic", "We will give you 0.4 mg SL now.")],
]


def dialogue_records() -> list[Record]:
    return [Record(id=f"talk-{i:06d}", case_id=f"case-{i}", modality=Modality.DIALOGUE,
                   payload=DialoguePayload(turns=tuple(Turn(speaker=s, role=r, text=t) for s, r, t in lines)),
                   provenance=Provenance(generator="dialogue", generator_version="test", seed=i))
            for i, lines in enumerate(LINES)]


def espeak(variant: str, **extra: Any) -> dict[str, Any]:
    return {"voice": {"kind": "tts_voice", "backend": "espeak", "params": {"variant": variant}}, **extra}


def espeak_params(**overrides: Any) -> dict[str, Any]:
    return {"voice_pool": [espeak("m3"), espeak("f2", resample_factor=1.05)], **overrides}


class TestDialogueAudioContract(GeneratorContract):
    generator_name = "dialogue_audio"
    writes_media = True
    n_samples = 3

    def make_params(self) -> dict[str, Any]:  # one role in a seeded shoebox room: rooms repeat with the seed too
        room = {"kind": "shoebox", "rt60_s": [0.2, 0.4]}
        return espeak_params(voice_pool=[espeak("m3", room=room), espeak("f2", resample_factor=1.05)],
                             noise={"kind": "ward", "snr_db": 15})

    def make_inputs(self) -> list[Record]:
        return dialogue_records()


def _render(tmp_path: Path, params: dict[str, Any], *, seed: int = 5, which: int = 0) -> tuple[Record, Path]:
    cls = generator_class(default_registry(), "dialogue_audio")
    ctx = StepContext(step="speech", seed=1, root=tmp_path)
    [outcome] = cls(params).generate([SampleRequest(which, derive_seed(seed, which), dialogue_records()[which])], ctx)
    assert isinstance(outcome, Record), outcome
    return outcome, tmp_path / outcome.payload.media.path


@pytest.mark.skipif(importlib.util.find_spec("piper") is None, reason="pip install 'biosynth-audio[piper]'")
def test_piper_at_zero_noise_scales_repeats_byte_for_byte(tmp_path: Path) -> None:
    _, first = _render(tmp_path / "a", {"noise": {"kind": "home", "snr_db": 25}})
    record, second = _render(tmp_path / "b", {"noise": {"kind": "home", "snr_db": 25}})
    assert first.read_bytes() == second.read_bytes()
    assert record.provenance.model is not None and record.provenance.model.backend == "piper"
    voices = record.provenance.extra["voices"]
    assert voices["doctor"]["resample_factor"] != voices["patient"]["resample_factor"]  # one voice, two speakers
    assert all(t["voice"]["noise_scale"] == 0 and t["voice"]["noise_w_scale"] == 0
               for t in record.provenance.extra["turns"])


def _measured_ir(path: Path, rate: int = 16000, delay: int = 300) -> Path:
    """An impulse response as a user would record it: `delay` samples of silence, then a decaying tail."""
    g = np.random.default_rng(2)
    tail = g.standard_normal(rate // 3) * np.exp(-np.arange(rate // 3) / (0.06 * rate)) * 0.3
    tail[0] = 1.0
    sf.write(path, np.concatenate([np.zeros(delay), tail]).astype(np.float32), rate)
    return path


@pytest.mark.parametrize("rooms", [False, True], ids=["dry", "rooms"])
def test_each_turn_starts_within_20_ms_of_its_stated_start(tmp_path: Path, rooms: bool) -> None:
    """With rooms on (a seeded shoebox for one role, a measured IR with 300 samples of delay for the other), the
    direct-path delay is subtracted: onsets stay where the transcript says."""
    pool = [espeak("m3"), espeak("f2", resample_factor=1.05)]
    if rooms:
        pool[0]["room"] = {"kind": "shoebox", "rt60_s": [0.3, 0.5]}
        pool[1]["room"] = {"kind": "file", "file": {"path": str(_measured_ir(tmp_path / "ir.wav")), "real": False}}
    params = espeak_params(voice_pool=pool, noise={"kind": "none"}, format="wav",
                           timing={"overlap_probability": 0.0, "gap_s": [0.3, 0.6]})
    for which in (0, 1):
        record, path = _render(tmp_path / str(which), params, which=which)
        audio, rate = sf.read(path, dtype="float32")
        hop = round(0.005 * rate)
        frames = audio[: len(audio) // hop * hop].reshape(-1, hop)
        energy = np.sqrt(np.mean(frames**2, axis=1))
        threshold = energy.max() * 10 ** (-35 / 20)
        for segment in record.payload.segments:
            first = round((segment.start_s - 0.2) / 0.005)  # the gap before a turn is silent
            onset = (first + int(np.flatnonzero(energy[first:] > threshold)[0])) * 0.005
            assert abs(onset - segment.start_s) <= 0.020, (segment, onset)
        if rooms:
            shoebox, measured = (voice["room"] for voice in record.provenance.extra["voices"].values())
            assert 0.3 <= shoebox["rt60_s"] <= 0.5 and shoebox["direct_path_delay_samples"] > 40
            assert shoebox["simulator"].startswith("pyroomacoustics")
            assert measured["kind"] == "file" and measured["direct_path_delay_samples"] == 300


def test_noise_is_added_at_the_snr_asked_for(tmp_path: Path) -> None:
    clean_record, clean = _render(tmp_path / "clean", espeak_params(noise={"kind": "none"}, format="wav"))
    for kind in ("ward", "ambulance", "home", "white"):
        record, noisy = _render(tmp_path / kind, espeak_params(noise={"kind": kind, "snr_db": 10}, format="wav"))
        assert record.provenance.extra["scene"]["peak_guard_db"] == 0 == clean_record.provenance.extra["scene"]["peak_guard_db"]
        speech, _ = sf.read(clean, dtype="float64")
        mixed, _ = sf.read(noisy, dtype="float64")
        achieved = 10 * math.log10(np.mean(speech**2) / np.mean((mixed - speech) ** 2))
        assert abs(achieved - 10) < 0.2, (kind, achieved)
        # the generator records what it reached, measured on its own stems
        assert abs(record.provenance.extra["scene"]["noise"]["achieved"]["mixed_db"] - achieved) < 0.2
    assert clean_record.provenance.extra["scene"]["noise"]["achieved"] is None


def test_a_user_noise_file_is_looped_under_the_scene(tmp_path: Path) -> None:
    rumble = tmp_path / "rumble.wav"
    sf.write(rumble, np.random.default_rng(0).standard_normal(4000).astype(np.float32) * 0.1, 8000)
    record, _ = _render(tmp_path / "out", espeak_params(noise={"kind": "file", "file": {"path": str(rumble), "real": False}}))
    assert record.provenance.extra["scene"]["noise"]["kind"] == "file"


def test_telephone_channel_flac_tags_and_sidecars(tmp_path: Path) -> None:
    record, path = _render(tmp_path, espeak_params(channel={"kind": "telephone"}, timing={"overlap_probability": 1.0}))
    info = sf.info(path)
    assert info.samplerate == 8000 == record.payload.sample_rate and info.format == "FLAC"
    with sf.SoundFile(path) as f:
        tags = f.copy_metadata()
    comment = json.loads(tags["comment"])
    assert comment["synthetic_speech"] is True and "synthetic speech" in tags["artist"]
    assert comment["scene"]["channel"]["kind"] == "telephone"
    assert comment["scene"]["noise"]["achieved"]["after_channel_db"] > comment["scene"]["noise"]["achieved"]["mixed_db"]
    # overlaps: each later turn starts before the previous one ends
    segments = record.payload.segments
    assert all(b.start_s < a.end_s for a, b in itertools.pairwise(segments))

    extra = record.provenance.extra
    assert extra["synthetic_speech"] is True
    sidecars = {name: tmp_path / ref["path"] for name, ref in extra["sidecars"].items()}
    assert sorted(str(tmp_path / a.path) for a in record.payload.attachments) == sorted(map(str, sidecars.values()))
    transcript = json.loads(sidecars["transcript"].read_text())
    assert [(t["start"], t["end"], t["speaker"]) for t in transcript["turns"]] == \
        [(s.start_s, s.end_s, s.speaker) for s in segments]
    assert transcript["turns"][2]["normalised_text"].startswith("Your blood pressure is one thirty-five over eighty-five.")
    assert transcript["turns"][2]["reference_text"] == transcript["turns"][2]["normalised_text"]  # no drug name here
    rttm = sidecars["rttm"].read_text().splitlines()
    assert len(rttm) == 3 and rttm[0].split()[:5] == ["SPEAKER", path.stem, "1", f"{segments[0].start_s:.3f}",
                                                      f"{segments[0].end_s - segments[0].start_s:.3f}"]
    nemo = json.loads(sidecars["nemo_manifest"].read_text())
    assert nemo["audio_filepath"] == record.payload.media.path and nemo["num_speakers"] == 2
    assert nemo["duration"] == pytest.approx(record.payload.duration_s)


def test_more_roles_than_voices_is_a_recorded_failure(tmp_path: Path) -> None:
    cls = generator_class(default_registry(), "dialogue_audio")
    ctx = StepContext(step="speech", seed=1, root=tmp_path)
    [outcome] = cls({"voice_pool": [espeak("m3")]}).generate([SampleRequest(0, 3, dialogue_records()[0])], ctx)
    assert isinstance(outcome, SampleFailure) and "voice_pool" in outcome.reason


def test_wav_repeats_and_seeds_change_the_scene(tmp_path: Path) -> None:
    params = espeak_params(format="wav")
    _, a = _render(tmp_path / "a", params, seed=1)
    _, b = _render(tmp_path / "b", params, seed=1)
    _, c = _render(tmp_path / "c", params, seed=2)
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    assert sf.info(io.BytesIO(a.read_bytes())).format == "WAV"
