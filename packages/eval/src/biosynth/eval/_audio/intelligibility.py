"""Intelligibility: the word and character error rates of an offline ASR (Whisper tiny.en) on each turn of the
delivered audio against its script, through jiwer after Whisper's English text normaliser, overall, per speaker
and per channel condition.

The normaliser is `whisper-normalizer`'s `EnglishTextNormalizer` (MIT): OpenAI Whisper's own normaliser with its
`english.json` spelling map packaged. transformers ships the same class but without the spelling map (it comes with
a hub tokenizer), and the `openai-whisper` package would bring a second Whisper runtime.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from biosynth.core import ConfigError
from biosynth.eval._audio.common import MODALITY, SMALL_CLIPS, check_clips, clip_interval, ratio
from biosynth.eval._audio.io import Clip
from biosynth.eval._audio.models import Whisper
from biosynth.eval._measure import NotApplicable, Outcome, check_bootstrap, run_metric
from biosynth.eval._result import Direction, Family, MetricResult

PAD_S = 0.1  # seconds around a turn when it is cut from the mix (onset and release)


@cache
def normaliser() -> Any:
    try:
        from whisper_normalizer.english import EnglishTextNormalizer
    except ImportError:
        raise ConfigError("intelligibility needs Whisper's text normaliser: pip install 'biosynth-eval[audio]'") from None
    return EnglishTextNormalizer()


@dataclass(frozen=True)
class Heard:
    """One scored utterance: its clip (index), speaker and condition, the two texts and jiwer's counts."""

    clip: int
    speaker: str
    condition: str
    reference: str
    hypothesis: str
    word_errors: int
    words: int
    char_errors: int
    chars: int


def score(reference: str, hypothesis: str) -> tuple[int, int, int, int]:
    """(word errors, reference words, character errors, reference characters) after Whisper's normaliser."""
    import jiwer

    ref, hyp = normaliser()(reference), normaliser()(hypothesis)
    if not ref.split():
        return 0, 0, 0, 0
    words = jiwer.process_words(ref, hyp)
    chars = jiwer.process_characters(ref, hyp)
    word_errors = words.substitutions + words.deletions + words.insertions
    char_errors = chars.substitutions + chars.deletions + chars.insertions
    return word_errors, words.hits + words.substitutions + words.deletions, char_errors, \
        chars.hits + chars.substitutions + chars.deletions


def transcribe(clips: Sequence[Clip], whisper: Whisper) -> tuple[list[Heard], int]:
    """Every turn cut from its clip's mix (with `PAD_S` either side) and transcribed; a clip with only a whole-clip
    transcript is one utterance. Returns the scored utterances and how many clips had no transcript at all."""
    heard, without = [], 0
    for index, clip in enumerate(clips):
        if clip.utterances:
            pieces = [(u.speaker, u.reference, clip.cut(u.start, u.end, PAD_S)) for u in clip.utterances]
        elif clip.transcript:
            pieces = [("whole clip", clip.transcript, clip.samples())]
        else:
            without += 1
            continue
        for speaker, reference, samples in pieces:
            hypothesis = whisper.transcribe(samples)
            heard.append(Heard(index, speaker, clip.condition, reference, hypothesis, *score(reference, hypothesis)))
    return heard, without


def _group_table(heard: list[Heard], n_clips: int, key: str, *, n_bootstrap: int, level: float, seed: int,
                 errors: str, total: str) -> list[dict[str, Any]]:
    rows = []
    for offset, group in enumerate(sorted({getattr(h, key) for h in heard})):
        num, den = np.zeros(n_clips), np.zeros(n_clips)
        for h in heard:
            if getattr(h, key) == group:
                num[h.clip] += getattr(h, errors)
                den[h.clip] += getattr(h, total)
        held = den > 0  # the group's clips only: resampling clips without it says nothing about it
        num, den = num[held], den[held]
        value = ratio(num, den)
        if not np.isfinite(value):
            continue
        ci, _ = clip_interval(lambda w, num=num, den=den: ratio(num, den, w), len(den), value, n_bootstrap=n_bootstrap,
                              level=level, seed=seed + 1 + offset, what=f"{errors} of {group}", bounds=(0.0, np.inf))
        rows.append({key: group, "value": value, "ci": [ci.low, ci.high] if ci else None,
                     "utterances": sum(1 for h in heard if getattr(h, key) == group), "reference_units": int(den.sum())})
    return rows


def intelligibility(clips: Sequence[Clip], *, real: Sequence[Clip] | None = None, whisper: Whisper | None = None,
                    n_bootstrap: int = 200, level: float = 0.95, seed: int = 0,
                    examples: int = 5) -> list[MetricResult]:
    """`audio.wer` and `audio.cer`: Whisper's errors on every turn against its script (corpus-level: all errors over
    all reference words or characters), with per-speaker and per-condition rates; intervals resample clips. With
    `real` clips that carry transcripts, the same rates on them are given as the reference point."""
    check_bootstrap(n_bootstrap, level)
    clips = check_clips(clips, "clips")
    real_clips = check_clips(real, "real") if real is not None else None
    model = whisper or Whisper()
    done: list[tuple[list[Heard], int, list[Heard] | None]] = []

    def run() -> tuple[list[Heard], int, list[Heard] | None]:
        if not done:
            heard, without = transcribe(clips, model)
            real_heard = transcribe(real_clips, model)[0] if real_clips else None
            done.append((heard, without, real_heard))
        return done[0]

    results = []
    for name, errors, total, unit in (("audio.wer", "word_errors", "words", "words"),
                                      ("audio.cer", "char_errors", "chars", "characters")):
        def compute(errors: str = errors, total: str = total, unit: str = unit, name: str = name) -> Outcome:
            heard, without, real_heard = run()
            scored = [h for h in heard if getattr(h, total) > 0]
            if not scored:
                raise NotApplicable("no clip has a turn with a script to score against (no transcript attachment, "
                                    "timed segments with text, or whole-clip transcript)")
            num, den = np.zeros(len(clips)), np.zeros(len(clips))
            for h in scored:
                num[h.clip] += getattr(h, errors)
                den[h.clip] += getattr(h, total)
            value = ratio(num, den)
            ci, notes = clip_interval(lambda w: ratio(num, den, w), len(clips), value, n_bootstrap=n_bootstrap,
                                      level=level, seed=seed, what=name, bounds=(0.0, np.inf))
            warnings = [*notes]
            if without:
                warnings.append(f"{without} clip(s) carry no transcript and are not scored")
            if len(clips) < SMALL_CLIPS:
                warnings.append(f"small sample: {len(clips)} clips (fewer than {SMALL_CLIPS}); the interval is rough")
            by = {key: _group_table(scored, len(clips), key, n_bootstrap=n_bootstrap, level=level, seed=seed,
                                    errors=errors, total=total) for key in ("speaker", "condition")}
            details: dict[str, Any] = {
                "unit": unit, "per_speaker": by["speaker"], "per_condition": by["condition"],
                "utterances": len(scored), "reference_units": int(den.sum()),
                "bars": [(f"{key}: {row[key]}", row["value"], row["ci"]) for key in ("speaker", "condition")
                         for row in by[key]],
                "asr": model.describe(), "normaliser": "whisper-normalizer EnglishTextNormalizer (OpenAI Whisper's)",
                "reference": "each turn's reference_text (spoken form, drug names as written) where the dataset "
                             "records it, else its script text",
                "examples": [{"speaker": h.speaker, "reference": h.reference, "heard": h.hypothesis}
                             for h in scored[:examples]]}
            if real_heard:
                real_scored = [h for h in real_heard if getattr(h, total) > 0]
                if real_scored:
                    details["real"] = {"value": ratio(np.array([getattr(h, errors) for h in real_scored], float),
                                                      np.array([getattr(h, total) for h in real_scored], float)),
                                       "utterances": len(real_scored)}
            return Outcome(value=value, ci=ci, warnings=warnings, details=details)

        results.append(run_metric(name=name, family=Family.FIDELITY, direction=Direction.LOWER, compute=compute,
                                  modality=MODALITY, n_real=len(real_clips) if real_clips else None,
                                  n_synthetic=len(clips), seed=seed,
                                  parameters={"n_bootstrap": n_bootstrap, "level": level, "resampled": "clips",
                                              "pad_s": PAD_S}))
    return results
