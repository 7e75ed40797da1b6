from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from biosynth.core import (
    ConfigError,
    InputDataError,
    Modality,
    Recipe,
    Runner,
    SampleRequest,
    StepContext,
    Strategy,
    SyntheticDataset,
    VisitSequencePayload,
    plan,
    weights_sha256,
)
from biosynth.core.testing import GeneratorContract
from biosynth.tabular import HaloGenerator


class TestHaloGenerator(GeneratorContract):
    generator_name = "halo"

    @pytest.fixture(autouse=True)
    def _model(self, tiny_model_dir: Path) -> None:
        self.model_dir = tiny_model_dir

    def make_params(self) -> dict[str, Any]:
        return {"model": str(self.model_dir)}

    def test_records_carry_patients_and_provenance(self) -> None:
        records = [r for r in self._run() if not hasattr(r, "reason")]
        assert len(records) == self.n_samples
        for record in records:
            assert record.modality is Modality.EHR
            assert isinstance(record.payload, VisitSequencePayload) and record.payload.vocabulary == "OMOP"
            assert record.provenance.strategy == (Strategy.LEARNED_GENERATOR,)
            assert record.provenance.model is not None
            assert record.provenance.model.sha256 == weights_sha256(self.model_dir)
            assert record.provenance.model.backend == "halo"
            assert record.labels == {k: v for k, v in record.payload.static.items() if v is not None}


def test_conditions_reach_every_record(tiny_model_dir: Path, tmp_path: Path) -> None:
    generator = HaloGenerator({"model": str(tiny_model_dir), "conditions": {"sex": "MALE"}})
    ctx = StepContext(step="men", seed=1, root=tmp_path)
    records = generator.generate([SampleRequest(index=i, seed=i) for i in range(5)], ctx)
    assert all(r.payload.static["sex"] == "MALE" for r in records)
    assert all(r.provenance.extra["conditions"] == {"sex": "MALE"} for r in records)


def test_missing_model_folder_is_named(tmp_path: Path) -> None:
    generator = HaloGenerator({"model": str(tmp_path / "absent")})
    with pytest.raises(InputDataError, match="absent"):
        generator.setup(StepContext(step="s", seed=1, root=tmp_path))


def test_recipe_run_produces_patient_records(tiny_model_dir: Path, tmp_path: Path) -> None:
    recipe = Recipe.model_validate({
        "name": "halo-e2e", "seed": 3,
        "steps": [
            {"name": "patients", "generator": "halo", "count": 7, "batch_size": 3,
             "params": {"model": str(tiny_model_dir)}},
            {"name": "notes", "generator": "template", "from": "patients",
             "params": {"template": "A ${sex} patient born in the ${birth_decade}."}},
        ],
    })
    manifest = Runner(recipe, tmp_path / "out").run()
    assert manifest.steps["patients"].produced == 7 and manifest.steps["patients"].failed == 0
    assert manifest.steps["notes"].produced == 7
    # the model folder is a component (ehr_model 'halo', local): the policy decided on it, every record names it
    assert [(d["kind"], d["backend"], d["remote"]) for d in manifest.policy_decisions
            if d["step"] == "patients"] == [("ehr_model", "halo", False)]
    dataset = SyntheticDataset(tmp_path / "out")
    records = list(dataset.records())
    patients = [r for r in records if r.modality is Modality.EHR]
    assert {r.provenance.model.sha256 for r in patients if r.provenance.model} == {weights_sha256(tiny_model_dir)}
    assert len(patients) == 7 and all(isinstance(r.payload, VisitSequencePayload) for r in patients)
    notes = [r for r in records if r.modality is Modality.TEXT]
    assert notes[0].text is not None and "patient born in the 19" in notes[0].text


def test_length_calibration_is_recorded(tiny_halo, tiny_model_dir: Path, tmp_path: Path) -> None:
    generator = HaloGenerator({"model": str(tiny_model_dir)})
    records = generator.generate([SampleRequest(index=i, seed=i) for i in range(3)],
                                 StepContext(step="s", seed=1, root=tmp_path))
    offset = tiny_halo.config.end_logit_offset
    assert offset != 0.0 and all(r.provenance.extra["end_logit_offset"] == offset for r in records)


def test_the_model_is_a_component_and_a_plain_path_reads_as_its_spec(tiny_model_dir: Path, tmp_path: Path) -> None:
    spec = {"kind": "ehr_model", "backend": "halo", "params": {"path": str(tiny_model_dir)}}
    short, full = HaloGenerator({"model": str(tiny_model_dir)}), HaloGenerator({"model": spec})
    assert short.params == full.params
    [(where, found)] = short.components()
    assert (where, found.kind.value, found.backend, found.params) == ("model", "ehr_model", "halo",
                                                                       {"path": str(tiny_model_dir)})
    with pytest.raises(ConfigError, match="expected a ehr_model component"):
        HaloGenerator({"model": {"backend": "transformers"}})  # a language model is not a HALO folder


def test_validate_checks_the_model_folder_without_loading_it(tmp_path: Path) -> None:
    (tmp_path / "not-a-model").mkdir()
    (tmp_path / "not-a-model" / "notes.txt").write_text("mine")
    recipe = Recipe.model_validate({"name": "v", "seed": 1, "steps": [{
        "name": "patients", "generator": "halo", "count": 2, "params": {"model": "not-a-model"}}]})
    with pytest.raises(InputDataError, match=r"not-a-model.*biosynth_model\.json is missing"):
        plan(recipe, base_dir=tmp_path)  # what `biosynth validate` runs; the relative path is the recipe's
