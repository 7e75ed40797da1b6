"""The README's main job, run as a user would, on embedded defaults and offline."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from biosynth.core import SyntheticDataset, load_recipe

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_recipe_runs_end_to_end(tmp_path: Path) -> None:
    recipe = ROOT / "examples" / "quickstart.yaml"
    cmd = [sys.executable, "-c", "from biosynth.core.cli import main; main()"]
    result = subprocess.run([*cmd, "run", str(recipe), "--out", str(tmp_path / "qs")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    ds = SyntheticDataset(tmp_path / "qs")
    steps = load_recipe(recipe).steps
    assert ds.manifest.requested == ds.manifest.produced + ds.manifest.failed
    assert ds.manifest.failed == 0
    notes = ds.records("notes")
    patients = {r.id: r for r in ds.records("patients")}
    assert len(patients) == steps[0].count and len(notes) == len(patients)
    for note in notes:
        [parent] = note.parents
        values = patients[parent].payload.values
        assert note.case_id == patients[parent].case_id
        assert note.text.startswith(f"{values['age']}-year-old {values['sex']}")
        assert note.labels["diagnosis"] == values["diagnosis"]


def test_readme_commands_exist_in_the_workspace() -> None:
    readme = (ROOT / "README.md").read_text()
    pyproject = (ROOT / "pyproject.toml").read_text()
    for script in re.findall(r"hatch run (\w+)", readme):
        assert re.search(rf"^{script} = ", pyproject, re.M), f"README names `hatch run {script}`, not defined"
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = re.search(r"^hatch run test.*$", readme, re.M)
    assert test_command and test_command.group(0) in ci
