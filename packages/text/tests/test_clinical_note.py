"""The `clinical_note` generator: contracts with the fake backend and the tiny model, prompts, retries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from biosynth.core import (
    BackendSpec,
    ConfigError,
    Group,
    Modality,
    Provenance,
    Record,
    Registry,
    SampleFailure,
    SampleRequest,
    StepContext,
    Strategy,
    TableRowPayload,
    Validation,
    sha256_text,
    weights_sha256,
)
from biosynth.core.testing import FakeLanguageModel, GeneratorContract
from biosynth.text import ClinicalNote
from biosynth.text._prompts import SYSTEM_TEMPLATE, TEMPLATE_ID, USER_TEMPLATE

NOTE = "Patient admitted with chest pain, troponin negative, discharged home on aspirin with cardiology follow-up."


def _patient(i: int, **values: Any) -> Record:
    return Record(
        id=f"patients-{i:06d}", case_id=f"case-{i}", modality=Modality.TABULAR,
        payload=TableRowPayload(table="patients", values={"age": 40 + i, "sex": "female", "systolic_bp": 120 + i,
                                                          **values}),
        labels={"diagnosis": "heart failure"},
        provenance=Provenance(generator="attributes", generator_version="0", seed=i),
    )


def _run(params: dict[str, Any], requests: list[SampleRequest], tmp_path: Path, *, real_data: bool = False
         ) -> tuple[list[Record | SampleFailure], StepContext]:
    ctx = StepContext(step="notes", seed=1, root=tmp_path, real_data=real_data)
    return ClinicalNote(params).generate(requests, ctx), ctx


class TestClinicalNoteFromRecordsContract(GeneratorContract):
    generator_name = "clinical_note"

    def make_params(self) -> dict[str, Any]:
        return {"model": {"backend": "fake"}, "document_type": "progress note", "min_words": 3}

    def make_inputs(self) -> list[Record]:
        return [_patient(i) for i in range(3)]


class TestClinicalNoteSampledAttributesContract(GeneratorContract):
    generator_name = "clinical_note"

    def make_params(self) -> dict[str, Any]:
        return {"model": {"backend": "fake"}, "document_type": "radiology report", "min_words": 3,
                "attributes": {"age": {"type": "integer", "low": 18, "high": 90}, "modality": ["CT", "MRI"]}}


class TestClinicalNoteTinyModelContract(GeneratorContract):
    generator_name = "clinical_note"
    n_samples = 3

    @pytest.fixture(autouse=True)
    def _folder(self, tiny_model_dir: Path) -> None:
        self._model_dir = tiny_model_dir

    def make_params(self) -> dict[str, Any]:
        return {"model": {"backend": "transformers", "params": {"model": str(self._model_dir)}},
                "decoding": {"temperature": 1.0, "max_new_tokens": 16, "min_new_tokens": 4}, "min_words": 2,
                "document_type": "discharge summary"}

    def make_inputs(self) -> list[Record]:
        return [_patient(i) for i in range(2)]


def test_prompt_is_built_from_the_record_and_the_template(tmp_path: Path) -> None:
    params = {"model": {"backend": "fake", "params": {"responses": [NOTE]}}, "document_type": "discharge summary",
              "constraints": ["mention a follow-up appointment"], "target_words": 120}
    [record], ctx = _run(params, [SampleRequest(0, 5, _patient(3, temperature=38.0))], tmp_path)
    assert isinstance(record, Record)
    fake = ctx.language_model(BackendSpec(backend="fake", params={"responses": [NOTE]}))
    assert isinstance(fake, FakeLanguageModel)
    [request] = fake.requests
    system, user = request.messages
    assert system.role == "system" and "attending hospital physician" in system.content
    for expected in ("discharge summary", "- age: 43", "- sex: female", "- systolic bp: 123", "- temperature: 38\n",
                     "- diagnosis: heart failure",
                     "Hospital Course", "About 120 words", "- mention a follow-up appointment"):
        assert expected in user.content, expected
    assert request.seed == 5
    assert record.payload.text == NOTE and record.payload.document_type == "discharge summary"  # type: ignore[union-attr]
    assert record.labels == {"diagnosis": "heart failure"}
    assert record.parents == ("patients-000003",) and record.case_id == "case-3"


def test_provenance_is_complete(tmp_path: Path) -> None:
    params = {"model": {"backend": "fake", "params": {"responses": [NOTE]}},
              "decoding": {"temperature": 0.5, "max_new_tokens": 64}}
    [record], _ = _run(params, [SampleRequest(0, 9, _patient(0))], tmp_path)
    assert isinstance(record, Record)
    p = record.provenance
    assert p.model is not None and p.model.name == "fake-llm" and p.model.backend == "fake"
    assert p.prompt is not None and p.prompt.template_id == TEMPLATE_ID
    assert p.prompt.template_sha256 == sha256_text(f"{SYSTEM_TEMPLATE}\n\n{USER_TEMPLATE}")
    assert p.prompt.rendered is not None and "[system]" in p.prompt.rendered and "- age: 40" in p.prompt.rendered
    assert p.prompt.rendered_sha256 == sha256_text(p.prompt.rendered)
    assert p.strategy == (Strategy.ZERO_SHOT, Strategy.INSTRUCTION)
    assert p.decoding is not None and p.decoding.temperature == 0.5 and p.decoding.max_new_tokens == 64
    assert p.prompt_tokens and p.prompt_tokens > 20 and p.completion_tokens == len(NOTE.split())
    assert p.validation == Validation.PASSED and p.attempts == 1 and p.seed == 9


def test_prompts_with_real_data_are_redacted(tmp_path: Path) -> None:
    params = {"model": {"backend": "fake", "params": {"responses": [NOTE]}}}
    [record], _ = _run(params, [SampleRequest(0, 1, _patient(0))], tmp_path, real_data=True)
    assert isinstance(record, Record) and record.provenance.prompt is not None
    assert record.provenance.prompt.redacted and record.provenance.prompt.rendered is None


def test_bad_outputs_are_retried_with_new_seeds(tmp_path: Path) -> None:
    params = {"model": {"backend": "fake", "params": {"responses": ["   ", "too short", NOTE]}}, "max_attempts": 3}
    [record], ctx = _run(params, [SampleRequest(0, 4, _patient(0))], tmp_path)
    assert isinstance(record, Record)
    assert record.provenance.attempts == 3 and record.payload.text == NOTE  # type: ignore[union-attr]
    fake = ctx.language_model(ClinicalNote(params).params.model)
    assert isinstance(fake, FakeLanguageModel)
    assert len({r.seed for r in fake.requests}) == 3  # each attempt has its own seed
    assert record.provenance.extra["llm_seed"] == fake.requests[-1].seed


def test_failure_after_max_attempts_names_the_reasons(tmp_path: Path) -> None:
    params = {"model": {"backend": "fake", "params": {"responses": ["", "too short"]}}, "max_attempts": 2}
    [failure], _ = _run(params, [SampleRequest(0, 4, _patient(0))], tmp_path)
    assert isinstance(failure, SampleFailure)
    assert failure.attempts == 2
    assert "empty output" in failure.reason and "too short: 2 words" in failure.reason


def test_greedy_decoding_is_not_retried(tmp_path: Path) -> None:
    params = {"model": {"backend": "fake", "params": {"responses": [""]}}, "decoding": {"temperature": 0.0}}
    [failure], _ = _run(params, [SampleRequest(0, 4, _patient(0))], tmp_path)
    assert isinstance(failure, SampleFailure) and failure.attempts == 1
    assert "deterministic" in failure.reason


def test_one_backend_call_for_a_batch(tmp_path: Path) -> None:
    calls: list[int] = []

    class Counting(FakeLanguageModel):
        def _generate(self, requests):  # type: ignore[no-untyped-def]
            calls.append(len(requests))
            return super()._generate(requests)

    registry = Registry()
    registry.register(Group.LLM_BACKENDS, "counting", Counting)
    ctx = StepContext(step="notes", seed=1, root=tmp_path, registry=registry)
    generator = ClinicalNote({"model": {"backend": "counting", "params": {"responses": [NOTE]}}})
    outcomes = generator.generate([SampleRequest(i, i, _patient(i)) for i in range(5)], ctx)
    assert all(isinstance(o, Record) for o in outcomes)
    assert calls == [5]


def test_document_type_from_the_input_record(tmp_path: Path) -> None:
    params = {"model": {"backend": "fake", "params": {"responses": [NOTE]}}, "document_type_field": "note_type"}
    records, _ = _run(params, [SampleRequest(0, 1, _patient(0, note_type="radiology report")),
                               SampleRequest(1, 2, _patient(1))], tmp_path)
    assert isinstance(records[0], Record) and records[0].payload.document_type == "radiology report"  # type: ignore[union-attr]
    assert isinstance(records[1], SampleFailure) and "note_type" in records[1].reason


def test_sampled_attributes_are_recorded(tmp_path: Path) -> None:
    params = {"model": {"backend": "fake", "params": {"responses": [NOTE]}},
              "attributes": {"specialty": ["cardiology"], "age": {"type": "integer", "low": 30, "high": 30}}}
    [record], _ = _run(params, [SampleRequest(0, 3)], tmp_path)
    assert isinstance(record, Record)
    assert record.provenance.extra["attributes"] == {"specialty": "cardiology", "age": 30}
    assert Strategy.ATTRIBUTE_SAMPLING in record.provenance.strategy
    assert record.provenance.prompt is not None and "- specialty: cardiology" in (record.provenance.prompt.rendered or "")


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(ConfigError, match="template_id"):
        ClinicalNote({"user_template": "Write a $document_type."})
    with pytest.raises(ConfigError, match="unknown placeholders"):
        ClinicalNote({"user_template": "Write about $patient_name.", "template_id": "x/v1"})
    with pytest.raises(ConfigError, match="attributes"):
        ClinicalNote({"attributes": {"age": {"type": "integer", "low": 5, "high": 1}}})


def test_tiny_model_notes_carry_the_weights_hash(tiny_model_dir: Path, tmp_path: Path) -> None:
    params = {"model": {"backend": "transformers", "params": {"model": str(tiny_model_dir)}}, "min_words": 2,
              "decoding": {"temperature": 1.0, "max_new_tokens": 12, "min_new_tokens": 4}}
    outcomes, _ = _run(params, [SampleRequest(i, 10 + i, _patient(i)) for i in range(3)], tmp_path)
    records = [o for o in outcomes if isinstance(o, Record)]
    assert len(records) == 3
    for record in records:
        assert record.provenance.model is not None
        assert record.provenance.model.sha256 == weights_sha256(tiny_model_dir)  # core: the whole folder
        assert record.provenance.completion_tokens is not None and 4 <= record.provenance.completion_tokens <= 12
