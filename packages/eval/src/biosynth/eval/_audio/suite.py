"""The audio suite: intelligibility, achieved SNR, speaker distinctness, durations, speaking rate and (with real
recordings) the Fréchet audio distance, into one report with players for a few clips."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from biosynth.core import Registry, derive_seed, software_versions
from biosynth.eval._audio.acoustics import clip_values, duration_distribution, snr_error, speaking_rate
from biosynth.eval._audio.common import MODALITY, check_clips
from biosynth.eval._audio.fad import frechet_audio_distance
from biosynth.eval._audio.intelligibility import intelligibility
from biosynth.eval._audio.io import Clip
from biosynth.eval._audio.models import AudioEmbedder, SpeakerEncoder, Whisper, WhisperEncoderEmbedder
from biosynth.eval._audio.players import audio_players
from biosynth.eval._audio.speakers import speaker_distinctness
from biosynth.eval._measure import check_bootstrap
from biosynth.eval._plugins import plugin_metrics
from biosynth.eval._report import SOFTWARE, EvaluationReport
from biosynth.eval._tabular.columns import ColumnKind
from biosynth.eval._tabular.figures import distribution

AUDIO_SOFTWARE = ("faster-whisper", "ctranslate2", "jiwer", "whisper-normalizer", "resemblyzer", "torch",
                  "torchaudio", "soundfile")


def evaluate_audio(clips: Sequence[Clip], real: Sequence[Clip] | None = None, seed: int = 0, *,
                   n_bootstrap: int = 200, level: float = 0.95, whisper: Whisper | None = None,
                   embedder: AudioEmbedder | None = None, speaker_encoder: SpeakerEncoder | None = None,
                   players: int = 3, provenance: dict[str, Any] | None = None,
                   registry: Registry | None = None) -> EvaluationReport:
    """Score synthetic `clips` (e.g. `synthetic_audio(dataset)`), against `real` recordings where given (durations,
    speaking rate, Fréchet audio distance, and real reference points for WER and distinctness). Whisper tiny.en is
    loaded once for transcripts and, by default, as the FAD embedding. Metric plugins named `audio.*` run after."""
    check_bootstrap(n_bootstrap, level)
    clips = check_clips(clips, "clips")
    real_clips = check_clips(real, "real") if real is not None else None
    whisper = whisper or Whisper()
    results = [
        *intelligibility(clips, real=real_clips, whisper=whisper, n_bootstrap=n_bootstrap, level=level,
                         seed=derive_seed(seed, "audio.intelligibility")),
        snr_error(clips, n_bootstrap=n_bootstrap, level=level, seed=derive_seed(seed, "audio.snr_error")),
        speaker_distinctness(clips, real=real_clips, encoder=speaker_encoder, n_bootstrap=n_bootstrap, level=level,
                             seed=derive_seed(seed, "audio.speaker_distinctness")),
        duration_distribution(clips, real=real_clips, n_bootstrap=n_bootstrap, level=level,
                              seed=derive_seed(seed, "audio.duration_distribution")),
        speaking_rate(clips, real=real_clips, n_bootstrap=n_bootstrap, level=level,
                      seed=derive_seed(seed, "audio.speaking_rate")),
    ]
    if real_clips is not None:
        results.append(frechet_audio_distance(real_clips, clips, embedder=embedder or WhisperEncoderEmbedder(whisper),
                                              n_bootstrap=n_bootstrap, level=level,
                                              seed=derive_seed(seed, "audio.frechet_distance")))
    results += plugin_metrics("audio", {"real": real_clips, "synthetic": clips}, seed=seed, n_bootstrap=n_bootstrap,
                              level=level, registry=registry)
    return EvaluationReport(
        modality=MODALITY, created_at=datetime.now(UTC).isoformat(timespec="seconds"), seed=seed,
        n_real=len(real_clips) if real_clips is not None else 0, n_synthetic=len(clips), n_holdout=None, columns={},
        software=software_versions((*SOFTWARE, *AUDIO_SOFTWARE)), results=tuple(results), provenance=provenance,
        figures=audio_figures(clips, real_clips, players))


def audio_figures(clips: Sequence[Clip], real: Sequence[Clip] | None, players: int) -> dict[str, Any]:
    """Durations and speaking rates real beside synthetic (with real recordings), and players for a few clips."""
    title = ("Real and synthetic speech" if real is not None
             else "Synthetic speech (no real recordings given: no distributions to compare)")
    figures: dict[str, Any] = {"title": title, "distributions": [], "audio_players": audio_players(clips, players)}
    if real is not None:
        values = clip_values(clips, real)
        unit = values["unit"]
        for i, what in enumerate((f"{unit} duration (s)", f"{unit} speaking rate (words/min)")):
            figures["distributions"].append(distribution(what, ColumnKind.NUMERICAL,
                                                         pd.Series(values["real"][i], dtype=float),
                                                         pd.Series(values["synthetic"][i], dtype=float)))
    return figures
