from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from biosynth.core import (
    InputDataError,
    Modality,
    Recipe,
    Runner,
    SampleRequest,
    StepContext,
    Strategy,
    SyntheticDataset,
    VisitSequencePayload,
    sha256_file,
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
            assert record.provenance.model.sha256 == sha256_file(self.model_dir)
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
    assert [fp.sha256 for fp in manifest.inputs] == [sha256_file(tiny_model_dir)]
    dataset = SyntheticDataset(tmp_path / "out")
    records = list(dataset.records())
    patients = [r for r in records if r.modality is Modality.EHR]
    assert len(patients) == 7 and all(isinstance(r.payload, VisitSequencePayload) for r in patients)
    notes = [r for r in records if r.modality is Modality.TEXT]
    assert notes[0].text is not None and "patient born in the 19" in notes[0].text


def test_length_calibration_is_recorded(tiny_halo, tiny_model_dir: Path, tmp_path: Path) -> None:
    generator = HaloGenerator({"model": str(tiny_model_dir)})
    records = generator.generate([SampleRequest(index=i, seed=i) for i in range(3)],
                                 StepContext(step="s", seed=1, root=tmp_path))
    offset = tiny_halo.config.end_logit_offset
    assert offset != 0.0 and all(r.provenance.extra["end_logit_offset"] == offset for r in records)
