"""HALO's fidelity measures: R² between real and synthetic probabilities of codes, within-visit code pairs and
consecutive-visit code pairs, each per patient and per visit.

Definitions follow the HALO reference code (`generate_statistics` / `generate_plots`): a probability is
the share of patients (or visits) holding a code or pair; pairs within a visit are unordered, pairs
across consecutive visits ordered (previous, next); per-visit consecutive pairs are divided by the
number of consecutive visit pairs; R² is sklearn's `r2_score(real, synthetic)` over the union of keys
with missing keys as 0.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Hashable, Sequence

from pydantic import BaseModel, ConfigDict

from biosynth.core import VisitSequencePayload

MEASURES = (
    "code_prevalence_per_patient", "code_prevalence_per_visit",
    "within_visit_pairs_per_patient", "within_visit_pairs_per_visit",
    "consecutive_visit_pairs_per_patient", "consecutive_visit_pairs_per_visit",
)
History = Sequence[Sequence[str]]


class FidelityReport(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    r2: dict[str, float | None]
    n_real: int
    n_synthetic: int
    warnings: tuple[str, ...] = ()


def _histories(patients: Sequence[VisitSequencePayload | History]) -> list[list[frozenset[str]]]:
    out = []
    for patient in patients:
        visits = patient.visits if isinstance(patient, VisitSequencePayload) else patient
        out.append([frozenset(v.codes if hasattr(v, "codes") else v) for v in visits])  # type: ignore[union-attr]
    return out


def code_statistics(patients: Sequence[VisitSequencePayload | History]) -> dict[str, dict[Hashable, float]]:
    """The six probability tables of HALO's `generate_statistics`."""
    histories = _histories(patients)
    counts: dict[str, Counter[Hashable]] = {m: Counter() for m in MEASURES}
    n_visits = n_transitions = 0
    for visits in histories:
        codes: set[Hashable] = set()
        pairs: set[Hashable] = set()
        transitions: set[Hashable] = set()
        for j, visit in enumerate(visits):
            n_visits += 1
            ordered = sorted(visit)
            counts["code_prevalence_per_visit"].update(ordered)
            codes.update(ordered)
            visit_pairs = list(itertools.combinations(ordered, 2))
            counts["within_visit_pairs_per_visit"].update(visit_pairs)
            pairs.update(visit_pairs)
            if j > 0:
                n_transitions += 1
                step = [(a, b) for a in sorted(visits[j - 1]) for b in ordered]
                counts["consecutive_visit_pairs_per_visit"].update(step)
                transitions.update(step)
        counts["code_prevalence_per_patient"].update(codes)
        counts["within_visit_pairs_per_patient"].update(pairs)
        counts["consecutive_visit_pairs_per_patient"].update(transitions)
    denominators = {
        "code_prevalence_per_patient": len(histories), "within_visit_pairs_per_patient": len(histories),
        "consecutive_visit_pairs_per_patient": len(histories), "code_prevalence_per_visit": n_visits,
        "within_visit_pairs_per_visit": n_visits, "consecutive_visit_pairs_per_visit": n_transitions,
    }
    return {m: {k: v / denominators[m] for k, v in counts[m].items()} if denominators[m] else {} for m in MEASURES}


def r2_score(real: Sequence[float], synthetic: Sequence[float]) -> float | None:
    """Coefficient of determination of `synthetic` as a prediction of `real` (sklearn's formula, written out to
    avoid a scikit-learn dependency); None when `real` is constant (undefined)."""
    mean = sum(real) / len(real)
    total = sum((r - mean) ** 2 for r in real)
    if total == 0:
        return None
    residual = sum((r - s) ** 2 for r, s in zip(real, synthetic, strict=True))
    return 1.0 - residual / total


def halo_fidelity(real: Sequence[VisitSequencePayload | History],
                  synthetic: Sequence[VisitSequencePayload | History]) -> FidelityReport:
    """R² of each HALO measure between `real` (e.g. held-out) and `synthetic` patients."""
    if not real or not synthetic:
        raise ValueError(f"halo_fidelity needs patients on both sides (real {len(real)}, synthetic {len(synthetic)})")
    stats_real, stats_synth = code_statistics(real), code_statistics(synthetic)
    r2: dict[str, float | None] = {}
    warnings: list[str] = []
    for measure in MEASURES:
        keys = sorted(set(stats_real[measure]) | set(stats_synth[measure]), key=repr)
        if len(keys) < 2:
            r2[measure] = None
            warnings.append(f"{measure}: fewer than two keys; R² undefined")
            continue
        value = r2_score([stats_real[measure].get(k, 0.0) for k in keys],
                         [stats_synth[measure].get(k, 0.0) for k in keys])
        if value is None:
            warnings.append(f"{measure}: real probabilities are all equal; R² undefined")
        r2[measure] = value
    return FidelityReport(r2=r2, n_real=len(real), n_synthetic=len(synthetic), warnings=tuple(warnings))
