"""Players for the HTML report: the first seconds of a few clips as FLAC data URIs, with their transcripts, so that
report.html stays one self-contained file."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from biosynth.eval._audio.io import RATE, Clip


def flac_data_uri(samples: np.ndarray, rate: int = RATE) -> str:
    """16-bit FLAC of mono `samples` as a `data:audio/flac;base64,...` URI."""
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, np.clip(samples, -1.0, 1.0), rate, format="FLAC", subtype="PCM_16")
    return "data:audio/flac;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def audio_players(clips: Sequence[Clip], count: int = 3, seconds: float = 10.0) -> list[dict[str, Any]]:
    """The first `seconds` of the first `count` clips (16 kHz FLAC), with the turns that start in that window."""
    players = []
    for clip in list(clips)[:count]:
        shown = clip.samples()[: round(seconds * RATE)]
        turns = [{"start": round(u.start, 2), "speaker": u.speaker, "text": u.text}
                 for u in clip.utterances if u.start < len(shown) / RATE]
        players.append({"clip": clip.id, "condition": clip.condition, "seconds": round(len(shown) / RATE, 2),
                        "duration": round(clip.duration, 2), "src": flac_data_uri(shown),
                        "turns": turns, "transcript": None if turns else clip.transcript})
    return players
