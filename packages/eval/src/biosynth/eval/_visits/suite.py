"""The visit-sequence suite: HALO's measures and the visit-count and codes-per-visit distributions, into one report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd

from biosynth.core import Registry, Visit, VisitSequencePayload, derive_seed, software_versions
from biosynth.eval._measure import check_bootstrap
from biosynth.eval._plugins import plugin_metrics
from biosynth.eval._report import SOFTWARE, EvaluationReport
from biosynth.eval._tabular.columns import ColumnKind
from biosynth.eval._tabular.figures import distribution
from biosynth.eval._visits.measures import (
    MODALITY,
    Patients,
    codes_per_visit_distribution,
    halo_r2_all,
    visit_count_distribution,
)


def evaluate_visits(real: Patients, synthetic: Patients, seed: int = 0, *, n_bootstrap: int = 200,
                    level: float = 0.95, provenance: dict[str, Any] | None = None,
                    registry: Registry | None = None) -> EvaluationReport:
    """HALO's six R² measures and the two distribution scores of `synthetic` patients against `real` ones (the
    held-out patients, as HALO's paper compares). A patient is a core `VisitSequencePayload` or a list of visits,
    each a list of code strings. Metric plugins named `visits.*` in `registry` (default: the installed ones) run
    after these."""
    check_bootstrap(n_bootstrap, level)
    results = [*halo_r2_all(real, synthetic, seed=derive_seed(seed, "visits.halo_r2"), n_bootstrap=n_bootstrap,
                            level=level),
               visit_count_distribution(real, synthetic, seed=derive_seed(seed, "visits.visit_count"),
                                        n_bootstrap=n_bootstrap, level=level),
               codes_per_visit_distribution(real, synthetic, seed=derive_seed(seed, "visits.codes_per_visit"),
                                            n_bootstrap=n_bootstrap, level=level),
               *plugin_metrics("visits", {"real": real, "synthetic": synthetic}, seed=seed, n_bootstrap=n_bootstrap,
                               level=level, registry=registry)]
    return EvaluationReport(
        modality=MODALITY, created_at=datetime.now(UTC).isoformat(timespec="seconds"), seed=seed, n_real=len(real),
        n_synthetic=len(synthetic), n_holdout=None, columns={}, software=software_versions(SOFTWARE), results=tuple(results),
        provenance=provenance, figures=visit_figures(real, synthetic),
    )


def visit_figures(real: Patients, synthetic: Patients) -> dict[str, Any]:
    """Visits per patient and codes per visit, real beside synthetic."""
    def visits(patients: Patients) -> list[list[Any]]:
        return [list(p.visits) if isinstance(p, VisitSequencePayload) else list(p) for p in patients]

    def codes(visit: Any) -> int:
        return len(visit.codes) if isinstance(visit, Visit) else len(visit)

    sides = {"real": visits(real), "synthetic": visits(synthetic)}
    per_patient = {k: pd.Series([len(v) for v in patients], dtype=float) for k, patients in sides.items()}
    per_visit = {k: pd.Series([codes(v) for p in patients for v in p], dtype=float) for k, patients in sides.items()}
    return {"title": "Real and synthetic visit sequences", "distributions": [
        distribution("visits per patient", ColumnKind.NUMERICAL, per_patient["real"], per_patient["synthetic"]),
        distribution("codes per visit", ColumnKind.NUMERICAL, per_visit["real"], per_visit["synthetic"])]}
