"""The voice contract: public `synthesize` validates and stamps; protected `_synthesize` makes the samples."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from biosynth.core import Component, ComponentKind, GenerationError


@dataclass(frozen=True)
class Speech:
    """One synthesised utterance: mono float32 samples in [-1, 1], their rate, and the settings that made them."""

    samples: np.ndarray
    sample_rate: int
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


class Voice(Component):
    """A local TTS voice. `synthesize(text, attempt=n)`: attempt 0 uses the voice's own settings; a later
    attempt (an ASR re-synthesis) varies the speaking rate by an amount derived from `seed`, recorded in
    `Speech.settings`."""

    kind: ClassVar[ComponentKind] = ComponentKind.TTS_VOICE
    remote: ClassVar[bool | None] = False
    deterministic: ClassVar[bool] = True  # same text and settings -> the same samples, byte for byte

    def synthesize(self, text: str, *, seed: int = 0, attempt: int = 0) -> Speech:
        text = text.strip()
        if not text:
            raise GenerationError("nothing to say: the utterance is empty after normalisation")
        rate = 1.0 if attempt == 0 else float(np.random.default_rng(seed).uniform(0.9, 1.1))
        speech = self._synthesize(text, rate=rate)
        samples = np.ascontiguousarray(speech.samples, dtype=np.float32).reshape(-1)
        if samples.size == 0 or not np.isfinite(samples).all():
            raise GenerationError(f"{self.model_ref.backend} returned no usable audio for {text[:60]!r}")
        return Speech(np.clip(samples, -1.0, 1.0), speech.sample_rate,
                      {**self.settings, **speech.settings, "rate": round(rate, 6)})

    @property
    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """The voice's synthesis settings, recorded with every utterance."""

    @abstractmethod
    def _synthesize(self, text: str, *, rate: float) -> Speech:
        """Synthesise `text` at speaking `rate` (1.0 the voice's own; 1.1 ten per cent faster)."""
