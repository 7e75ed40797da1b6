from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from biosynth.core import ConfigError, Strategy, TableRowPayload
from biosynth.core.testing import GeneratorContract
from biosynth.tabular import SdvSynthesizer, check_rows, detect_metadata


def table(n: int = 100, seed: int = 0) -> pd.DataFrame:
    r = random.Random(seed)
    return pd.DataFrame([{"age": r.randint(20, 90), "sex": r.choice(["F", "M"]), "bmi": round(r.gauss(27, 4), 1),
                          "smoker": r.random() < 0.3} for _ in range(n)])


@pytest.fixture(scope="module")
def copula() -> SdvSynthesizer:
    return SdvSynthesizer(synthesizer="gaussian_copula").fit(table())


def test_gaussian_copula_is_seeded(copula: SdvSynthesizer) -> None:
    a, b, c = copula.sample(30, seed=1), copula.sample(30, seed=1), copula.sample(30, seed=2)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    assert check_rows(a, copula.metadata) == []


def test_conditions_by_reject_sampling_and_counted_shortfall(copula: SdvSynthesizer) -> None:
    rows = copula.sample(10, "sex = F and age > 50", seed=0)
    assert set(rows["sex"]) == {"F"} and rows["age"].min() > 50
    with pytest.raises(ConfigError, match="age"):
        copula.sample(5, "age > 95")  # outside the column's range: refused before sampling


def test_save_and_load_refuse_pickles(copula: SdvSynthesizer, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="pickle"):
        copula.save(tmp_path / "sdv")
    with pytest.raises(ConfigError, match="pickle"):
        SdvSynthesizer.load(tmp_path)
    assert not (tmp_path / "sdv").exists()


@pytest.mark.parametrize("kind", ["ctgan", "tvae"])
def test_neural_synthesizers_fit_with_few_epochs(kind: str) -> None:
    data = table(60)
    synth = SdvSynthesizer(synthesizer=kind, epochs=1, batch_size=20).fit(data, detect_metadata(data))
    outcome = synth.sample_outcome(20, seed=3)
    assert len(outcome.rows) + len(outcome.failures) == 20 and len(outcome.rows) > 0
    assert check_rows(outcome.rows, synth.metadata) == []
    pd.testing.assert_frame_equal(synth.sample_outcome(20, seed=3).rows, outcome.rows)


def test_fit_is_deterministic() -> None:
    data = table(60)
    one = SdvSynthesizer(synthesizer="tvae", epochs=1, batch_size=20, seed=5).fit(data).sample(10, seed=0)
    two = SdvSynthesizer(synthesizer="tvae", epochs=1, batch_size=20, seed=5).fit(data).sample(10, seed=0)
    pd.testing.assert_frame_equal(one, two)


def test_bad_batch_size_is_refused() -> None:
    with pytest.raises(ConfigError, match="multiple of 10"):
        SdvSynthesizer(synthesizer="ctgan", epochs=1, batch_size=25).fit(table(20))


class TestSdvGenerator(GeneratorContract):
    generator_name = "sdv"

    @pytest.fixture(autouse=True)
    def _data(self, tmp_path: Path) -> None:
        self.data = tmp_path / "t.csv"
        table(50).to_csv(self.data, index=False)

    def make_params(self) -> dict[str, Any]:
        return {"data": str(self.data), "synthesizer": "gaussian_copula", "conditions": "age >= 30"}

    def test_records_are_rows_with_license(self) -> None:
        records = [r for r in self._run() if not hasattr(r, "reason")]
        assert len(records) == self.n_samples
        for record in records:
            assert isinstance(record.payload, TableRowPayload) and record.payload.values["age"] >= 30
            assert record.provenance.model is not None and record.provenance.model.license == "BUSL-1.1"
            assert record.provenance.strategy == (Strategy.LEARNED_GENERATOR,)
