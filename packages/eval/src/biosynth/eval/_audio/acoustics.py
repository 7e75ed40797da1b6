"""Achieved SNR against the SNR asked, turn durations and speaking rate (against real recordings when given)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from biosynth.eval._audio.common import MODALITY, SMALL_CLIPS, check_clips, clip_interval, ks_complement, quantiles
from biosynth.eval._audio.io import RATE, Clip
from biosynth.eval._measure import NotApplicable, Outcome, check_bootstrap, run_metric
from biosynth.eval._result import Direction, Family, MetricResult

GUARD_S = 0.05  # seconds either side of every turn that count as neither speech nor noise
MIN_NOISE_S = 0.2  # noise-only audio a clip needs for its SNR to be measured


def measured_snr(clip: Clip) -> float | None:
    """The SNR of the delivered mix, measured without the stems: noise power from the audio outside every turn
    (the transcript's times, `GUARD_S` either side), speech power as the whole track's power less that noise
    power (speech and noise uncorrelated), both over the whole track as the scene defines its SNR. Assumes
    stationary noise; None when fewer than `MIN_NOISE_S` seconds lie outside the turns or no speech power is left."""
    x = clip.samples().astype(np.float64)
    mask = np.ones(len(x), dtype=bool)
    for u in clip.utterances:
        mask[max(0, round((u.start - GUARD_S) * RATE)):round((u.end + GUARD_S) * RATE)] = False
    if mask.sum() < MIN_NOISE_S * RATE:
        return None
    noise = float(np.mean(x[mask] ** 2))
    speech = float(np.mean(x**2)) - noise
    if noise <= 0 or speech <= 0:
        return None
    return 10 * math.log10(speech / noise)


def snr_error(clips: Sequence[Clip], *, n_bootstrap: int = 200, level: float = 0.95, seed: int = 0) -> MetricResult:
    """`audio.snr_error`: mean |measured - asked| SNR in dB over the clips whose scene asked for noise at an SNR.
    Measured from the delivered audio (`measured_snr`, independent of the generator); the SNR the generator
    recorded from its own stems (as mixed, and after the channel's filters) is listed beside it per clip."""
    check_bootstrap(n_bootstrap, level)
    clips = check_clips(clips, "clips")
    noisy = [c for c in clips if c.snr_asked is not None]

    def compute() -> Outcome:
        if not noisy:
            raise NotApplicable("no clip records an SNR asked of its scene (no noise, or not biosynth-audio scenes)")
        rows, warnings = [], []
        for clip in noisy:
            measured = measured_snr(clip) if clip.utterances else None
            recorded = clip.snr_recorded or {}
            rows.append({"clip": clip.id, "condition": clip.condition, "asked_db": clip.snr_asked,
                         "measured_db": None if measured is None else round(measured, 3),
                         "recorded_mixed_db": recorded.get("mixed_db"),
                         "recorded_after_channel_db": recorded.get("after_channel_db")})
        scored = [r for r in rows if r["measured_db"] is not None]
        if not scored:
            raise NotApplicable(f"no clip leaves {MIN_NOISE_S} s of noise outside its turns to measure the SNR from")
        if len(scored) < len(rows):
            warnings.append(f"{len(rows) - len(scored)} clip(s) leave under {MIN_NOISE_S} s outside their turns (or "
                            "have no timed turns): their SNR is not measured")
        errors = np.array([abs(r["measured_db"] - r["asked_db"]) for r in scored])
        value = float(errors.mean())
        ci, notes = clip_interval(lambda w: float(w @ errors / w.sum()), len(errors), value, n_bootstrap=n_bootstrap,
                                  level=level, seed=seed, what="the SNR error", bounds=(0.0, np.inf))
        warnings += notes
        per_condition = {}
        for condition in sorted({r["condition"] for r in scored}):
            chosen = [r for r in scored if r["condition"] == condition]
            per_condition[condition] = {
                "clips": len(chosen),
                "mean_measured_minus_asked_db": float(np.mean([r["measured_db"] - r["asked_db"] for r in chosen])),
                "mean_recorded_after_channel_db": _mean([r["recorded_after_channel_db"] for r in chosen]),
                "mean_recorded_mixed_db": _mean([r["recorded_mixed_db"] for r in chosen])}
        return Outcome(value=value, ci=ci, warnings=warnings, details={
            "per_condition": per_condition, "clips": rows,
            "measured": "from the delivered audio: noise power outside every turn (transcript times, "
                        f"{GUARD_S} s guard), speech power = total - noise; assumes stationary noise",
            "recorded": "what the generator measured on its own stems (scene.noise.achieved), where it recorded it: "
                        "as mixed, and after the telephone channel's band-pass and resampling (mu-law left out)"})

    return run_metric(name="audio.snr_error", family=Family.FIDELITY, direction=Direction.LOWER, compute=compute,
                      modality=MODALITY, n_real=None, n_synthetic=len(noisy), seed=seed,
                      parameters={"n_bootstrap": n_bootstrap, "level": level, "guard_s": GUARD_S,
                                  "resampled": "clips"})


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def units(clips: Sequence[Clip], turns: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(durations in s, words per minute, owning clip) per turn (`turns`) or per clip."""
    durations, rates, owners = [], [], []
    for index, clip in enumerate(clips):
        if turns:
            for u in clip.utterances:
                if u.end > u.start:
                    durations.append(u.end - u.start)
                    rates.append(60 * len(u.text.split()) / (u.end - u.start))
                    owners.append(index)
        elif clip.duration > 0:
            durations.append(clip.duration)
            rates.append(60 * clip.words / clip.duration if clip.words else np.nan)
            owners.append(index)
    return np.array(durations), np.array(rates), np.array(owners, dtype=np.int64)


def _unit(clips: list[Clip], real: list[Clip] | None) -> bool:
    """Compare turns when every clip on each side has timed turns, else whole clips."""
    return all(c.utterances for c in clips) and (real is None or all(c.utterances for c in real))


def _distribution(name: str, which: int, clips: Sequence[Clip], real: Sequence[Clip] | None, n_bootstrap: int,
                  level: float, seed: int) -> MetricResult:
    check_bootstrap(n_bootstrap, level)
    clips = check_clips(clips, "clips")
    real_clips = check_clips(real, "real") if real is not None else None
    turns = _unit(clips, real_clips)
    what = ["duration (s)", "speaking rate (words per minute)"][which]
    unit = "turn" if turns else "clip"

    def pick(side: list[Clip]) -> tuple[np.ndarray, np.ndarray]:
        values, owners = units(side, turns)[which], units(side, turns)[2]
        keep = np.isfinite(values)
        return values[keep], owners[keep]

    def compute() -> Outcome:
        y, y_owner = pick(clips)
        if y.size == 0:
            raise NotApplicable(f"no synthetic {unit} has a {what}")
        if real_clips is None:
            raise NotApplicable(f"no real reference given (--real, a folder of recordings): synthetic {unit} {what} "
                                f"is described in details only; median {np.median(y):.3g}")
        x, x_owner = pick(real_clips)
        if x.size == 0:
            raise NotApplicable(f"no real {unit} has a {what} (speaking rate needs transcripts beside the recordings)")
        point, ci, notes = ks_complement(x, x_owner, len(real_clips), y, y_owner, len(clips), n_bootstrap=n_bootstrap,
                                         level=level, seed=seed, what=f"the {what} KS complement")
        warnings = [*notes]
        if min(len(real_clips), len(clips)) < SMALL_CLIPS:
            warnings.append(f"small sample: fewer than {SMALL_CLIPS} clips on a side; the KS distance is biased upwards")
        if not turns:
            warnings.append("compared per whole clip (a side lacks timed turns): a clip's silences count in its "
                            "duration and speaking rate")
        return Outcome(value=point, ci=ci, warnings=warnings, details={
            "unit": unit, "real": quantiles(x), "synthetic": quantiles(y),
            "definition": f"1 - KS statistic of the per-{unit} {what}"})

    result = run_metric(name=name, family=Family.FIDELITY, direction=Direction.HIGHER, compute=compute,
                        modality=MODALITY, n_real=len(real_clips) if real_clips is not None else None,
                        n_synthetic=len(clips), seed=seed,
                        parameters={"n_bootstrap": n_bootstrap, "level": level, "unit": unit, "resampled": "clips"})
    if result.status == "not_applicable" and real_clips is None:
        values = pick(clips)[0]
        if values.size:
            result = result.model_copy(update={"details": {"unit": unit, "synthetic": quantiles(values)}})
    return result


def duration_distribution(clips: Sequence[Clip], *, real: Sequence[Clip] | None = None, n_bootstrap: int = 200,
                          level: float = 0.95, seed: int = 0) -> MetricResult:
    """`audio.duration_distribution`: 1 - KS distance of turn durations (clip durations when a side lacks turns),
    real against synthetic; without real recordings, not applicable with the synthetic quantiles in details."""
    return _distribution("audio.duration_distribution", 0, clips, real, n_bootstrap, level, seed)


def speaking_rate(clips: Sequence[Clip], *, real: Sequence[Clip] | None = None, n_bootstrap: int = 200,
                  level: float = 0.95, seed: int = 0) -> MetricResult:
    """`audio.speaking_rate`: 1 - KS distance of words per minute per turn (per clip when a side lacks turns; words
    from the script or the transcript beside a recording), real against synthetic."""
    return _distribution("audio.speaking_rate", 1, clips, real, n_bootstrap, level, seed)


def clip_values(clips: Sequence[Clip], real: Sequence[Clip] | None) -> dict[str, Any]:
    """The per-unit durations and speaking rates the report plots."""
    turns = _unit(list(clips), list(real) if real is not None else None)
    return {"unit": "turn" if turns else "clip", "synthetic": units(clips, turns)[:2],
            "real": units(real, turns)[:2] if real is not None else None}
