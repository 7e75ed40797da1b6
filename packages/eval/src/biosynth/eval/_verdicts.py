"""One sentence per metric family, stated against a reference point computed in the same run.

Utility is read against TRTR (the same model trained on real rows), privacy against the holdout baseline
(the leak flags each metric computes), fidelity against the real-vs-real ceiling at the synthetic sample
size. A family without a reference point lists its measures with their intervals and says so.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from biosynth.eval._result import MetricResult

Tone = Literal["good", "caution", "poor", "leak", "not_measured", "info"]
FAMILIES = ("fidelity", "utility", "privacy", "memorisation", "diversity", "factuality")


class Verdict(BaseModel):
    """A family's verdict: the sentence a reader sees first, and its tone (drawn as a colour)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    family: str
    sentence: str
    tone: Tone


def verdicts(results: tuple[MetricResult, ...], references: dict[str, Any], modality: str) -> list[Verdict]:
    by_name = {r.name: r for r in results}
    out: list[Verdict] = []
    for family in FAMILIES:
        chosen = [r for r in results if r.family.value == family]
        if family == "utility" and modality == "tabular":
            out.append(_utility(by_name.get("utility_tstr")))
        elif family == "privacy" and modality == "tabular":
            out.append(_privacy(chosen, by_name))
        elif family == "fidelity" and modality == "tabular" and "column_shapes" in by_name:
            out.append(_fidelity(by_name, references.get("fidelity_ceiling")))
        elif family == "fidelity" and modality == "image" and "image.fid" in by_name:
            out.append(_image_fidelity(by_name, references.get("image_fid_ceiling")))
        elif family == "memorisation" and modality == "image" and by_name.get("image.near_copies", None) is not None \
                and by_name["image.near_copies"].ok:
            out.append(_near_copies(by_name["image.near_copies"]))
        elif chosen:
            out.append(_listed(family, chosen))
    return out


def _ci(result: MetricResult | None) -> str:
    if result is None or result.ci is None:
        return ""
    return f" [{result.ci.low:.2f}, {result.ci.high:.2f}]"


def _pair(values: list[float] | tuple[float, float] | None) -> str:
    return f" [{values[0]:.2f}, {values[1]:.2f}]" if values else ""


def _utility(result: MetricResult | None) -> Verdict:
    if result is None:
        return Verdict(family="utility", tone="not_measured", sentence="Utility was not measured: name a column to "
                       "predict with --target, and give --holdout rows to test on.")
    if not result.ok or result.value is None:
        return Verdict(family="utility", tone="not_measured", sentence=f"Utility could not be measured: {result.error}")
    details = result.details
    trtr = details.get("trtr_auroc")
    trtr_ci = next((row.get("ci") for row in details.get("scores", []) if row.get("arm") == "trtr"
                    and row.get("model") == "gradient_boosting" and row.get("score") == "auroc"), None)
    tstr = result.value
    tail = (f"gradient boosting trained on synthetic rows and on real rows, both tested on the {details.get('n_test')} "
            f"holdout rows, predicting {details.get('target')!r}")
    if trtr is None or trtr <= 0.5:
        return Verdict(family="utility", tone="info", sentence=f"TSTR AUROC {tstr:.2f}{_ci(result)}; the real rows "
                       f"themselves give TRTR {trtr if trtr is None else round(trtr, 2)}, no better than chance, so "
                       f"there is no signal to keep ({tail}).")
    kept = max(0.0, (tstr - 0.5) / (trtr - 0.5))
    tone: Tone = "good" if kept >= 0.9 else "caution" if kept >= 0.5 else "poor"
    return Verdict(family="utility", tone=tone, sentence=(
        f"Synthetic rows keep {kept:.0%} of the real model's AUROC above chance (TSTR {tstr:.2f}{_ci(result)} vs "
        f"TRTR {trtr:.2f}{_pair(trtr_ci)}; {tail})."))


def _privacy(chosen: list[MetricResult], by_name: dict[str, MetricResult]) -> Verdict:
    if not chosen:
        return Verdict(family="privacy", tone="not_measured", sentence="Privacy was not measured.")
    computed = [r for r in chosen if r.ok]
    if not computed:
        reasons = sorted({r.error or "" for r in chosen})
        return Verdict(family="privacy", tone="not_measured", sentence="Privacy was not measured: " + "; ".join(reasons))
    leaks = [r.name for r in computed if r.details.get("leak_detected")]
    facts = []
    dcr = by_name.get("dcr")
    if dcr is not None and dcr.ok and dcr.value is not None:
        facts.append(f"the median synthetic row is {dcr.value:.2f}{_ci(dcr)} times as far from its closest training "
                     "row as an unseen real row is (DCR ratio; below 1 means closer than unseen people)")
    mia = by_name.get("membership_inference_distance")
    if mia is not None and mia.ok and mia.value is not None:
        facts.append(f"a membership attacker reaches AUC {mia.value:.2f}{_ci(mia)} (0.50 is chance)")
    copies = by_name.get("exact_copy_rate")
    if copies is not None and copies.ok:
        facts.append(f"{copies.details.get('synthetic_copies')} synthetic rows copy a training row exactly "
                     f"(holdout rows: {copies.details.get('holdout_copies')})")
    missing = [r.name for r in chosen if not r.ok]
    tail = f" Not computed: {', '.join(missing)}." if missing else ""
    if leaks:
        return Verdict(family="privacy", tone="leak", sentence=(
            f"LEAK flagged by {', '.join(leaks)}: the synthetic rows reveal more about the training people than about "
            f"unseen people from the same population. " + ("; ".join(facts) + "." if facts else "") + tail))
    return Verdict(family="privacy", tone="good", sentence=(
        f"No leak flag in {len(computed)} attacks against the holdout baseline: " + "; ".join(facts) + "." + tail))


def _fidelity(by_name: dict[str, MetricResult], ceiling: dict[str, Any] | None) -> Verdict:
    shapes, pairs, detection = by_name.get("column_shapes"), by_name.get("column_pair_trends"), by_name.get("detection_auc")
    parts, gaps = [], []
    for result, key, label in ((shapes, "column_shapes", "column shapes"), (pairs, "column_pair_trends", "pair trends")):
        if result is None or not result.ok or result.value is None:
            continue
        reference = (ceiling or {}).get(key) if (ceiling or {}).get("status") == "computed" else None
        if reference:
            parts.append(f"{label} {result.value:.2f}{_ci(result)} against {reference['mean']:.2f} for real rows")
            gaps.append(reference["mean"] - result.value)
        else:
            parts.append(f"{label} {result.value:.2f}{_ci(result)}")
    if not parts:
        return Verdict(family="fidelity", tone="not_measured", sentence="Fidelity could not be measured: "
                       + "; ".join(r.error or "" for r in (shapes, pairs) if r is not None))
    sentence = ", ".join(parts)
    sentence = sentence[0].upper() + sentence[1:]
    if gaps and ceiling:
        sentence += f" (the ceiling: {ceiling['method']})"
    if detection is not None and detection.ok and detection.value is not None:
        sentence += (f"; a classifier tells synthetic from real rows with AUC {detection.value:.2f}{_ci(detection)} "
                     "(0.50: indistinguishable)")
    worst = max(gaps) if gaps else None
    tone: Tone = "info" if worst is None else "good" if worst <= 0.03 else "caution" if worst <= 0.10 else "poor"
    return Verdict(family="fidelity", tone=tone, sentence=sentence + ".")


def _image_fidelity(by_name: dict[str, MetricResult], ceiling: dict[str, Any] | None) -> Verdict:
    """FID against held-apart real images at the same sizes; tone by their ratio (good <= 1.25, caution <= 2)."""
    fid = by_name["image.fid"]
    if not fid.ok or fid.value is None:
        return Verdict(family="fidelity", tone="not_measured", sentence=f"Image fidelity could not be measured: {fid.error}")
    features = str(fid.parameters.get("features", "unnamed features")).split(" (")[0]
    sentence = f"FID {fid.value:.2f}{_ci(fid)} on {features} features"
    extras = [f"{name.removeprefix('image.')} {by_name[name].value:.2f}" for name in ("image.density", "image.coverage")
              if name in by_name and by_name[name].ok and by_name[name].value is not None]
    if extras:
        sentence += f" ({', '.join(extras)})"
    if not ceiling or ceiling.get("status") != "computed":
        return Verdict(family="fidelity", tone="info", sentence=sentence + "; no real-vs-real reference: "
                       + str((ceiling or {}).get("reason", "not computed")) + ".")
    synthetic, real = ceiling["fid_synthetic"]["mean"], ceiling["fid_real"]["mean"]
    if real <= 0:  # held-apart real images identical to the others: a ratio against 0 says nothing
        return Verdict(family="fidelity", tone="caution", sentence=(
            f"{sentence}. At equal sizes ({ceiling['method']}) synthetic images score FID {synthetic:.2f}, but "
            f"held-apart real images score {real:.2f}: the real images repeat each other, so there is no reference "
            "to compare with."))
    ratio = synthetic / real
    tone: Tone = "good" if ratio <= 1.25 else "caution" if ratio <= 2 else "poor"
    return Verdict(family="fidelity", tone=tone, sentence=(
        f"{sentence}. At equal sizes ({ceiling['method']}) synthetic images score FID {synthetic:.2f} where held-apart "
        f"real images score {real:.2f} ({ratio:.1f}x)."))


def _near_copies(result: MetricResult) -> Verdict:
    """Near-copies against the held-out images' own distances to the training set."""
    d = result.details
    flagged = d.get("flagged") or []
    quantile = float(result.parameters.get("quantile", 0.0))
    which = "any of the" if quantile == 0 else f"all but the nearest {quantile:.0%} of the"
    facts = (f"{len(flagged)} of {result.n_synthetic} synthetic images lie nearer a training image than {which} "
             f"{result.n_holdout} held-out real images come (by features or by pixel correlation; an unseen image is "
             f"flagged at about {d.get('expected_rate_for_unseen_images', 0):.0%})")
    if d.get("leak_detected"):
        return Verdict(family="memorisation", tone="leak", sentence=f"LEAK flagged by image.near_copies: {facts}, "
                       f"more than chance explains (binomial p = {d.get('binomial_p_value', 0):.2g}); see the listed "
                       "images.")
    return Verdict(family="memorisation", tone="good", sentence=f"No memorisation flag: {facts}.")


def _listed(family: str, chosen: list[MetricResult]) -> Verdict:
    computed = [r for r in chosen if r.ok and r.value is not None]
    if not computed:
        return Verdict(family=family, tone="not_measured", sentence=f"{family.capitalize()} was not measured: "
                       + "; ".join(sorted({r.error or "" for r in chosen})))
    listed = ", ".join(f"{r.name} {r.value:.3f}{_ci(r)}" for r in computed[:6])
    more = f" and {len(computed) - 6} more" if len(computed) > 6 else ""
    leaks = [r.name for r in computed if r.details.get("leak_detected")]
    if leaks:
        return Verdict(family=family, tone="leak", sentence=f"LEAK flagged by {', '.join(leaks)}. {listed}{more}.")
    return Verdict(family=family, tone="info", sentence=f"{family.capitalize()}: {listed}{more} (no reference point "
                   "in this run; see each metric below).")
