"""`espeak`: Debian's espeak-ng through a subprocess. Its voices and variants (`en-us` + `m3`, `f2`, ...) give
distinct speakers offline, and it repeats byte for byte."""

from __future__ import annotations

import functools
import io
import re
import shutil
import subprocess
from functools import cached_property
from pathlib import Path
from typing import Any

from biosynth.audio._voices.base import Speech, Voice
from biosynth.core import ConfigError, GenerationError, ModelRef, weights_sha256

_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")
INSTALL = "sudo apt-get install -y espeak-ng"


@functools.cache
def espeak_info(program: str) -> tuple[str, Path | None]:
    """espeak-ng's version and data folder, from `espeak-ng --version`."""
    out = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=30, check=True).stdout
    version = re.search(r"eSpeak NG text-to-speech:\s*(\S+)", out)
    data = re.search(r"Data at:\s*(\S+)", out)
    return (version.group(1) if version else out.strip()), (Path(data.group(1)) if data else None)


@functools.cache
def _data_sha256(folder: Path | None) -> str | None:
    return weights_sha256(folder) if folder is not None and folder.is_dir() else None


class EspeakVoice(Voice):
    """An espeak-ng voice: `voice` (e.g. en-us, en-gb), `variant` (m1-m7, f1-f5, ...), `speed` (words a minute),
    `pitch` (0-99)."""

    def __init__(self, voice: str = "en-us", variant: str | None = None, speed: int = 165, pitch: int = 50,
                 program: str = "espeak-ng") -> None:
        self.check_params({"voice": voice, "variant": variant, "speed": speed, "pitch": pitch})
        found = shutil.which(program)
        if found is None:
            raise ConfigError(f"the espeak voice needs Debian's espeak-ng: {INSTALL}")
        self.program, self.voice, self.variant, self.speed, self.pitch = found, voice, variant, speed, pitch
        self.version, self.data_dir = espeak_info(found)

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        for key in ("voice", "variant"):
            value = params.get(key)
            if value is not None and not _NAME.match(str(value)):
                raise ConfigError(f"espeak voice: {key} must be a name such as 'en-us' or 'f2', got {value!r}")
        if not 80 <= int(params.get("speed", 165)) <= 450:
            raise ConfigError(f"espeak voice: speed must be 80-450 words a minute, got {params.get('speed')}")
        if not 0 <= int(params.get("pitch", 50)) <= 99:
            raise ConfigError(f"espeak voice: pitch must be 0-99, got {params.get('pitch')}")

    @property
    def _voice_name(self) -> str:
        return f"{self.voice}+{self.variant}" if self.variant else self.voice

    @cached_property
    def model_ref(self) -> ModelRef:
        return ModelRef(name=f"espeak-ng {self._voice_name}", backend="espeak", revision=self.version,
                        sha256=_data_sha256(self.data_dir), license="GPL-3.0-or-later (espeak-ng)")

    @property
    def settings(self) -> dict[str, Any]:
        return {"backend": "espeak", "voice": self._voice_name, "speed": self.speed, "pitch": self.pitch,
                "espeak_ng_version": self.version}

    def _synthesize(self, text: str, *, rate: float) -> Speech:
        import soundfile as sf

        speed = round(self.speed * rate)
        done = subprocess.run([self.program, "-v", self._voice_name, "-s", str(speed), "-p", str(self.pitch),
                               "--stdout", "--", text], capture_output=True, timeout=120)
        if done.returncode != 0 or not done.stdout:
            raise GenerationError(f"espeak-ng failed (exit {done.returncode}): {done.stderr.decode(errors='replace')[:200]}")
        samples, sample_rate = sf.read(io.BytesIO(done.stdout), dtype="float32", always_2d=False)
        return Speech(samples, int(sample_rate), {"speed_wpm": speed})
