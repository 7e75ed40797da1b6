"""Audio metrics on espeak-ng scenes rendered by biosynth-audio (through the registry): WER/CER per speaker and
condition, the SNR measured against the SNR asked and recorded, speaker distinctness, durations and speaking rate
against a folder of recordings, the Fréchet audio distance, players in report.html, and `biosynth evaluate`'s
errors for bad audio inputs."""

from __future__ import annotations

import json
import math
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from biosynth.core import BiosynthError, InputDataError, SyntheticDataset
from biosynth.eval import Clip, EvaluationReport, Utterance, frechet_audio_distance, snr_error, synthetic_audio
from biosynth.eval._audio.acoustics import measured_snr
from biosynth.eval._audio.intelligibility import score
from biosynth.eval._audio.models import SpeakerEncoder
from biosynth.eval._cli import app as evaluate_app


def test_speaker_encoder_matches_resemblyzers_own_class() -> None:
    """Our GE2E forward pass on resemblyzer's weights equals resemblyzer's VoiceEncoder.embed_utterance (its VAD
    module, unused by embed_utterance, is stubbed: webrtcvad cannot import without setuptools' pkg_resources)."""
    sys.modules.setdefault("webrtcvad", types.ModuleType("webrtcvad"))
    import torch
    from resemblyzer import VoiceEncoder
    from resemblyzer.audio import normalize_volume

    theirs, ours = VoiceEncoder("cpu", verbose=False), SpeakerEncoder()
    g = np.random.default_rng(3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as ours runs: two threads on a busy 2-core machine make this LSTM 100x slower
    try:
        for n in (9000, 41_000):
            wav = (g.standard_normal(n) * 0.02).astype(np.float32)
            expected = theirs.embed_utterance(normalize_volume(wav, -30, increase_only=True))
            np.testing.assert_allclose(ours.embed(wav), expected, atol=1e-5)
    finally:
        torch.set_num_threads(threads)


def test_whisper_normaliser_scores_spoken_numbers_as_written_ones() -> None:
    assert score("Give 5 milligrams every 6 hours.", "give five milligrams every six hours") == (0, 6, 0, 31)
    errors, words, _, _ = score("Take a deep breath for me.", "Take a deep bread for me")
    assert (errors, words) == (1, 6)


def test_snr_measured_from_the_mix_alone(tmp_path: Path) -> None:
    """Tone bursts at known times under white noise at 10 dB (whole-track powers): measured within 0.3 dB."""
    rate, g = 16000, np.random.default_rng(0)
    t = np.arange(6 * rate) / rate
    speech = np.where(((t > 0.5) & (t < 2.5)) | ((t > 3.2) & (t < 5.4)), np.sin(2 * np.pi * 220 * t), 0.0) * 0.2
    noise = g.standard_normal(len(t))
    noise *= math.sqrt(np.mean(speech**2) / np.mean(noise**2) / 10)
    sf.write(tmp_path / "x.wav", (speech + noise).astype(np.float32), rate, subtype="FLOAT")
    clip = Clip(id="x", path=tmp_path / "x.wav", duration=6.0, snr_asked=10.0, noise="white", channel="studio",
                utterances=(Utterance("A", 0.5, 2.5, "a", "a"), Utterance("B", 3.2, 5.4, "b", "b")))
    assert abs(measured_snr(clip) - 10.0) < 0.3
    result = snr_error([clip], n_bootstrap=0)
    assert result.ok and result.value < 0.3 and result.details["clips"][0]["asked_db"] == 10.0


def test_suite_with_recordings_as_real_and_players_in_the_report(spoken: SyntheticDataset, real_folder: Path,
                                                                tmp_path: Path) -> None:
    done = CliRunner().invoke(evaluate_app, [str(spoken.root), "--real", str(real_folder), "--out",
                                             str(tmp_path / "r"), "--bootstrap", "20", "--seed", "4"])
    assert done.exit_code == 0, done.output
    report = EvaluationReport.model_validate_json((tmp_path / "r" / "report.json").read_text())
    by = {r.name: r for r in report.results}
    assert report.modality == "audio" and report.n_synthetic == 2 and report.n_real == 2
    assert list(by) == ["audio.wer", "audio.cer", "audio.snr_error", "audio.speaker_distinctness",
                        "audio.duration_distribution", "audio.speaking_rate", "audio.frechet_distance"]
    assert all(r.ok for r in report.results), [(r.name, r.error) for r in report.results]

    wer = by["audio.wer"]
    assert 0 <= wer.value < 0.6 and wer.details["asr"]["name"] == "whisper tiny.en"
    conditions = {row["condition"]: row["value"] for row in wer.details["per_condition"]}
    assert set(conditions) == {"studio, ward noise at 15 dB", "telephone, ambulance noise at 10 dB"}
    assert {row["speaker"] for row in wer.details["per_speaker"]} == {"Paramedic", "Patient"}
    assert "value" in wer.details["real"] and by["audio.cer"].value < wer.value

    # SNR: studio scenes measure what was asked; the phone band strips the ambulance's rumble, and the measure
    # from the delivered audio agrees with what the generator recorded from its stems after the channel
    for row in by["audio.snr_error"].details["clips"]:
        if row["condition"].startswith("studio"):
            assert abs(row["measured_db"] - 15) < 1.0 and row["recorded_mixed_db"] == pytest.approx(15, abs=0.01)
        else:
            assert abs(row["measured_db"] - row["recorded_after_channel_db"]) < 1.5
            assert row["measured_db"] > 13  # well above the 10 dB asked: the channel's filtering, reported

    distinct = by["audio.speaker_distinctness"]
    assert distinct.value > 0.8
    assert distinct.details["mean_between_speaker_distance"] > distinct.details["mean_within_speaker_distance"]
    # the "real" voices speak at 140 words a minute, the synthetic ones at 165
    rate = by["audio.speaking_rate"].details
    assert rate["unit"] == "turn" and rate["synthetic"]["p50"] > rate["real"]["p50"]
    fad = by["audio.frechet_distance"]
    assert fad.value > 0 and "whisper tiny.en encoder" in fad.details["embedding"] and fad.details["dimension"] == 384

    players = report.figures["audio_players"]
    assert len(players) == 2 and all(p["src"].startswith("data:audio/flac;base64,") for p in players)
    html = (tmp_path / "r" / "report.html").read_text()
    assert html.count("<audio controls") == 2 and "id='audio-players'" in html
    assert players[0]["turns"][0]["text"] in html


def test_without_real_only_what_needs_no_reference_is_scored(spoken: SyntheticDataset, tmp_path: Path) -> None:
    done = CliRunner().invoke(evaluate_app, [str(spoken.root), "--step", "phone", "--out", str(tmp_path / "r"),
                                             "--bootstrap", "0"])
    assert done.exit_code == 0, done.output
    report = EvaluationReport.model_validate_json((tmp_path / "r" / "report.json").read_text())
    by = {r.name: r for r in report.results}
    assert "audio.frechet_distance" not in by and by["audio.wer"].ok and by["audio.snr_error"].ok
    for name in ("audio.duration_distribution", "audio.speaking_rate"):
        assert by[name].status == "not_applicable" and "--real" in by[name].error
        assert by[name].details["synthetic"]["n"] == 4


def test_a_failing_embedding_is_reported_not_dropped(spoken: SyntheticDataset) -> None:
    class Broken:
        name = "broken"

        def frames(self, samples: np.ndarray) -> np.ndarray:
            raise RuntimeError("no encoder here")

    clips, _ = synthetic_audio(spoken)
    result = frechet_audio_distance(clips, clips, embedder=Broken(), n_bootstrap=0)
    assert result.status == "failed" and "no encoder here" in result.error and result.value is None


@pytest.mark.parametrize(("argv", "expected"), [
    (["--real", "{real}/x.json"], "--real"),
    (["--real", "{empty}"], "holds no .wav, .flac or .ogg"),
    (["--real", "{bad}"], "cannot be read as WAV"),
    (["--holdout", "{real}"], "--holdout do not apply to audio"),
])
def test_bad_audio_inputs_exit_2_naming_the_option(spoken: SyntheticDataset, real_folder: Path, tmp_path: Path,
                                                   argv: list[str], expected: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.wav").write_bytes(b"RIFF not really")
    (tmp_path / "x.json").write_text(json.dumps({"turns": []}))
    names = {"real": str(tmp_path), "empty": str(tmp_path / "empty"), "bad": str(tmp_path / "bad")}
    args = [a.format(**names) for a in argv]
    done = CliRunner().invoke(evaluate_app, [str(spoken.root), *args, "--out", str(tmp_path / "r")])
    # `biosynth` prints a BiosynthError as one paragraph and exits with its code (2), without a traceback
    assert isinstance(done.exception, BiosynthError) and done.exception.exit_code == 2, done.output
    assert expected in str(done.exception)
    assert not (tmp_path / "r").exists()


def test_recordings_with_whole_clip_transcripts_compare_per_clip(tmp_path: Path, spoken: SyntheticDataset) -> None:
    """A .txt beside a recording is the whole clip's words: durations and speaking rates are then compared per
    clip on both sides (said in a warning); a .json transcript must hold timed turns."""
    from biosynth.eval import read_real_audio, speaking_rate

    folder = tmp_path / "real"
    (folder / "ward").mkdir(parents=True)
    sf.write(folder / "ward" / "a.wav", np.zeros(16000 * 3, dtype=np.float32), 16000)
    (folder / "ward" / "a.txt").write_text("one two three four five six\n")
    sf.write(folder / "b.flac", np.zeros(8000 * 2, dtype=np.float32), 8000)
    clips = read_real_audio(folder)
    assert [c.id for c in clips] == ["b.flac", "ward/a.wav"] and clips[1].transcript.startswith("one")
    assert clips[0].duration == pytest.approx(2.0) and clips[0].samples().shape == (32000,)  # read at 16 kHz
    result = speaking_rate(synthetic_audio(spoken)[0], real=clips, n_bootstrap=0)
    assert result.ok and result.details["unit"] == "clip" and result.details["real"]["p50"] == pytest.approx(120.0)
    assert any("per whole clip" in w for w in result.warnings)
    (folder / "b.json").write_text(json.dumps({"turns": [{"speaker": "A", "start": 2.0, "end": 1.0, "text": "x"}]}))
    with pytest.raises(InputDataError, match="expected 0 <= start <= end"):
        read_real_audio(folder)
