"""An optional step whose generator or backend is missing is skipped with the reason and what to install."""

from __future__ import annotations

import importlib.metadata as md
import sys
from pathlib import Path

import pytest

from biosynth.core import Group, Registry, RegistryError, Runner, SyntheticDataset, parse_recipe, plan
from biosynth.core._first_party import FIRST_PARTY_GENERATORS
from biosynth.core._progress import LogProgress

ROWS = {"name": "rows", "generator": "attributes", "count": 2, "params": {"attributes": {"x": [1, 2]}}}


def _recipe(*steps: dict[str, object]):
    return parse_recipe({"name": "skips", "seed": 1, "steps": [ROWS, *steps]})


def test_a_first_party_generator_names_its_distribution(tmp_path: Path) -> None:
    registry = Registry()  # every installed plugin, less biosynth-audio's generator: as if it were not installed
    registry._entry_points[Group.GENERATORS].pop("dialogue_audio", None)
    recipe = _recipe({"name": "speech", "generator": "dialogue_audio", "from": "rows", "optional": True},
                     {"name": "notes", "generator": "template", "from": "rows", "params": {"template": "x=$x"}})
    manifest = Runner(recipe, tmp_path / "out", registry=registry, progress=LogProgress()).run()
    assert list(manifest.steps) == ["rows", "notes"] and manifest.steps["notes"].produced == 2
    stored = SyntheticDataset(tmp_path / "out").manifest
    assert stored.skipped_steps == {"speech": "generator 'dialogue_audio' is not installed (it comes with "
                                              "biosynth-audio)"}
    assert stored.skipped_requirements == {"speech": "biosynth-audio"}


def test_a_generator_whose_dependency_is_absent_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a plugin module that is installed, but imports a package that is not
    (tmp_path / "plugin_needing_absent_dep.py").write_text("import biosynth_absent_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    step = {"name": "media", "generator": "plugin_needing_absent_dep:Gen", "from": "rows", "optional": True}
    planned = plan(_recipe(step, {"name": "after", "generator": "template", "from": "media", "optional": True,
                                  "params": {"template": "$text"}}))
    assert [p.step.name for p in planned] == ["rows"]
    assert "No module named 'biosynth_absent_dependency_xyz'" in planned.skipped["media"]
    assert planned.requirements == {"media": "the package providing the module 'biosynth_absent_dependency_xyz'",
                                    "after": "the package providing the module 'biosynth_absent_dependency_xyz'"}
    assert planned.skipped["after"] == "derived from the skipped step 'media'"
    sys.modules.pop("plugin_needing_absent_dep", None)
    with pytest.raises(RegistryError, match="could not be imported"):  # a required step is never skipped
        plan(_recipe({**step, "optional": False}))


def test_a_missing_component_backend_skips_an_optional_step() -> None:
    # core's own test generator (sample_generators.Prompted) with its language-model backend unregistered:
    # core's tests must not need biosynth-audio or biosynth-text (the isolated-install test runs them alone)
    registry = Registry()
    registry._entry_points[Group.LLM_BACKENDS].pop("fake", None)
    notes = {"name": "notes", "generator": "sample_generators:Prompted", "from": "rows", "optional": True}
    planned = plan(_recipe(notes), registry=registry)
    assert [p.step.name for p in planned] == ["rows"]
    assert planned.skipped == {"notes": "language_model 'fake' is not installed (no installed package registers it)"}


def test_the_first_party_table_matches_the_installed_entry_points() -> None:
    registered = {ep.name: ep.dist.name for ep in md.entry_points(group=Group.GENERATORS.value) if ep.dist is not None}
    first_party = {name: dist for name, dist in registered.items() if dist.lower().startswith("biosynth-")}
    assert first_party, "no biosynth generator is installed"
    for name, dist in first_party.items():
        assert FIRST_PARTY_GENERATORS.get(name) == dist, f"{name} ({dist}) is missing from FIRST_PARTY_GENERATORS"
    for name, dist in FIRST_PARTY_GENERATORS.items():
        if dist in {d for d in first_party.values()}:
            assert registered.get(name) == dist, f"{dist} is installed but does not register {name}"
