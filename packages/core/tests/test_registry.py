from __future__ import annotations

import importlib.metadata as md

import pytest

from biosynth.core import Group, Registry, RegistryError
from biosynth.core.cli._plugins import describe_plugins


def test_unknown_names_list_what_is_installed() -> None:
    with pytest.raises(RegistryError, match=r"unknown generator 'nope'; installed: (.*, )?attributes, .*template"):
        Registry().get(Group.GENERATORS, "nope")


def test_a_broken_plugin_is_reported_not_fatal() -> None:
    registry = Registry()
    broken = md.EntryPoint(name="broken", value="no_such_module_xyz:Thing", group=Group.GENERATORS.value)
    registry._entry_points[Group.GENERATORS]["broken"] = broken
    infos = {i.name: i for i in registry.describe()}
    assert "ModuleNotFoundError" in infos["broken"].error
    assert infos["attributes"].error is None and infos["attributes"].distribution == "biosynth-core"
    with pytest.raises(RegistryError, match=r"'broken' .* failed to load: ModuleNotFoundError"):
        registry.get(Group.GENERATORS, "broken")
    assert registry.get(Group.GENERATORS, "attributes").name == "attributes"


def test_module_paths_resolve_and_fail_clearly() -> None:
    registry = Registry()
    assert registry.get(Group.GENERATORS, "sample_generators:Numbers").name == "numbers"
    with pytest.raises(RegistryError, match="could not be imported"):
        registry.get(Group.GENERATORS, "sample_generators:Nothing")


def test_plugins_summary_lists_core_entries() -> None:
    summary = describe_plugins()
    assert "biosynth-core" in summary["packages"]
    names = {e["name"]: e["distribution"] for e in summary["plugins"]["biosynth.generators"]}
    assert names["attributes"] == "biosynth-core"
    assert summary["failed"] == []
