"""The tabular suite: every tabular metric on one (real, synthetic, holdout) triple, into one report."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from biosynth.core import Registry, derive_seed, software_versions
from biosynth.eval._measure import check_bootstrap
from biosynth.eval._plugins import plugin_metrics
from biosynth.eval._report import SOFTWARE, EvaluationReport
from biosynth.eval._tabular.attribute_inference import attribute_inference_cap, attribute_inference_nn
from biosynth.eval._tabular.ceiling import fidelity_ceiling
from biosynth.eval._tabular.columns import ColumnKind, ColumnKinds, MetadataLike, check_tables
from biosynth.eval._tabular.detection import detection_auc
from biosynth.eval._tabular.fidelity import category_coverage, missingness_similarity, quality_report, range_coverage
from biosynth.eval._tabular.figures import table_figures
from biosynth.eval._tabular.privacy import distance_to_closest_record, exact_copy_rate, membership_inference_distance
from biosynth.eval._tabular.privacy_density import membership_inference_density
from biosynth.eval._tabular.utility import utility_tstr


def default_sensitive(meta: ColumnKinds, target: str | None) -> list[str]:
    """The columns attribute inference attacks when none are named: the target, else the categorical and boolean
    columns (diagnoses, sex, smoking: the usual sensitive attributes), else every scored column."""
    if target is not None and target in meta.scored:  # an unknown target is utility's to report
        return [target]
    return meta.of(ColumnKind.CATEGORICAL, ColumnKind.BOOLEAN) or meta.scored


def evaluate_tabular(real: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame | None = None,
                     metadata: MetadataLike = None, seed: int = 0, *,
                     n_bootstrap: int = 200, level: float = 0.95, target: str | None = None,
                     sensitive: Sequence[str] | None = None, quasi_identifiers: Sequence[str] | None = None,
                     provenance: dict[str, Any] | None = None, registry: Registry | None = None) -> EvaluationReport:
    """Fidelity (column shapes, pair trends, coverage, missingness, detection) and privacy (DCR, exact copies,
    membership inference by distance and by density ratio, attribute inference by nearest neighbour and CAP) of
    `synthetic` against `real`, the data the generator was trained on.

    `holdout` is real data from the same population that the generator never saw; the privacy metrics need it as
    their baseline and report 'not_applicable' without it. Each metric gets its own seed derived from `seed`.
    With a `target` column, utility (`utility_tstr`: train on real or synthetic, test on `holdout`) runs too.
    Attribute inference attacks the `sensitive` columns (default: `target` if given, else every categorical and
    boolean column, else every scored column) from `quasi_identifiers` (default: every other scored column).
    Metric plugins named `tabular.*` in `registry` (default: the installed ones) run after these.
    """
    check_bootstrap(n_bootstrap, level)
    meta = ColumnKinds.coerce(metadata, real)
    check_tables(meta, real=real, synthetic=synthetic, holdout=holdout)
    results = list(quality_report(real, synthetic, meta, n_bootstrap=n_bootstrap, level=level, seed=seed))
    fidelity = (range_coverage, category_coverage, missingness_similarity)
    results += [metric(real, synthetic, meta, n_bootstrap=n_bootstrap, level=level, seed=derive_seed(seed, metric.__name__))
                for metric in fidelity]
    results.append(detection_auc(real, synthetic, meta, n_bootstrap=n_bootstrap, level=level,
                                 seed=derive_seed(seed, "detection_auc")))
    results.append(distance_to_closest_record(real, synthetic, holdout, meta, n_bootstrap=n_bootstrap, level=level,
                                              seed=derive_seed(seed, "dcr")))
    results.append(exact_copy_rate(real, synthetic, holdout, meta, level=level, seed=derive_seed(seed, "exact_copy")))
    results.append(membership_inference_distance(real, synthetic, holdout, meta, n_bootstrap=n_bootstrap, level=level,
                                                 seed=derive_seed(seed, "membership_inference_distance")))
    results.append(membership_inference_density(real, synthetic, holdout, meta, n_bootstrap=n_bootstrap, level=level,
                                                seed=derive_seed(seed, "membership_inference_density")))
    attacked = default_sensitive(meta, target) if sensitive is None else list(sensitive)
    for attack in (attribute_inference_nn, attribute_inference_cap):
        results.append(attack(real, synthetic, holdout, meta, sensitive=attacked, quasi_identifiers=quasi_identifiers,
                              n_bootstrap=n_bootstrap, level=level, seed=derive_seed(seed, attack.__name__)))
    if target is not None:
        results.append(utility_tstr(real, synthetic, holdout, target, meta, seed=derive_seed(seed, "utility_tstr"),
                                    n_bootstrap=n_bootstrap, level=level))
    results += plugin_metrics("tabular", {"real": real, "synthetic": synthetic, "holdout": holdout, "metadata": meta},
                              seed=seed, n_bootstrap=n_bootstrap, level=level, registry=registry)
    return EvaluationReport(
        modality="tabular", created_at=datetime.now(UTC).isoformat(timespec="seconds"), seed=seed,
        n_real=len(real), n_synthetic=len(synthetic), n_holdout=None if holdout is None else len(holdout),
        columns={name: kind.value for name, kind in meta.columns.items()}, software=software_versions(SOFTWARE),
        results=tuple(results), provenance=provenance,
        references={"fidelity_ceiling": fidelity_ceiling(real, len(synthetic), meta, derive_seed(seed, "ceiling"))},
        figures=table_figures(real, synthetic, meta),
    )
