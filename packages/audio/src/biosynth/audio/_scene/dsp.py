"""The signal steps of a scene, on torchaudio: rate and voice transforms, trimming, levels, noise at an SNR,
and the telephone channel. Mono float32 numpy arrays in, the same out."""

from __future__ import annotations

import functools
import math

import numpy as np


def _torch():  # type: ignore[no-untyped-def]
    import torch
    import torchaudio.functional as F

    return torch, F


def source_rate(rate: int, factor: float) -> int:
    """The rate a voice's audio is read at for a pitch-and-tempo `factor`: `rate * factor`, on a 50 Hz grid so
    that resampling kernels stay small."""
    return rate if factor == 1.0 else round(rate * factor / 50) * 50


@functools.lru_cache(maxsize=32)
def _resampler(source: int, target: int):  # type: ignore[no-untyped-def]
    import torchaudio.transforms as T

    g = math.gcd(source, target)
    return T.Resample(source // g, target // g)


def to_rate(samples: np.ndarray, rate: int, target: int, *, factor: float = 1.0) -> np.ndarray:
    """Resample `samples` (at `rate`) to `target`; `factor` > 1 also shifts pitch and tempo up by that factor
    (the audio is read as if it had been recorded at `source_rate(rate, factor)`: one resampling, no pitch_shift)."""
    source = source_rate(rate, factor)
    if source == target:
        return samples.astype(np.float32, copy=True)
    torch, _ = _torch()
    with torch.no_grad():
        out = _resampler(source, target)(torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)))
    return out.numpy().astype(np.float32)


def trim(samples: np.ndarray, rate: int, *, threshold_db: float = -40.0, tail_s: float = 0.05) -> np.ndarray:
    """Drop leading silence exactly (the first kept sample is the first above `threshold_db` of the peak) and
    trailing silence up to `tail_s`, so a turn's placed start is its energy onset."""
    peak = float(np.abs(samples).max()) if samples.size else 0.0
    if peak == 0.0:
        return samples[:0]
    loud = np.flatnonzero(np.abs(samples) >= peak * 10 ** (threshold_db / 20))
    end = min(len(samples), int(loud[-1]) + 1 + round(tail_s * rate))
    return samples[int(loud[0]):end]


def rms_dbfs(samples: np.ndarray) -> float:
    power = float(np.mean(np.square(samples, dtype=np.float64))) if samples.size else 0.0
    return 10 * math.log10(power) if power > 0 else -math.inf


def set_level(samples: np.ndarray, dbfs: float) -> np.ndarray:
    """Scale to an RMS level in dBFS."""
    current = rms_dbfs(samples)
    if not math.isfinite(current):
        return samples
    return (samples * 10 ** ((dbfs - current) / 20)).astype(np.float32)


def add_noise(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """torchaudio's add_noise: `noise` scaled so that speech power over noise power, over the whole track, is
    `snr_db`."""
    torch, F = _torch()
    mixed = F.add_noise(torch.from_numpy(speech[None, :]), torch.from_numpy(noise[None, : len(speech)]),
                        torch.tensor([float(snr_db)]))
    return mixed[0].numpy().astype(np.float32)


def telephone(samples: np.ndarray, rate: int, *, low_hz: float, high_hz: float, mu_law: bool,
              target: int = 8000) -> np.ndarray:
    """A narrow-band telephone line: band-pass biquads, resampling to 8 kHz, and 8-bit mu-law companding. Rows of
    a 2-D array (e.g. the speech and noise stems) pass through it in one batched call."""
    torch, F = _torch()
    x = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    x = F.highpass_biquad(x, rate, low_hz)
    x = F.lowpass_biquad(x, rate, high_hz)
    x = _resampler(rate, target)(x).numpy().astype(np.float32)
    return companded(x) if mu_law else x


def companded(samples: np.ndarray) -> np.ndarray:
    """8-bit mu-law encoding and decoding (the telephone line's quantisation), clipped to [-1, 1] first."""
    torch, F = _torch()
    x = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)).clamp(-1.0, 1.0)
    return F.mu_law_decoding(F.mu_law_encoding(x, 256), 256).numpy().astype(np.float32)


def peak_guard(samples: np.ndarray, ceiling_dbfs: float = -1.0) -> tuple[np.ndarray, float]:
    """Scale down a track whose peak exceeds `ceiling_dbfs`; return it and the gain applied in dB (0 when none)."""
    peak = float(np.abs(samples).max()) if samples.size else 0.0
    ceiling = 10 ** (ceiling_dbfs / 20)
    if peak <= ceiling:
        return samples, 0.0
    return (samples * (ceiling / peak)).astype(np.float32), 20 * math.log10(ceiling / peak)
