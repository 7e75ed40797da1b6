"""Metric plugins: a suite runs the metrics registered under Group.METRICS with its prefix beyond its own, so a
third-party metric plugs in by entry point; eval's own entry points are not run twice."""

from __future__ import annotations

import pandas as pd
import pytest

from biosynth.core import Group, Registry, RegistryError, derive_seed
from biosynth.eval import (
    Direction,
    Family,
    MetricResult,
    column_shapes,
    distinct_n,
    evaluate_tabular,
    evaluate_text,
    evaluate_visits,
)

CALLS: list[dict] = []


def row_ratio(*, real, synthetic, seed, n_bootstrap, level, **inputs) -> MetricResult:
    """A third-party metric: synthetic rows per real row (it records what the suite passed it)."""
    CALLS.append({"seed": seed, "n_bootstrap": n_bootstrap, "level": level, **inputs})
    return MetricResult(name="acme.row_ratio", family=Family.FIDELITY, direction=Direction.HIGHER,
                        modality="tabular", value=len(synthetic) / len(real), n_real=len(real),
                        n_synthetic=len(synthetic), seed=seed)


def count_both(*, real, synthetic, seed, n_bootstrap, level) -> list[MetricResult]:
    common = dict(family=Family.DIVERSITY, direction=Direction.HIGHER, n_real=len(real), n_synthetic=len(synthetic),
                  seed=seed)
    return [MetricResult(name="acme.n_real", modality="text", value=len(real), **common),
            MetricResult(name="acme.n_synthetic", modality="text", value=len(synthetic), **common)]


def test_the_tabular_suite_runs_a_plugin_metric_with_the_suite_inputs(real_table, synthetic_table, metadata) -> None:
    registry = Registry(discover=False)
    registry.register(Group.METRICS, "tabular.acme_row_ratio", row_ratio)
    registry.register(Group.METRICS, "tabular.column_shapes", column_shapes)  # eval's own: the suite calls it itself
    registry.register(Group.METRICS, "text.acme_counts", count_both)  # another modality's: not run here
    CALLS.clear()
    report = evaluate_tabular(real_table.head(300), synthetic_table.head(150), real_table.tail(300), metadata,
                              seed=7, n_bootstrap=0, registry=registry)
    assert report.result("acme.row_ratio").value == pytest.approx(0.5)
    assert [r.name for r in report.results].count("column_shapes") == 1
    assert not any(r.name.startswith("acme.n_") for r in report.results)
    (call,) = CALLS
    assert call["seed"] == derive_seed(7, "tabular.acme_row_ratio") and call["n_bootstrap"] == 0
    assert call["holdout"] is not None and len(call["holdout"]) == 300 and "age" in call["metadata"].columns


def test_text_and_visit_suites_run_their_plugins(make_corpus, tiny_embedder) -> None:
    registry = Registry(discover=False)
    registry.register(Group.METRICS, "text.acme_counts", count_both)
    registry.register(Group.METRICS, "text.distinct_n", distinct_n)
    report = evaluate_text(make_corpus(12, 1), make_corpus(9, 2), embedder=tiny_embedder, n_bootstrap=0,
                           registry=registry)
    assert report.result("acme.n_real").value == 12 and report.result("acme.n_synthetic").value == 9

    def visits_plugin(*, real, synthetic, seed, n_bootstrap, level) -> MetricResult:
        return MetricResult(name="acme.patients", family=Family.FIDELITY, direction=Direction.HIGHER, modality="ehr",
                            value=len(synthetic), n_real=len(real), n_synthetic=len(synthetic), seed=seed)

    registry.register(Group.METRICS, "visits.acme_patients", visits_plugin)
    patients = [[["A01", "B02"], ["C03"]], [["A01"]]] * 5
    assert evaluate_visits(patients, patients[:4], n_bootstrap=0, registry=registry).result("acme.patients").value == 4


def test_a_broken_plugin_is_named(real_table, synthetic_table, metadata) -> None:
    def broken(**_: object) -> MetricResult:
        raise ValueError("no such column")

    registry = Registry(discover=False)
    registry.register(Group.METRICS, "tabular.acme_broken", broken)
    with pytest.raises(RegistryError, match=r"metric plugin 'tabular.acme_broken' failed: ValueError: no such column"):
        evaluate_tabular(real_table.head(200), synthetic_table.head(200), metadata=metadata, n_bootstrap=0,
                         registry=registry)
    registry.register(Group.METRICS, "tabular.acme_broken", lambda **_: pd.DataFrame())
    with pytest.raises(RegistryError, match=r"returned DataFrame; expected a MetricResult"):
        evaluate_tabular(real_table.head(200), synthetic_table.head(200), metadata=metadata, n_bootstrap=0,
                         registry=registry)
