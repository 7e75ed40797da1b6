"""Visit-sequence (longitudinal EHR) fidelity: HALO's measures and the visit-count and codes-per-visit distributions.

HALO's measures follow the HALO reference code (`generate_statistics` / `generate_plots`): a probability is the
share of patients (or visits) holding a code or pair; pairs within a visit are unordered, pairs across consecutive
visits ordered (previous, next); per-visit consecutive pairs are divided by the number of consecutive visit pairs;
R² is scikit-learn's `r2_score(real, synthetic)` over the union of keys, a key missing on one side counting 0.

Every statistic is a ratio of per-patient sums, so intervals resample patients (a cluster bootstrap: a patient's
visits stay together) by weighting one sparse patients x keys count matrix per side.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.stats import ks_2samp
from sklearn.metrics import r2_score

from biosynth.core import ConfigError, InputDataError, VisitSequencePayload, rng
from biosynth.eval._measure import (
    SMALL_SAMPLE,
    NotApplicable,
    Outcome,
    bootstrap_counts,
    bootstrap_interval,
    check_bootstrap,
    run_metric,
)
from biosynth.eval._result import Direction, Family, MetricResult

MODALITY = "ehr"
HALO_MEASURES = (
    "code_prevalence_per_patient", "code_prevalence_per_visit",
    "within_visit_pairs_per_patient", "within_visit_pairs_per_visit",
    "consecutive_visit_pairs_per_patient", "consecutive_visit_pairs_per_visit",
)
History = Sequence[Sequence[str]]
Patients = Sequence[VisitSequencePayload | History]


def histories(patients: Patients, role: str = "patients") -> list[list[frozenset[str]]]:
    """Each patient as a list of visits, each visit the set of its codes. A patient is a `VisitSequencePayload` or a
    list of visits, a visit a list of code strings (or an object with `.codes`)."""
    if isinstance(patients, (str, bytes)) or not isinstance(patients, Sequence):
        raise InputDataError(f"{role} must be a sequence of patients (VisitSequencePayload or lists of visits), got "
                             f"{type(patients).__name__}")
    out = []
    for number, patient in enumerate(patients):
        visits = patient.visits if isinstance(patient, VisitSequencePayload) else patient
        if isinstance(visits, (str, bytes)) or not isinstance(visits, Sequence):
            raise InputDataError(f"{role}[{number}] must be a list of visits, got {type(visits).__name__}")
        history = []
        for visit in visits:
            codes = visit.codes if hasattr(visit, "codes") else visit
            if isinstance(codes, (str, bytes)) or not all(isinstance(c, str) for c in codes):
                raise InputDataError(f"{role}[{number}] has a visit that is not a list of code strings: {codes!r}")
            history.append(frozenset(codes))
        out.append(history)
    return out


def _patient_keys(visits: list[frozenset[str]]) -> dict[str, Counter[Hashable]]:
    """One patient's count of each key per measure (per-patient measures: presence; per-visit: visits holding it)."""
    counts: dict[str, Counter[Hashable]] = {m: Counter() for m in HALO_MEASURES}
    for j, visit in enumerate(visits):
        ordered = sorted(visit)
        counts["code_prevalence_per_visit"].update(ordered)
        counts["within_visit_pairs_per_visit"].update(itertools.combinations(ordered, 2))
        if j > 0:
            counts["consecutive_visit_pairs_per_visit"].update((a, b) for a in sorted(visits[j - 1]) for b in ordered)
    for per_visit, per_patient in (("code_prevalence_per_visit", "code_prevalence_per_patient"),
                                   ("within_visit_pairs_per_visit", "within_visit_pairs_per_patient"),
                                   ("consecutive_visit_pairs_per_visit", "consecutive_visit_pairs_per_patient")):
        counts[per_patient] = Counter(dict.fromkeys(counts[per_visit], 1))
    return counts


def _denominators(hist: list[list[frozenset[str]]]) -> dict[str, np.ndarray]:
    ones = np.ones(len(hist))
    visits = np.array([len(h) for h in hist], dtype=np.float64)
    return {"code_prevalence_per_patient": ones, "within_visit_pairs_per_patient": ones,
            "consecutive_visit_pairs_per_patient": ones, "code_prevalence_per_visit": visits,
            "within_visit_pairs_per_visit": visits, "consecutive_visit_pairs_per_visit": np.maximum(visits - 1, 0)}


@dataclass(frozen=True)
class _Side:
    counts: dict[str, sparse.csr_matrix]  # patients x keys, per measure
    denominators: dict[str, np.ndarray]  # per patient, per measure


def _count_matrices(sides: list[list[list[frozenset[str]]]]) -> tuple[list[_Side], dict[str, list[Hashable]]]:
    """Sparse per-patient count matrices of every side over one shared list of keys per measure."""
    per_patient = [[_patient_keys(visits) for visits in hist] for hist in sides]
    keys: dict[str, dict[Hashable, int]] = {m: {} for m in HALO_MEASURES}
    out = []
    for hist, patients in zip(sides, per_patient, strict=True):
        matrices = {}
        for measure in HALO_MEASURES:
            index = keys[measure]
            rows, cols, data = [], [], []
            for i, counts in enumerate(patients):
                for key, count in counts[measure].items():
                    rows.append(i)
                    cols.append(index.setdefault(key, len(index)))
                    data.append(count)
            matrices[measure] = (rows, cols, data)
        out.append((matrices, _denominators(hist), len(hist)))
    sides_out = []
    for matrices, denominators, n in out:
        sides_out.append(_Side(
            counts={m: sparse.csr_matrix((np.asarray(d, dtype=np.float64), (r, c)), shape=(n, len(keys[m])))
                    for m, (r, c, d) in matrices.items()},
            denominators=denominators))
    return sides_out, {m: list(index) for m, index in keys.items()}


def _probabilities(side: _Side, measure: str, weights: np.ndarray | None = None) -> np.ndarray:
    w = np.ones(side.counts[measure].shape[0]) if weights is None else weights
    total = float(w @ side.denominators[measure])
    if total == 0:
        return np.zeros(side.counts[measure].shape[1])
    return np.asarray(side.counts[measure].T @ w).ravel() / total


def code_statistics(patients: Patients) -> dict[str, dict[Hashable, float]]:
    """The six probability tables of HALO's `generate_statistics` (key -> probability, keys that occur only)."""
    (side,), keys = _count_matrices([histories(patients)])
    out = {}
    for measure in HALO_MEASURES:
        probability = _probabilities(side, measure)
        out[measure] = {k: float(p) for k, p in zip(keys[measure], probability, strict=True) if p > 0}
    return out


def _r2(real: np.ndarray, synthetic: np.ndarray) -> float:
    """R² over the keys that occur on either side (NaN when fewer than two, or the real side is constant)."""
    present = (real > 0) | (synthetic > 0)
    if present.sum() < 2 or np.ptp(real[present]) == 0:
        return float("nan")
    return float(r2_score(real[present], synthetic[present]))


def _check_sides(real: Patients, synthetic: Patients) -> tuple[list[list[frozenset[str]]], list[list[frozenset[str]]]]:
    real_h, synthetic_h = histories(real, "real"), histories(synthetic, "synthetic")
    if not real_h or not synthetic_h:
        raise InputDataError(f"visit-sequence metrics need patients on both sides (real {len(real_h)}, synthetic "
                             f"{len(synthetic_h)})")
    return real_h, synthetic_h


def halo_r2_all(real: Patients, synthetic: Patients, *, n_bootstrap: int = 200, level: float = 0.95,
                seed: int = 0) -> list[MetricResult]:
    """HALO's six R² measures between `real` (e.g. held-out) and `synthetic` patients, one result each (the count
    matrices are built once). R² is undefined ('not_applicable') with fewer than two keys or constant real
    probabilities."""
    check_bootstrap(n_bootstrap, level)
    real_h, synthetic_h = _check_sides(real, synthetic)
    built: list[tuple[list[_Side], dict[str, list[Hashable]]]] = []

    def build() -> tuple[list[_Side], dict[str, list[Hashable]]]:
        if not built:
            built.append(_count_matrices([real_h, synthetic_h]))
        return built[0]

    results = []
    for index, measure in enumerate(HALO_MEASURES):
        def compute(measure: str = measure, index: int = index) -> Outcome:
            (real_side, synthetic_side), keys = build()
            point = _r2(_probabilities(real_side, measure), _probabilities(synthetic_side, measure))
            if not np.isfinite(point):
                raise NotApplicable(f"R² of {measure} is undefined: fewer than two keys, or every real probability "
                                    "is the same")
            warnings = []
            if min(len(real_h), len(synthetic_h)) < SMALL_SAMPLE:
                warnings.append(f"small sample: fewer than {SMALL_SAMPLE} patients on a side; R² is noisy")
            ci = None
            if n_bootstrap:
                generator = rng(seed + index)
                reps = np.array([
                    _r2(_probabilities(real_side, measure, bootstrap_counts(generator, len(real_h))),
                        _probabilities(synthetic_side, measure, bootstrap_counts(generator, len(synthetic_h))))
                    for _ in range(n_bootstrap)])
                ci, notes = bootstrap_interval(reps, point, level, f"R² of {measure}", bounds=(-np.inf, 1.0))
                warnings += notes
            return Outcome(value=point, ci=ci, warnings=warnings, details={
                "measure": measure, "keys": len(keys[measure]),
                "definition": "sklearn r2_score(real probabilities, synthetic probabilities) over the union of keys"})

        results.append(run_metric(name=f"visits.r2_{measure}", family=Family.FIDELITY, direction=Direction.HIGHER,
                                  compute=compute, modality=MODALITY, n_real=len(real_h), n_synthetic=len(synthetic_h),
                                  seed=seed, parameters={"measure": measure, "n_bootstrap": n_bootstrap,
                                                         "level": level, "resampled": "patients"}))
    return results


def halo_r2(real: Patients, synthetic: Patients, measure: str = "code_prevalence_per_patient", *,
            n_bootstrap: int = 200, level: float = 0.95, seed: int = 0) -> MetricResult:
    """One of HALO's R² measures (`HALO_MEASURES`) between real and synthetic patients."""
    if measure not in HALO_MEASURES:
        raise ConfigError(f"unknown HALO measure {measure!r}; expected one of {list(HALO_MEASURES)}")
    results = halo_r2_all(real, synthetic, n_bootstrap=n_bootstrap, level=level, seed=seed)
    return results[HALO_MEASURES.index(measure)]


def _quantiles(values: np.ndarray) -> dict[str, float]:
    return {"mean": float(values.mean()), **{f"p{q}": float(np.quantile(values, q / 100)) for q in (5, 25, 50, 75, 95)},
            "max": float(values.max())}


def _distribution(name: str, real: Patients, synthetic: Patients, per_patient: bool, n_bootstrap: int, level: float,
                  seed: int) -> MetricResult:
    check_bootstrap(n_bootstrap, level)
    real_h, synthetic_h = _check_sides(real, synthetic)
    what = "visits per patient" if per_patient else "codes per visit"

    def values(hist: list[list[frozenset[str]]]) -> tuple[np.ndarray, np.ndarray]:
        """(values, the patient each value belongs to)."""
        if per_patient:
            return np.array([len(h) for h in hist], dtype=np.float64), np.arange(len(hist))
        sizes = [len(v) for h in hist for v in h]
        owner = np.repeat(np.arange(len(hist)), [len(h) for h in hist])
        return np.array(sizes, dtype=np.float64), owner

    def compute() -> Outcome:
        (x, x_owner), (y, y_owner) = values(real_h), values(synthetic_h)
        if len(x) == 0 or len(y) == 0:
            raise NotApplicable(f"no visits on the {'real' if len(x) == 0 else 'synthetic'} side")
        point = 1.0 - float(ks_2samp(x, y).statistic)
        warnings = []
        if min(len(real_h), len(synthetic_h)) < SMALL_SAMPLE:
            warnings.append(f"small sample: fewer than {SMALL_SAMPLE} patients on a side; the KS distance is biased "
                            "upwards")
        ci = None
        if n_bootstrap:
            generator = rng(seed)
            reps = np.empty(n_bootstrap)
            for b in range(n_bootstrap):
                wx = bootstrap_counts(generator, len(real_h)).astype(np.int64)[x_owner]
                wy = bootstrap_counts(generator, len(synthetic_h)).astype(np.int64)[y_owner]
                rx, ry = np.repeat(x, wx), np.repeat(y, wy)
                reps[b] = 1.0 - ks_2samp(rx, ry).statistic if len(rx) and len(ry) else np.nan
            ci, notes = bootstrap_interval(reps, point, level, f"the {what} KS complement", bounds=(0.0, 1.0))
            warnings += notes
        return Outcome(value=point, ci=ci, warnings=warnings, details={
            "real": _quantiles(x), "synthetic": _quantiles(y), "definition": f"1 - KS statistic of {what}"})

    return run_metric(name=name, family=Family.FIDELITY, direction=Direction.HIGHER, compute=compute,
                      modality=MODALITY, n_real=len(real_h), n_synthetic=len(synthetic_h), seed=seed,
                      parameters={"n_bootstrap": n_bootstrap, "level": level, "resampled": "patients",
                                  "statistic": "1 - scipy.stats.ks_2samp statistic"})


def visit_count_distribution(real: Patients, synthetic: Patients, *, n_bootstrap: int = 200, level: float = 0.95,
                             seed: int = 0) -> MetricResult:
    """1 - the Kolmogorov-Smirnov distance between the real and synthetic numbers of visits per patient."""
    return _distribution("visits.visit_count_distribution", real, synthetic, True, n_bootstrap, level, seed)


def codes_per_visit_distribution(real: Patients, synthetic: Patients, *, n_bootstrap: int = 200, level: float = 0.95,
                                 seed: int = 0) -> MetricResult:
    """1 - the Kolmogorov-Smirnov distance between the real and synthetic numbers of codes per visit (patients
    resampled for the interval)."""
    return _distribution("visits.codes_per_visit_distribution", real, synthetic, False, n_bootstrap, level, seed)
