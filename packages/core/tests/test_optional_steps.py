"""`optional: true` steps are skipped, and recorded as skipped, when their generator is not installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from biosynth.core import DatasetError, RegistryError, Runner, SyntheticDataset, parse_recipe, plan
from biosynth.core._progress import LogProgress

BASE = {"name": "patients", "generator": "attributes", "count": 3,
        "params": {"attributes": {"age": {"type": "integer", "low": 20, "high": 30}}}}


def _recipe(*steps: dict[str, object]):
    return parse_recipe({"name": "opt", "seed": 1, "steps": [BASE, *steps]})


def test_a_missing_optional_generator_and_its_optional_followers_are_skipped(tmp_path: Path) -> None:
    recipe = _recipe({"name": "notes", "generator": "no_such_generator", "from": "patients", "optional": True},
                     {"name": "more", "generator": "template", "from": "notes", "optional": True,
                      "params": {"template": "$text"}},
                     {"name": "also", "generator": "no_such_module_xyz:Gen", "count": 1, "optional": True})
    planned = plan(recipe)
    assert [p.step.name for p in planned] == ["patients"]
    assert planned.skipped == {
        "notes": "generator 'no_such_generator' is not installed (no installed package registers it)",
        "more": "derived from the skipped step 'notes'",
        "also": "generator 'no_such_module_xyz:Gen' cannot be imported (ModuleNotFoundError: No module named "
                "'no_such_module_xyz')"}
    assert planned.requirements == {"notes": "a package registering 'no_such_generator'",
                                    "more": "a package registering 'no_such_generator'",
                                    "also": "the package providing the module 'no_such_module_xyz'"}
    manifest = Runner(recipe, tmp_path / "out", progress=LogProgress()).run()
    assert manifest.status == "complete" and list(manifest.steps) == ["patients"]
    assert SyntheticDataset(tmp_path / "out").manifest.skipped_steps == planned.skipped
    assert SyntheticDataset(tmp_path / "out").manifest.skipped_requirements == planned.requirements


def test_an_installed_optional_step_runs() -> None:
    recipe = _recipe({"name": "notes", "generator": "template", "from": "patients", "optional": True,
                      "params": {"template": "age $age"}})
    planned = plan(recipe)
    assert [p.step.name for p in planned] == ["patients", "notes"] and planned.skipped == {}


def test_required_steps_are_never_skipped() -> None:
    with pytest.raises(RegistryError, match="unknown generator 'no_such_generator'"):
        plan(_recipe({"name": "notes", "generator": "no_such_generator", "count": 1}))
    with pytest.raises(DatasetError, match="step 'more' needs step 'notes', which is skipped"):
        plan(_recipe({"name": "notes", "generator": "no_such_generator", "from": "patients", "optional": True},
                     {"name": "more", "generator": "template", "from": "notes", "params": {"template": "x"}}))


def test_validate_lists_skipped_steps(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("name: opt\nsteps:\n  - {name: a, generator: attributes, count: 1, params: {attributes: "
                    "{x: [1, 2]}}}\n  - {name: b, generator: nope, from: a, optional: true}\n")
    done = subprocess.run([sys.executable, "-c", "from biosynth.core.cli import main; main()", "validate", str(path)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "b: skipped (generator 'nope' is not installed (no installed package registers it))" in done.stdout
