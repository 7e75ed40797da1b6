"""What `biosynth plugins` reports."""

from __future__ import annotations

from typing import Any

from biosynth.core._registry import biosynth_distributions, default_registry


def describe_plugins() -> dict[str, Any]:
    registry = default_registry()
    infos = registry.describe(load=True)
    plugins: dict[str, list[dict[str, Any]]] = {}
    for info in infos:
        plugins.setdefault(info.group.value, []).append({
            "name": info.name, "target": info.target, "distribution": info.distribution,
            "version": info.version, "error": info.error,
        })
    from biosynth.core._registry import Group

    for group in Group:
        plugins.setdefault(group.value, [])
    return {
        "packages": biosynth_distributions(),
        "plugins": plugins,
        "failed": [f"{i.group.value}:{i.name}: {i.error}" for i in infos if i.error],
    }
