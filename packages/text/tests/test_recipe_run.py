"""End to end: a recipe of sampled patients and a clinical note for each, run by core's Runner."""

from __future__ import annotations

from pathlib import Path

from biosynth.core import Runner, SyntheticDataset, TextPayload, load_recipe, parse_recipe, plan, weights_sha256
from biosynth.core.testing import run_cli_watching

EXAMPLE = Path(__file__).parents[1] / "examples" / "clinical_notes.yaml"


def test_attributes_then_clinical_notes_with_the_tiny_model(tiny_model_dir: Path, tmp_path: Path) -> None:
    recipe = parse_recipe({
        "name": "notes-e2e", "seed": 3,
        "steps": [
            {"name": "patients", "generator": "attributes", "count": 4,
             "params": {"table": "patients", "label_columns": ["diagnosis"],
                        "attributes": {"age": {"type": "integer", "low": 18, "high": 90}, "sex": ["female", "male"],
                                       "diagnosis": ["asthma", "heart failure"]}}},
            {"name": "notes", "generator": "clinical_note", "from": "patients", "batch_size": 4,
             "params": {"document_type": "progress note", "min_words": 2,
                        "model": {"backend": "transformers", "params": {"model": str(tiny_model_dir)}},
                        "decoding": {"temperature": 1.0, "max_new_tokens": 12, "min_new_tokens": 3}}},
        ],
    })
    manifest = Runner(recipe, tmp_path / "out").run()
    assert manifest.status == "complete"
    assert manifest.steps["notes"].requested == 4 and manifest.steps["notes"].produced == 4
    dataset = SyntheticDataset(tmp_path / "out")
    assert dataset.verify() == []
    patients = {r.id: r for r in dataset.records("patients")}
    notes = dataset.records("notes")
    assert len(notes) == 4
    for note in notes:
        [parent] = note.parents
        assert note.case_id == patients[parent].case_id
        assert note.labels == {"diagnosis": patients[parent].labels["diagnosis"]}
        assert isinstance(note.payload, TextPayload) and note.payload.text and note.payload.document_type == "progress note"
        assert note.provenance.model is not None
        assert note.provenance.model.sha256 == weights_sha256(tiny_model_dir)  # core: the whole folder
        assert note.provenance.prompt is not None and note.provenance.prompt.template_id == "clinical-note/v1"


def test_example_recipe_is_valid() -> None:
    recipe = load_recipe(EXAMPLE)
    planned = {entry.step.name: entry for entry in plan(recipe, base_dir=EXAMPLE.parent)}  # `biosynth validate`
    notes = planned["notes"]
    assert notes.step.from_ == "patients" and [s.backend for _, s in notes.generator.backends()] == ["transformers"]
    assert [d.remote for d in notes.decisions] == [False]


def test_validating_a_recipe_with_the_transformers_backend_loads_neither_torch_nor_transformers() -> None:
    # `biosynth validate` checks the backend's parameters only; torch and transformers take ~10 s to import
    done, loaded = run_cli_watching(["validate", str(EXAMPLE)], watch=("torch", "transformers"), timeout=120)
    assert done.returncode == 0, done.stderr
    assert "recipe 'clinical-notes' is valid" in done.stdout
    assert loaded == set()
