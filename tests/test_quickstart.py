"""The README's main job and the model-free baseline, run as a user would: offline, on embedded defaults."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from biosynth.core import DecodingConfig, SyntheticDataset, load_recipe, sha256_file
from biosynth.text._embedded import embedded_model

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-c", "from biosynth.core.cli import main; main()"]


def run(recipe: Path, out: Path) -> SyntheticDataset:
    result = subprocess.run([*CLI, "run", str(recipe), "--out", str(out)], capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    return SyntheticDataset(out)


def test_quickstart_writes_clinical_notes_with_the_embedded_model(tmp_path: Path) -> None:
    recipe_path = ROOT / "examples" / "quickstart.yaml"
    recipe = load_recipe(recipe_path)
    ds = run(recipe_path, tmp_path / "qs")
    notes_step = ds.manifest.steps["notes"]
    assert notes_step.requested == recipe.steps[0].count
    assert notes_step.produced + notes_step.failed == notes_step.requested
    assert notes_step.produced >= notes_step.requested - 1, notes_step.failure_reasons
    patients = {r.id: r for r in ds.records("patients")}
    gguf_sha = sha256_file(embedded_model().path)
    decoding = DecodingConfig(**recipe.steps[1].params["decoding"])
    for note in ds.records("notes"):
        [parent] = note.parents
        assert note.case_id == patients[parent].case_id
        assert note.labels["diagnosis"] == patients[parent].payload.values["diagnosis"]
        assert len(note.text.split()) >= 8
        prov = note.provenance
        assert prov.model.sha256 == gguf_sha and prov.model.backend == "transformers"
        assert prov.model.license and prov.model.revision
        assert prov.prompt.template_id and len(prov.prompt.template_sha256) == 64
        assert prov.prompt.rendered and str(patients[parent].payload.values["age"]) in prov.prompt.rendered
        assert prov.decoding == decoding
        assert prov.seed >= 0 and {"zero-shot", "instruction"} <= {s.value for s in prov.strategy}
        assert prov.prompt_tokens > 0 and prov.completion_tokens > 0


def test_template_baseline_needs_no_model(tmp_path: Path) -> None:
    ds = run(ROOT / "examples" / "template_baseline.yaml", tmp_path / "tb")
    assert ds.manifest.failed == 0
    patients = {r.id: r for r in ds.records("patients")}
    notes = ds.records("notes")
    assert len(notes) == len(patients) == 24
    for note in notes:
        values = patients[note.parents[0]].payload.values
        assert note.text.startswith(f"{values['age']}-year-old {values['sex']}")


def test_readme_commands_exist_in_the_workspace() -> None:
    readme = (ROOT / "README.md").read_text()
    pyproject = (ROOT / "pyproject.toml").read_text()
    for script in re.findall(r"hatch run (\w+)", readme):
        assert re.search(rf"^{script} = ", pyproject, re.M), f"README names `hatch run {script}`, not defined"
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = re.search(r"^hatch run test.*$", readme, re.M)
    assert test_command and test_command.group(0) in ci
