"""The core's own generators and the fake backend pass the contracts other packages subclass."""

from __future__ import annotations

from biosynth.core import Modality, Provenance, Record, TableRowPayload
from biosynth.core.testing import FakeLanguageModel, GeneratorContract, LanguageModelContract


class TestAttributesContract(GeneratorContract):
    generator_name = "attributes"

    def make_params(self) -> dict:
        return {"attributes": {"age": {"type": "integer", "low": 18, "high": 90}, "sex": ["female", "male"],
                               "sbp": {"type": "normal", "mean": 130, "sd": 15, "low": 80, "high": 200}},
                "label_columns": ["sex"]}


def _patient(i: int) -> Record:
    return Record(id=f"p-{i}", case_id=f"case-{i}", modality=Modality.TABULAR,
                  payload=TableRowPayload(values={"age": 40 + i, "sex": "female"}),
                  labels={"dx": "asthma"}, provenance=Provenance(generator="attributes", generator_version="0", seed=i))


class TestTemplateContract(GeneratorContract):
    generator_name = "template"
    seed_sensitive = False  # a template is deterministic given its input

    def make_params(self) -> dict:
        return {"template": "${age}-year-old ${sex} with ${dx}."}

    def make_inputs(self) -> list[Record]:
        return [_patient(i) for i in range(3)]


class TestFakeLanguageModelContract(LanguageModelContract):
    def make_model(self) -> FakeLanguageModel:
        return FakeLanguageModel()
