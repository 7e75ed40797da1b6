"""Judges' scores as `MetricResult`s (family "judge"): the rubric score with its interval, length bias and the
length-controlled score, self-preference, the pairwise win rate over consistent verdicts and the position bias."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from biosynth.eval._judge.bias import length_bias, length_controlled_win_rate, word_count
from biosynth.eval._judge.family import model_family
from biosynth.eval._judge.items import JudgeItem
from biosynth.eval._judge.judge import Judgement, PairVerdict, PairwiseJudge, RubricJudge
from biosynth.eval._measure import NotApplicable, Outcome, bootstrap_interval, check_bootstrap, run_metric
from biosynth.eval._result import Direction, Family, MetricResult


def _bootstrap_mean(values: np.ndarray, seed: int, n_bootstrap: int, level: float, what: str,
                    bounds: tuple[float, float]) -> tuple[Any, list[str]]:
    if n_bootstrap == 0 or len(values) < 2:
        return None, []
    generator = np.random.default_rng(seed)
    replicates = np.array([values[generator.integers(0, len(values), len(values))].mean() for _ in range(n_bootstrap)])
    ci, notes = bootstrap_interval(replicates, float(values.mean()), level, what, bounds)
    if ci is not None:
        ci = ci.model_copy(update={"method": f"percentile-reflected (basic) bootstrap over items, B={n_bootstrap}"})
    return ci, notes


def rubric_metrics(judge: RubricJudge, items: Sequence[JudgeItem], judgements: Sequence[Judgement], *,
                   modality: str = "text", seed: int = 0, n_bootstrap: int = 200, level: float = 0.95,
                   reference_lengths: Sequence[int] | None = None, warnings: Sequence[str] = (),
                   duration_s: float = 0.0) -> list[MetricResult]:
    """The rubric score (mean, interval, per-item scores), its length bias and length-controlled score, and the
    self-preference check, for `judgements` of `items` by `judge`."""
    check_bootstrap(n_bootstrap, level)
    rubric = judge.rubric
    graded = [(item, j) for item, j in zip(items, judgements, strict=True) if j.score is not None]
    failed = [j for j in judgements if j.score is None]
    scores = np.array([j.score for _, j in graded], dtype=np.float64)
    parameters = {"rubric": rubric.describe(), "templates": judge.templates(),
                  "judge": judge.model_ref.model_dump(mode="json"), "method": judge.method,
                  "top_logprobs": judge.top_logprobs if judge.uses_geval else None, "max_attempts": judge.max_attempts}
    notes = list(warnings)
    if failed:
        notes.append(f"{len(failed)} of {len(judgements)} items could not be graded (first: {failed[0].item_id}: "
                     f"{failed[0].error})")
    fallbacks = [j for j in graded if j[1].notes and j[1].notes[0].startswith("g-eval")]
    if fallbacks:
        notes.append(f"{len(fallbacks)} of {len(graded)} items were graded with feedback instead of G-Eval "
                     f"({fallbacks[0][1].notes[0]})")

    def score() -> Outcome:
        if not graded:
            raise RuntimeError(f"no item could be graded: {failed[0].error if failed else 'no items'}")
        ci, ci_notes = _bootstrap_mean(scores, seed, n_bootstrap, level, f"judge.{rubric.name}",
                                       (rubric.lowest, rubric.highest))
        levels = Counter(round(float(s)) for s in scores)
        return Outcome(value=float(scores.mean()), ci=ci, warnings=ci_notes, details={
            "scale": [rubric.lowest, rubric.highest],
            "normalised": float((scores.mean() - rubric.lowest) / (rubric.highest - rubric.lowest)),
            "distribution": {f"{lv.value} {lv.label}": levels.get(lv.value, 0) for lv in rubric.levels},
            "bars": [(f"{lv.value} {lv.label}", levels.get(lv.value, 0) / len(scores), None) for lv in rubric.levels],
            "methods": dict(Counter(j.method for _, j in graded)),
            "graded": len(graded), "failed": len(failed),
            # one row per record in the shape biosynth-eval's human review reads (the judge: parameters["judge"])
            "scores": [{"record_id": j.item_id, "criterion": rubric.name, "score": j.score,
                        "confidence": max(j.probabilities.values()) if j.probabilities else None,
                        "rationale_sha256": j.rationale_sha256} for _, j in graded],
            "grading": [{"record_id": j.item_id, "method": j.method, "attempts": j.attempts,
                         **({"probabilities": {str(k): v for k, v in j.probabilities.items()},
                             "score_mass": j.score_mass} if j.probabilities else {})} for _, j in graded],
            "failures": [{"id": j.item_id, "error": j.error, "attempts": j.attempts} for j in failed],
        })

    common: dict[str, Any] = dict(family=Family.JUDGE, n_real=None, n_synthetic=len(items), seed=seed,
                                  parameters=parameters, modality=modality)
    main = run_metric(name=f"judge.{rubric.name}", direction=Direction.HIGHER, compute=score, warnings=notes, **common)
    if duration_s:
        main = main.model_copy(update={"duration_s": main.duration_s + duration_s})
    lengths = [word_count(item.text) for item, _ in graded]
    length_common = {**common, "parameters": {**parameters, "length": "words (white-space separated)"}}
    start = time.perf_counter()
    try:
        fit = length_bias(scores.tolist(), lengths, reference_lengths)
    except ValueError as err:
        reason = str(err)
        bias_result = MetricResult(name="judge.length_bias", direction=Direction.LOWER, value=None,
                                   status="not_applicable", error=reason, **length_common)
        controlled = MetricResult(name=f"judge.{rubric.name}_length_controlled", direction=Direction.HIGHER,
                                  value=None, status="not_applicable", error=reason, **length_common)
    else:
        strong = abs(fit.rho) >= 0.5 and fit.p_value < 0.05
        bias_result = MetricResult(
            name="judge.length_bias", direction=Direction.LOWER, value=abs(fit.rho),
            duration_s=time.perf_counter() - start, **length_common,
            warnings=(f"|Spearman rho| of score with length is {abs(fit.rho):.2f}: the judge's scores follow "
                      "length",) if strong else (),
            details={"spearman_rho": fit.rho, "p_value": fit.p_value, "slope_per_100_words": fit.slope_per_100_words,
                     "length_controlled_score": fit.controlled_score, "reference_length_words": fit.reference_length,
                     "reference_length_from": fit.reference_source})
        controlled = MetricResult(
            name=f"judge.{rubric.name}_length_controlled", direction=Direction.HIGHER, **length_common,
            value=float(np.clip(fit.controlled_score, rubric.lowest, rubric.highest)),
            details={"reference_length_words": fit.reference_length, "reference_length_from": fit.reference_source,
                     "slope_per_100_words": fit.slope_per_100_words, "unclipped": fit.controlled_score})
    return [main, bias_result, controlled, self_preference_metric(judge, items, warnings, modality=modality, seed=seed)]


def self_preference_metric(judge: RubricJudge | PairwiseJudge, items: Sequence[JudgeItem], warnings: Sequence[str],
                           *, modality: str, seed: int) -> MetricResult:
    """1 when the judge shares a model family with a generator of the judged items (a forced self-judge), else 0."""
    generators = sorted({f"{i.generator.name} ({i.generator.backend})": model_family(i.generator)
                         for i in items if i.generator is not None}.items())
    shared = [w for w in warnings if "self-preference" in w]
    return MetricResult(name="judge.self_preference", family=Family.JUDGE, modality=modality,
                        value=1.0 if shared else 0.0, direction=Direction.LOWER, n_synthetic=len(items), seed=seed,
                        parameters={"judge": judge.model_ref.model_dump(mode="json")},
                        warnings=tuple(shared), details={"judge_family": model_family(judge.model_ref),
                                                         "generator_families": dict(generators),
                                                         "rule": "same weights sha256, or the same leading name word "
                                                                 "(known fine-tunes mapped to their base)"})


def pairwise_metrics(judge: PairwiseJudge, pairs: Sequence[tuple[JudgeItem, JudgeItem]], verdicts: Sequence[PairVerdict],
                     *, labels: tuple[str, str] = ("a", "b"), modality: str = "text", seed: int = 0,
                     n_bootstrap: int = 200, level: float = 0.95, warnings: Sequence[str] = ()) -> list[MetricResult]:
    """The win rate of `labels[0]` over consistent verdicts only, and the position-bias rate (the share of decided
    pairs whose verdict flipped with the order)."""
    check_bootstrap(n_bootstrap, level)
    decided = [v for v in verdicts if v.decided]
    consistent = [(pair, v) for pair, v in zip(pairs, verdicts, strict=True) if v.winner is not None]
    undecided = [v for v in verdicts if not v.decided]
    favoured = Counter(v.favoured_position for v in decided if v.favoured_position is not None)
    parameters = {"rubric": judge.rubric.describe(), "templates": judge.templates(),
                  "judge": judge.model_ref.model_dump(mode="json"), "labels": list(labels),
                  "orders": "each pair asked as (a, b) and as (b, a)"}
    notes = list(warnings)
    if undecided:
        notes.append(f"{len(undecided)} of {len(verdicts)} pairs got no valid verdict in one order "
                     f"(first: {undecided[0].error})")
    common: dict[str, Any] = dict(family=Family.JUDGE, n_real=None, n_synthetic=len(pairs), seed=seed,
                                  parameters=parameters, modality=modality)

    def win_rate() -> Outcome:
        if not consistent:
            raise NotApplicable(f"no pair got the same verdict in both orders ({len(decided)} decided, all "
                                "inconsistent)" if decided else "no pair got a valid verdict")
        wins = np.array([v.winner == "a" for _, v in consistent], dtype=np.float64)
        ci, ci_notes = _bootstrap_mean(wins, seed, n_bootstrap, level, "judge.pairwise_win_rate", (0.0, 1.0))
        details: dict[str, Any] = {
            f"{labels[0]}_wins": int(wins.sum()), f"{labels[1]}_wins": int(len(wins) - wins.sum()),
            "consistent": len(consistent), "inconsistent": len(decided) - len(consistent), "undecided": len(undecided),
            "pairs": [{"id": v.pair_id, "first_order": v.first, "swapped_order": v.second, "winner": v.winner,
                       "rationales_sha256": list(v.rationales_sha256)} for v in verdicts]}
        try:
            details["length_controlled_win_rate"] = length_controlled_win_rate(
                [v.winner == "a" for _, v in consistent],
                [word_count(a.text) - word_count(b.text) for (a, b), _ in consistent])
        except ValueError as err:
            details["length_controlled_win_rate"] = None
            details["length_controlled_note"] = str(err)
        return Outcome(value=float(wins.mean()), ci=ci, warnings=ci_notes, details=details)

    def position_bias() -> Outcome:
        if not decided:
            raise NotApplicable("no pair got a valid verdict in both orders")
        rate = (len(decided) - len(consistent)) / len(decided)
        flags = [f"the verdict flipped with the order in {rate:.0%} of pairs, mostly for position "
                 f"{favoured.most_common(1)[0][0]}"] if rate >= 0.25 and favoured else []
        return Outcome(value=rate, warnings=flags, details={
            "decided": len(decided), "inconsistent": len(decided) - len(consistent),
            "favoured_first_position": favoured.get("A", 0), "favoured_second_position": favoured.get("B", 0)})

    return [run_metric(name="judge.pairwise_win_rate", direction=Direction.HIGHER, compute=win_rate, warnings=notes,
                       **common),
            run_metric(name="judge.position_bias", direction=Direction.LOWER, compute=position_bias, **common),
            self_preference_metric(judge, [i for pair in pairs for i in pair], warnings, modality=modality, seed=seed)]
