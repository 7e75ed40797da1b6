"""Speaker distinctness: can the voices of one scene be told apart? Each turn's GE2E speaker embedding; cosine
distances between turns of different speakers in the same clip against those of the same speaker."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np

from biosynth.eval._audio.common import MODALITY, SMALL_CLIPS, check_clips, clip_interval
from biosynth.eval._audio.io import Clip, Utterance
from biosynth.eval._audio.models import SpeakerEncoder
from biosynth.eval._measure import NotApplicable, Outcome, check_bootstrap, run_metric
from biosynth.eval._result import Direction, Family, MetricResult

MIN_SPEECH_S = 0.5  # a turn shorter than this (after overlaps are cut away) gets no embedding


def solo_span(utterances: Sequence[Utterance], index: int) -> tuple[float, float]:
    """The longest part of turn `index` that no other turn overlaps."""
    turn = utterances[index]
    cuts = sorted((max(u.start, turn.start), min(u.end, turn.end)) for i, u in enumerate(utterances)
                  if i != index and u.start < turn.end and u.end > turn.start)
    best, cursor = (turn.start, turn.start), turn.start
    for start, end in [*cuts, (turn.end, turn.end)]:
        if start - cursor > best[1] - best[0]:
            best = (cursor, start)
        cursor = max(cursor, end)
    return best


def pair_distances(clips: Sequence[Clip], encoder: SpeakerEncoder) -> list[tuple[int, bool, float, str]]:
    """(clip, same speaker?, cosine distance, speaker pair) for every pair of embedded turns within a clip."""
    out = []
    for index, clip in enumerate(clips):
        embedded = []
        for i, u in enumerate(clip.utterances):
            start, end = solo_span(clip.utterances, i)
            if end - start >= MIN_SPEECH_S:
                embedded.append((u.speaker, encoder.embed(clip.cut(start, end))))
        for (a, ea), (b, eb) in combinations(embedded, 2):
            out.append((index, a == b, float(1.0 - ea @ eb), " / ".join(sorted({a, b}))))
    return out


def auc(within: np.ndarray, between: np.ndarray, w_within: np.ndarray, w_between: np.ndarray) -> float:
    """P(a between-speaker distance exceeds a within-speaker one), ties counted half, under pair weights."""
    if w_within.sum() == 0 or w_between.sum() == 0:
        return float("nan")
    greater = (between[:, None] > within[None, :]) + 0.5 * (between[:, None] == within[None, :])
    return float(w_between @ greater @ w_within / (w_between.sum() * w_within.sum()))


def speaker_distinctness(clips: Sequence[Clip], *, real: Sequence[Clip] | None = None,
                         encoder: SpeakerEncoder | None = None, n_bootstrap: int = 200, level: float = 0.95,
                         seed: int = 0) -> MetricResult:
    """`audio.speaker_distinctness`: the AUC with which the GE2E cosine distance separates turn pairs of different
    speakers from pairs of the same speaker, within each clip (1: every voice apart from the others; 0.5: no better
    than chance). Turns overlapped by another speaker are cut to their longest solo part. With real clips that carry
    timed turns, their AUC is given as the reference point."""
    check_bootstrap(n_bootstrap, level)
    clips = check_clips(clips, "clips")
    real_clips = check_clips(real, "real") if real is not None else None
    model = encoder or SpeakerEncoder()

    def compute() -> Outcome:
        pairs = pair_distances(clips, model)
        same = np.array([p[1] for p in pairs], dtype=bool)
        if not same.any() or same.all():
            raise NotApplicable("speaker distinctness needs, within clips, turns of the same speaker and of different "
                                f"speakers, each at least {MIN_SPEECH_S} s of solo speech; found "
                                f"{int(same.sum())} same-speaker and {int((~same).sum())} different-speaker pairs")
        distance = np.array([p[2] for p in pairs])
        owner = np.array([p[0] for p in pairs])
        within, between = distance[same], distance[~same]
        value = auc(within, between, np.ones(len(within)), np.ones(len(between)))

        def statistic(w: np.ndarray) -> float:
            weights = w[owner]
            return auc(within, between, weights[same], weights[~same])

        ci, notes = clip_interval(statistic, len(clips), value, n_bootstrap=n_bootstrap, level=level, seed=seed,
                                  what="speaker distinctness", bounds=(0.0, 1.0))
        warnings = [*notes]
        if len(clips) < SMALL_CLIPS:
            warnings.append(f"small sample: {len(clips)} clips (fewer than {SMALL_CLIPS}); the interval is rough")
        by_pair: dict[str, list[float]] = {}
        for _, is_same, d, label in pairs:
            by_pair.setdefault(("same: " if is_same else "apart: ") + label, []).append(d)
        details: dict[str, Any] = {
            "embedding": model.name, "mean_within_speaker_distance": float(within.mean()),
            "mean_between_speaker_distance": float(between.mean()), "within_pairs": len(within),
            "between_pairs": len(between),
            "mean_distance_by_pair": {k: float(np.mean(v)) for k, v in sorted(by_pair.items())},
            "definition": "AUC of cosine distance: different-speaker pairs vs same-speaker pairs, within clips"}
        if real_clips and any(c.utterances for c in real_clips):
            real_pairs = pair_distances(real_clips, model)
            r_same = np.array([p[1] for p in real_pairs], dtype=bool)
            r_distance = np.array([p[2] for p in real_pairs])
            if r_same.any() and not r_same.all():
                details["real"] = {"value": auc(r_distance[r_same], r_distance[~r_same], np.ones(int(r_same.sum())),
                                                np.ones(int((~r_same).sum()))), "pairs": len(real_pairs)}
        return Outcome(value=value, ci=ci, warnings=warnings, details=details)

    return run_metric(name="audio.speaker_distinctness", family=Family.DIVERSITY, direction=Direction.HIGHER,
                      compute=compute, modality=MODALITY, n_real=len(real_clips) if real_clips is not None else None,
                      n_synthetic=len(clips), seed=seed,
                      parameters={"n_bootstrap": n_bootstrap, "level": level, "min_speech_s": MIN_SPEECH_S,
                                  "resampled": "clips"})
