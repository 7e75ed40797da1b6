"""What a scene writes beside its audio: the per-turn JSON transcript, RTTM and a NeMo-style manifest line;
and the audio itself (WAV or FLAC through soundfile, provenance in the tags)."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class TranscriptTurn(BaseModel):
    """One turn as placed in the scene: times from our own mixing offsets, in seconds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int
    speaker: str
    role: str
    start: float
    end: float
    text: str
    normalised_text: str
    reference_text: str = Field(description="the spoken form with drug names as written: what an ASR is scored against")


def transcript_json(audio_path: str, turns: Sequence[TranscriptTurn], *, duration: float, sample_rate: int) -> bytes:
    body = {"audio": audio_path, "duration": duration, "sample_rate": sample_rate, "synthetic_speech": True,
            "turns": [t.model_dump() for t in turns]}
    return (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode()


def rttm(file_id: str, turns: Sequence[TranscriptTurn]) -> bytes:
    """RTTM for diarization: `SPEAKER <file> 1 <onset> <duration> <NA> <NA> <speaker> <NA> <NA>` per turn."""
    lines = [f"SPEAKER {file_id} 1 {t.start:.3f} {t.end - t.start:.3f} <NA> <NA> {t.speaker.replace(' ', '_')} <NA> <NA>"
             for t in turns]
    return ("\n".join(lines) + "\n").encode()


def ctm(file_id: str, words: Sequence[tuple[str, float, float, float]]) -> bytes:
    """Word-level CTM: `<file> 1 <start> <duration> <word> <confidence>` per word, in time order."""
    lines = [f"{file_id} 1 {start:.3f} {max(end - start, 0.0):.3f} {word.replace(' ', '_')} {confidence:.3f}"
             for word, start, end, confidence in sorted(words, key=lambda w: w[1])]
    return ("\n".join(lines) + "\n").encode() if lines else b""


def nemo_line(audio_path: str, rttm_path: str, turns: Sequence[TranscriptTurn], duration: float) -> dict[str, Any]:
    """A NeMo-style manifest entry (ASR and diarization fields) for the whole scene."""
    return {"audio_filepath": audio_path, "offset": 0.0, "duration": duration,
            "text": " ".join(t.normalised_text for t in turns), "num_speakers": len({t.speaker for t in turns}),
            "rttm_filepath": rttm_path, "label": "infer", "uem_filepath": None}


def encode_audio(samples: np.ndarray, rate: int, fmt: str, tags: dict[str, str]) -> bytes:
    """16-bit PCM WAV or FLAC with `tags` (title, comment, software, ...); the bytes repeat for the same input."""
    import soundfile as sf

    buffer = io.BytesIO()
    with sf.SoundFile(buffer, "w", samplerate=rate, channels=1, format=fmt.upper(), subtype="PCM_16") as out:
        for key, value in tags.items():
            setattr(out, key, value)
        out.write(samples)
    return buffer.getvalue()
