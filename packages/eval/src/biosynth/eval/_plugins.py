"""Metrics from other packages: each suite also runs the metrics registered under core's `Group.METRICS`
(entry-point group `biosynth.metrics`) whose name starts with its prefix (`tabular.`, `text.`, `visits.`).

biosynth-eval registers its own metrics there too; a suite calls those itself (each with its own arguments), so a
metric whose function lives in `biosynth.eval` is skipped here. Any other is a plugin, called with keywords only:
`real`, `synthetic`, `seed` (derived from the suite's seed and the metric's name), `n_bootstrap`, `level`, and, for
tables, `holdout` and `metadata` (eval's column kinds). It returns one `MetricResult` or a sequence of them. A
plugin that fails to load, raises, or returns something else stops the evaluation with a RegistryError naming it:
fix or uninstall it (`biosynth plugins` lists what is installed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from biosynth.core import Group, Registry, RegistryError, default_registry, derive_seed
from biosynth.eval._result import MetricResult


def plugin_metrics(prefix: str, inputs: Mapping[str, Any], *, seed: int, n_bootstrap: int, level: float,
                   registry: Registry | None = None) -> list[MetricResult]:
    """The results of every plugin metric named `<prefix>.*` in `registry` (default: the installed plugins)."""
    registry = registry or default_registry()
    results: list[MetricResult] = []
    for name in registry.names(Group.METRICS):
        if not name.startswith(f"{prefix}."):
            continue
        metric = registry.get(Group.METRICS, name)  # a plugin that fails to load raises RegistryError, naming it
        if getattr(metric, "__module__", "").startswith("biosynth.eval."):
            continue  # one of the suite's own metrics
        try:
            out = metric(**inputs, seed=derive_seed(seed, name), n_bootstrap=n_bootstrap, level=level)
        except Exception as err:
            raise RegistryError(f"metric plugin {name!r} failed: {type(err).__name__}: {err}") from err
        found = [out] if isinstance(out, MetricResult) else list(out) if isinstance(out, list | tuple) else None
        if not found or not all(isinstance(r, MetricResult) for r in found):
            raise RegistryError(f"metric plugin {name!r} returned {type(out).__name__}; expected a MetricResult or a "
                                "list of them")
        results += found
    return results
