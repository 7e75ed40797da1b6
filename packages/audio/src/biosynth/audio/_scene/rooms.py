"""Per-speaker rooms: an impulse response for each role, from a pyroomacoustics shoebox room (image-source model;
size, RT60 and positions drawn from the sample's seed and recorded) or a measured IR file a user supplies.

Each IR is cut so that its direct path is sample 0 (the shoebox's known delay: distance / c plus half of
pyroomacoustics' fractional-delay filter; a measured IR's largest peak), so a reverberant turn starts where the
dry one did and the transcript's start times stay right. A turn's end then includes its reverberation tail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from biosynth.core import GenerationError, InputFile, sha256_file

Range = tuple[float, float]


class RoomParams(BaseModel):
    """A role's room: `shoebox` (size in metres per axis, RT60 in seconds, each a uniform range drawn per sample;
    talker and microphone at least `min_distance_m` apart, 0.5 m from the walls) or `file` (a measured IR)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["shoebox", "file"] = "shoebox"
    size_m: tuple[Range, Range, Range] = ((3.0, 6.0), (3.0, 5.0), (2.4, 3.0))
    rt60_s: Range = (0.2, 0.5)
    min_distance_m: float = Field(0.7, ge=0.1, le=5.0)
    max_order: int = Field(20, ge=0, le=60, description="image-source reflection order cap (speed)")
    file: InputFile | None = Field(None, description="a measured impulse response (WAV/FLAC), for kind 'file'")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.kind == "file") != (self.file is not None):
            raise ValueError("give `file` exactly when kind is 'file'")
        for name, (low, high) in (*zip(("length", "width", "height"), self.size_m, strict=True), ("rt60_s", self.rt60_s)):
            if not 0 < low <= high:
                raise ValueError(f"room {name} must be a range 0 < low <= high, got {(low, high)}")
        if min(low for low, _ in self.size_m[:2]) < 1.0 + self.min_distance_m:
            raise ValueError("the room's length and width must leave room for talker and microphone "
                             f"{self.min_distance_m} m apart, 0.5 m from the walls")
        return self


def impulse_response(room: RoomParams, rate: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """The room's IR at `rate` with its direct path at sample 0, and the facts to record."""
    if room.kind == "file":
        assert room.file is not None
        return _measured(room.file.path, rate)
    return _shoebox(room, rate, rng)


def _shoebox(room: RoomParams, rate: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    try:
        import pyroomacoustics as pra
    except ImportError:
        raise GenerationError("shoebox rooms need pyroomacoustics (a biosynth-audio dependency): reinstall "
                              "biosynth-audio") from None
    dims = [float(rng.uniform(*r)) for r in room.size_m]
    rt60 = float(rng.uniform(*room.rt60_s))

    def point() -> list[float]:
        return [float(rng.uniform(0.5, dims[0] - 0.5)), float(rng.uniform(0.5, dims[1] - 0.5)),
                float(rng.uniform(1.1, min(1.8, dims[2] - 0.3)))]

    source, mic = point(), point()
    for _ in range(100):  # seeded redraws until the two are far enough apart
        if np.linalg.norm(np.subtract(source, mic)) >= room.min_distance_m:
            break
        mic = point()
    distance = float(np.linalg.norm(np.subtract(source, mic)))
    try:
        absorption, order = pra.inverse_sabine(rt60, dims)
    except ValueError as err:
        raise GenerationError(f"a shoebox of {dims} m cannot reach RT60 {rt60:.2f} s: {err}") from None
    order = min(int(order), room.max_order)
    shoebox = pra.ShoeBox(dims, fs=rate, materials=pra.Material(absorption), max_order=order)
    shoebox.add_source(source)
    shoebox.add_microphone(mic)
    shoebox.compute_rir()
    rir = np.asarray(shoebox.rir[0][0], dtype=np.float64)
    delay = round(distance / pra.constants.get("c") * rate) + pra.constants.get("frac_delay_length") // 2
    facts = {"kind": "shoebox", "simulator": f"pyroomacoustics {pra.__version__} (image source)",
             "size_m": [round(d, 4) for d in dims], "rt60_s": round(rt60, 4), "absorption": round(float(absorption), 6),
             "max_order": order, "source_m": [round(v, 4) for v in source], "microphone_m": [round(v, 4) for v in mic],
             "distance_m": round(distance, 4), "direct_path_delay_samples": int(delay)}
    return _normalised(rir[delay:]), facts


def _measured(path: Path, rate: int) -> tuple[np.ndarray, dict[str, Any]]:
    import soundfile as sf

    from biosynth.audio._scene.dsp import to_rate

    try:
        data, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (OSError, RuntimeError) as err:
        raise GenerationError(f"impulse response {path}: {err}") from None
    ir = to_rate(data.mean(axis=1), int(file_rate), rate).astype(np.float64)
    if ir.size == 0 or not np.any(ir):
        raise GenerationError(f"impulse response {path} is silent")
    delay = int(np.argmax(np.abs(ir)))
    return _normalised(ir[delay:]), {"kind": "file", "file": str(path), "sha256": sha256_file(path),
                                     "direct_path_delay_samples": delay}


def _normalised(ir: np.ndarray) -> np.ndarray:
    return (ir / (np.abs(ir[0]) or np.abs(ir).max())).astype(np.float32)


def reverberate(samples: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """`samples` convolved with `ir` (torchaudio's fftconvolve), the whole reverberation tail kept."""
    import torch
    import torchaudio.functional as F

    with torch.no_grad():
        wet = F.fftconvolve(torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)), torch.from_numpy(ir))
    return wet.numpy().astype(np.float32)
