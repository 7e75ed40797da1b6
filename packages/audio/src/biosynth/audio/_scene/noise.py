"""Background noises synthesised from a seed (ward, ambulance, home, white), or a user's recording."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from biosynth.audio._scene.dsp import to_rate
from biosynth.core import GenerationError

SYNTHESISED = ("ward", "ambulance", "home", "white")


def _coloured(rng: np.random.Generator, n: int, rate: int, exponent: float, *, low_hz: float = 20.0) -> np.ndarray:
    """Noise with a 1/f**exponent power spectrum (1: pink, 2: brown), unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / rate)
    spectrum *= 1 / np.maximum(freqs, low_hz) ** (exponent / 2)
    out = np.fft.irfft(spectrum, n)
    return out / (np.sqrt(np.mean(out**2)) or 1.0)


def synthesised(kind: str, seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    """A noise bed of `kind`: ward (air handling, a patient monitor's beeps), ambulance (engine rumble, a
    distant two-tone siren), home (room tone, a fridge hum), or white."""
    n = max(1, round(seconds * rate))
    t = np.arange(n) / rate
    if kind == "white":
        bed = rng.standard_normal(n)
    elif kind == "ward":
        bed = _coloured(rng, n, rate, 1.0)
        period, start = rng.uniform(0.8, 1.2), rng.uniform(0, 1)
        beeping = ((t - start) % period < 0.12) & (t >= start)
        bed = bed + 0.6 * beeping * np.sin(2 * np.pi * rng.choice([880.0, 960.0, 1000.0]) * t)
    elif kind == "ambulance":
        bed = _coloured(rng, n, rate, 2.0) + 0.3 * np.sin(2 * np.pi * rng.uniform(28, 40) * t)
        half = rng.uniform(0.5, 0.8)
        siren = np.where((t // half) % 2 == 0, 960.0, 770.0)
        bed = bed + 0.25 * np.sin(2 * np.pi * np.cumsum(siren) / rate)
    elif kind == "home":
        bed = 0.7 * _coloured(rng, n, rate, 1.5) + 0.2 * np.sin(2 * np.pi * rng.choice([100.0, 120.0]) * t)
    else:
        raise ValueError(f"unknown noise {kind!r}; expected one of {SYNTHESISED}")
    bed = bed / (np.sqrt(np.mean(bed**2)) or 1.0)
    return bed.astype(np.float32)


def from_file(path: Path, seconds: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    """A user's noise recording, mixed to mono, resampled, looped to length, from a seeded offset."""
    import soundfile as sf

    try:
        data, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (OSError, RuntimeError) as err:
        raise GenerationError(f"noise file {path}: {err}") from None
    mono = to_rate(data.mean(axis=1), int(file_rate), rate)
    if mono.size == 0 or not np.any(mono):
        raise GenerationError(f"noise file {path} is silent")
    n = max(1, round(seconds * rate))
    start = int(rng.integers(0, len(mono)))
    looped = np.tile(mono, n // len(mono) + 2)[start:start + n]
    return looped.astype(np.float32)
