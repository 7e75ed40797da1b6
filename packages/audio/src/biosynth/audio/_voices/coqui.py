"""`coqui`: a Coqui TTS model (the maintained `coqui-tts` package, import `TTS`, MPL-2.0) from local files.

`model` is a checkpoint (`.pth`) or a folder holding one (`model.pth`, `best_model.pth`, `model_file.pth`, or the
only `.pth` there) with its `config.json`; multi-speaker models take `speaker` (a name from the model's JSON
speakers file, or an id), so one model gives several distinct voices.

Loading: coqui checkpoints are torch pickles. coqui-tts (through coqui-tts-trainer's `load_fsspec`) reads them with
`torch.load(weights_only=True)` on torch >= 2.4, which unpickles tensors and plain containers only; this voice also
opens the file that way itself before coqui does, so a checkpoint holding arbitrary objects is refused here with a
clear error, whatever coqui's default. A speakers file must be JSON (coqui would unpickle a `.pth` one).

Text: the scene hands this voice text that the ClinicalNormaliser already spelled out; the model's own cleaner is
replaced by coqui's `basic_cleaners` (lower case, whitespace), because `english_cleaners` re-expands numbers and
abbreviations and mangles clinical text ("3:30 p.m.").

Determinism: VITS samples noise from torch's generator; each call runs under a forked generator seeded from the
utterance's seed, so the same text, seed and settings give the same samples on the CPU.

Licence: the model's licence is `license` when given, else the config's `model_license`/`license` field; XTTS
weights are under the Coqui Public Model License, which forbids commercial use: provenance says so.
"""

from __future__ import annotations

import functools
import json
import logging
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from biosynth.audio._voices.base import Speech, Voice
from biosynth.core import ConfigError, GenerationError, ModelRef, sha256_text, weights_sha256

ENGINE_LICENSE = "MPL-2.0 (coqui-tts engine)"
XTTS_LICENSE = "CPML (Coqui Public Model License): non-commercial use only"
_INSTALL = "pip install 'biosynth-audio[coqui]'"
_CHECKPOINTS = ("model.pth", "best_model.pth", "model_file.pth", "checkpoint.pth")


def _checkpoint(model: Path) -> Path:
    if model.is_file():
        return model
    if not model.is_dir():
        raise ConfigError(f"coqui voice: model {str(model)!r} does not exist (expected a .pth checkpoint or a folder "
                          "holding one with its config.json)")
    for name in _CHECKPOINTS:
        if (model / name).is_file():
            return model / name
    found = sorted(model.glob("*.pth"))
    if len(found) != 1:
        raise ConfigError(f"coqui voice: folder {str(model)!r} holds {len(found)} .pth files and none of "
                          f"{list(_CHECKPOINTS)}; name the checkpoint file as `model`")
    return found[0]


@functools.lru_cache(maxsize=4)
def _load(checkpoint: str, config: str, sha256: str) -> Any:
    """One loaded model per checkpoint (and content): the voices of a multi-speaker model share it."""
    try:
        import torch
        from TTS.tts.utils.text.cleaners import basic_cleaners
        from TTS.utils.synthesizer import Synthesizer
    except ImportError:
        raise ConfigError(f"the coqui voice needs coqui-tts: {_INSTALL}") from None
    try:
        torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # noqa: BLE001 - any refusal of the safe loader is the same user error
        raise ConfigError(f"coqui voice: checkpoint {checkpoint!r} does not load with torch.load(weights_only=True) "
                          f"(tensors and plain containers only): {err}") from None
    logging.getLogger("TTS").setLevel(logging.WARNING)
    synthesizer = Synthesizer(tts_checkpoint=checkpoint, tts_config_path=config, use_cuda=False)
    synthesizer.tts_model.tokenizer.text_cleaner = basic_cleaners
    return synthesizer


class CoquiVoice(Voice):
    """A Coqui TTS voice: `model` (checkpoint or folder), `config` (default config.json beside it), `speaker` (name
    or id, multi-speaker models), `length_scale` (> 1 slower), `license` (recorded in provenance)."""

    def __init__(self, model: str, config: str | None = None, speaker: str | int | None = None,
                 length_scale: float = 1.0, license: str | None = None) -> None:
        self.check_params({"model": model, "length_scale": length_scale})
        self.checkpoint = _checkpoint(Path(model))
        self.config_path = Path(config) if config else self.checkpoint.parent / "config.json"
        if not self.config_path.is_file():
            raise ConfigError(f"coqui voice: config {str(self.config_path)!r} does not exist")
        try:
            self.meta = json.loads(self.config_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ConfigError(f"coqui voice: config {str(self.config_path)!r} is not a JSON file: {err}") from None
        if not isinstance(self.meta, dict) or "model" not in self.meta:
            raise ConfigError(f"coqui voice: config {str(self.config_path)!r} has no 'model' field; expected a "
                              "coqui-tts config.json")
        self.architecture = str(self.meta["model"]).lower()
        args = self.meta.get("model_args") or {}
        for key in ("speakers_file", "d_vector_file"):
            for value in [args.get(key), self.meta.get(key)]:
                files = value if isinstance(value, list) else [value]
                if any(f and not str(f).lower().endswith(".json") for f in files):
                    raise ConfigError(f"coqui voice: {key} {value!r} in {str(self.config_path)!r} is not JSON; a "
                                      ".pth speakers file would be unpickled: convert it to JSON")
        self.speaker, self.length_scale = speaker, length_scale
        given = license or self.meta.get("model_license") or self.meta.get("license")
        self.license = XTTS_LICENSE if self.architecture == "xtts" and not given else given
        self.non_commercial = self.architecture == "xtts" or "non-commercial" in str(self.license).lower()

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        if not params.get("model"):
            raise ConfigError("coqui voice: give `model`, a local checkpoint (.pth) or a folder with config.json "
                              "(no Coqui voice is downloaded)")
        if params.get("length_scale") is not None and float(params["length_scale"]) <= 0:
            raise ConfigError(f"coqui voice: length_scale must be positive, got {params['length_scale']}")

    @cached_property
    def _synthesizer(self) -> Any:
        return _load(str(self.checkpoint), str(self.config_path), weights_sha256(self.checkpoint))

    @cached_property
    def _speaker_id(self) -> int | None:
        model = self._synthesizer.tts_model
        manager = getattr(model, "speaker_manager", None)
        count = int(getattr(model, "num_speakers", 0) or 0)
        if count <= 1:
            if self.speaker is not None:
                raise ConfigError(f"coqui voice: speaker {self.speaker!r} given, but {self.checkpoint} is a "
                                  "single-speaker model")
            return None
        names = dict(manager.name_to_id) if manager is not None and manager.name_to_id else {}
        if self.speaker is None:
            raise ConfigError(f"coqui voice: {self.checkpoint} has {count} speakers; give `speaker` (one of "
                              f"{sorted(names) or list(range(count))})")
        if isinstance(self.speaker, int) or str(self.speaker).isdigit():
            index = int(self.speaker)
            if not 0 <= index < count:
                raise ConfigError(f"coqui voice: speaker id {index} is outside 0-{count - 1}")
            return index
        if self.speaker not in names:
            raise ConfigError(f"coqui voice: no speaker {self.speaker!r}; the model has {sorted(names)}")
        return int(names[self.speaker])

    @cached_property
    def model_ref(self) -> ModelRef:
        licence = f"{self.license}; {ENGINE_LICENSE}" if self.license else ENGINE_LICENSE
        sha = weights_sha256(self.checkpoint)
        return ModelRef(name=f"coqui {self.architecture} {self.checkpoint.parent.name}/{self.checkpoint.name}",
                        backend="coqui", sha256=sha, license=licence, revision=f"sha256:{sha[:12]}")

    @property
    def settings(self) -> dict[str, Any]:
        return {"backend": "coqui", "architecture": self.architecture, "speaker": self.speaker,
                "length_scale": self.length_scale, "config_sha256": weights_sha256(self.config_path),
                "text_cleaner": "basic_cleaners", "non_commercial": self.non_commercial}

    def _synthesize(self, text: str, *, rate: float) -> Speech:
        import torch

        synthesizer = self._synthesizer
        model = synthesizer.tts_model
        speaker = self._speaker_id
        ids = torch.tensor([model.tokenizer.text_to_ids(text)], dtype=torch.long)
        if ids.shape[1] == 0:
            raise GenerationError(f"coqui voice: no character of {text[:60]!r} is in the model's vocabulary")
        if hasattr(model, "length_scale"):
            model.length_scale = self.length_scale / rate
        seed = int(sha256_text(f"{text}\n{rate!r}\n{speaker}")[:8], 16)  # the same utterance, the same noise
        aux: dict[str, Any] = {"speaker_ids": torch.tensor([speaker]) if speaker is not None else None}
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(seed)
            out = model.inference(ids, aux_input=aux)
        samples = out["model_outputs"].squeeze().cpu().numpy().astype(np.float32)
        return Speech(samples, int(synthesizer.output_sample_rate))
