"""The `annotated_ie` generator: contracts, span repair in the loop, retries with reasons, recipes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from biosynth.core import (
    ChatRequest,
    ConfigError,
    Group,
    Modality,
    Provenance,
    Record,
    Registry,
    Runner,
    SampleFailure,
    SampleRequest,
    StepContext,
    Strategy,
    SyntheticDataset,
    TableRowPayload,
    TextPayload,
    Validation,
    load_recipe,
    parse_recipe,
    plan,
    sha256_text,
)
from biosynth.core.testing import FakeLanguageModel, GeneratorContract
from biosynth.text._annotated_ie import SYSTEM_TEMPLATE, TEMPLATE_ID, USER_TEMPLATE, AnnotatedIE

NOTES = [
    ("Started metformin 500 mg twice daily for type 2 diabetes; HbA1c was 8.2%.",
     [("metformin", "drug"), ("500 mg twice daily", "dose"), ("type 2 diabetes", "problem"), ("HbA1c", "test")],
     [("has_dose", 0, 1)]),
    ("Chest pain on exertion. ECG normal. Given aspirin 300 mg once; aspirin continued daily.",
     [("Chest pain", "problem"), ("ECG", "test"), ("aspirin", "drug"), ("300 mg once", "dose"), ("aspirin", "drug")],
     [("has_dose", 2, 3)]),
    ("Wheeze and cough. Salbutamol 2 puffs as needed; chest x-ray clear.",
     [("Wheeze", "problem"), ("cough", "problem"), ("Salbutamol", "drug"), ("2 puffs as needed", "dose"),
      ("chest x-ray", "test")],
     [("has_dose", 2, 3)]),
]
RELATIONS = {"has_dose": {"head": "drug", "tail": "dose"}}


def answer(note: int, shift: int = 0, *, lower: bool = False, extra_entity: tuple[str, str] | None = None,
           relations: list[tuple[str, int, int]] | None = None) -> str:
    """A model answer for NOTES[note], its offsets shifted by `shift` (wrong when non-zero)."""
    text, entities, rels = NOTES[note]
    out, cursor = [], {}
    for k, (surface, label) in enumerate(entities):
        start = text.index(surface, cursor.get(surface, 0))
        cursor[surface] = start + 1
        out.append({"id": f"e{k + 1}", "label": label, "text": surface.lower() if lower else surface,
                    "start": start + shift, "end": start + len(surface) + shift})
    if extra_entity is not None:
        out.append({"id": "e99", "label": extra_entity[1], "text": extra_entity[0], "start": 0, "end": 3})
    rel_items = [{"label": lab, "head": f"e{h + 1}", "tail": f"e{t + 1}"} for lab, h, t in (relations or rels)]
    return json.dumps({"text": text, "entities": out, "relations": rel_items})


def scripted(request: ChatRequest) -> str:
    """Seed-dependent answers, most with wrong offsets, so that the contract sees repairs."""
    seed = request.effective_seed
    return answer(seed % len(NOTES), shift=seed % 4)


def registry_with(backend: str, responses: Callable[[ChatRequest], str] | list[str]) -> Registry:
    registry = Registry()

    def factory(**params: Any) -> FakeLanguageModel:
        return FakeLanguageModel(responses, **params)

    registry.register(Group.LLM_BACKENDS, backend, factory)
    return registry


def _patient(i: int) -> Record:
    return Record(id=f"patients-{i:06d}", case_id=f"case-{i}", modality=Modality.TABULAR,
                  payload=TableRowPayload(table="patients", values={"age": 50 + i, "diagnosis": "diabetes"}),
                  labels={"diagnosis": "diabetes"},
                  provenance=Provenance(generator="attributes", generator_version="0", seed=i))


def _run(params: dict[str, Any], responses: Any, n: int = 1, seed: int = 4, tmp_path: Path | None = None,
         inputs: list[Record] | None = None) -> tuple[list[Record | SampleFailure], FakeLanguageModel]:
    registry = registry_with("scripted", responses)
    ctx = StepContext(step="ie", seed=1, root=tmp_path or Path("."), registry=registry)
    full = {"model": {"backend": "scripted"}, "relation_types": RELATIONS, **params}
    requests = [SampleRequest(i, seed + i, inputs[i] if inputs else None) for i in range(n)]
    outcomes = AnnotatedIE(full).generate(requests, ctx)
    fake = ctx.language_model(AnnotatedIE(full).params.model)
    assert isinstance(fake, FakeLanguageModel)
    return outcomes, fake


class TestAnnotatedIEScriptedContract(GeneratorContract):
    generator_name = "annotated_ie"

    def make_registry(self) -> Registry:
        return registry_with("scripted", scripted)

    def make_params(self) -> dict[str, Any]:
        return {"model": {"backend": "scripted"}, "relation_types": RELATIONS, "document_type": "progress note"}

    def make_inputs(self) -> list[Record]:
        return [_patient(i) for i in range(3)]


class TestAnnotatedIESchemaFakeContract(GeneratorContract):
    """Core's fake backend answers the smallest instance of the JSON schema it is sent."""

    generator_name = "annotated_ie"
    seed_sensitive = False  # the smallest instance has the same text for every seed

    def make_params(self) -> dict[str, Any]:
        return {"model": {"backend": "fake"}, "min_words": 1, "entity_types": ["problem", "drug"],
                "attributes": {"age": {"type": "integer", "low": 20, "high": 80}}}


def test_wrong_offsets_are_repaired_and_counted(tmp_path: Path) -> None:
    [record], fake = _run({}, [answer(1, shift=3)], tmp_path=tmp_path)
    assert isinstance(record, Record) and isinstance(record.payload, TextPayload)
    text = record.payload.text
    assert [(s.text, s.label) for s in record.spans] == [
        ("Chest pain", "problem"), ("ECG", "test"), ("aspirin", "drug"), ("300 mg once", "dose"), ("aspirin", "drug")]
    assert all(text[s.start : s.end] == s.text for s in record.spans)
    # The two aspirin mentions each got their own occurrence.
    assert len({(s.start, s.end) for s in record.spans if s.text == "aspirin"}) == 2
    [relation] = record.relations
    spans = {s.id: s for s in record.spans}
    assert (spans[relation.head].text, spans[relation.tail].text, relation.label) == ("aspirin", "300 mg once", "has_dose")
    assert spans[relation.head].start == text.index("aspirin")  # the first aspirin, as the model said (e3)
    p = record.provenance
    assert p.validation == Validation.REPAIRED and p.attempts == 1
    assert p.extra["spans_repaired"] == 5 and p.extra["span_fixes"] == {"moved": 5}
    assert p.extra["rejected_attempts"] == [] and p.extra["duplicate_entities_merged"] == 0
    assert p.extra["schema_constrained"] is True
    schema = fake.requests[0].json_schema
    assert schema is not None and set(schema["required"]) == {"text", "entities"}  # a grammar cannot skip entities
    assert schema["properties"]["entities"]["minItems"] == 1


def test_exact_answer_passes_without_repair(tmp_path: Path) -> None:
    [record], _ = _run({}, [answer(0)], tmp_path=tmp_path)
    assert isinstance(record, Record)
    assert record.provenance.validation == Validation.PASSED and record.provenance.extra["spans_repaired"] == 0
    assert record.provenance.extra["span_fixes"] == {"exact": 4}


def test_case_changed_entities_take_the_text_as_written(tmp_path: Path) -> None:
    [record], _ = _run({}, [answer(2, lower=True)], tmp_path=tmp_path)
    assert isinstance(record, Record)
    assert [s.text for s in record.spans][:3] == ["Wheeze", "cough", "Salbutamol"]
    assert record.provenance.extra["span_fixes"] == {"case-insensitive": 2, "exact": 3}


def test_unplaceable_entity_is_retried_with_the_reason(tmp_path: Path) -> None:
    bad = answer(0, extra_entity=("insulin glargine", "drug"))
    [record], fake = _run({}, [bad, answer(0, shift=1)], tmp_path=tmp_path)
    assert isinstance(record, Record) and record.provenance.attempts == 2
    [rejected] = record.provenance.extra["rejected_attempts"]
    assert "e99 (drug) 'insulin glargine': 'insulin glargine' does not occur in the text" in rejected
    retry = fake.requests[1]
    assert retry.messages[-1].role == "user" and "insulin glargine" in retry.messages[-1].content
    assert retry.seed != fake.requests[0].seed
    assert record.provenance.prompt is not None and "[assistant]" in (record.provenance.prompt.rendered or "")


def test_failure_after_max_attempts_lists_every_reason(tmp_path: Path) -> None:
    wrong_relation = answer(0, relations=[("has_dose", 2, 1)])  # a problem -> dose "has_dose"
    unknown_id = answer(0, relations=[("has_dose", 0, 41)])
    [failure], _ = _run({"max_attempts": 3}, [wrong_relation, unknown_id, "not json at all"], tmp_path=tmp_path)
    assert isinstance(failure, SampleFailure) and failure.attempts == 3
    assert failure.reason.startswith("annotated_ie: no valid AnnotatedText JSON after 3 attempt(s)")
    assert "goes from a drug to a dose, but e3 is a problem and e2 is a dose" in failure.reason
    assert "unknown or unplaced entity ids ['e42']" in failure.reason
    assert "no JSON object found" in failure.reason


def test_required_types_and_labels_are_enforced(tmp_path: Path) -> None:
    params = {"entity_types": ["problem", "drug", "dose", "test"], "required_entity_types": ["drug", "test"]}
    no_test = json.dumps({"text": "Metformin for diabetes.", "entities": [
        {"id": "e1", "label": "drug", "text": "Metformin", "start": 0, "end": 9}]})
    unknown_label = json.dumps({"text": "Metformin for diabetes.", "entities": [
        {"id": "e1", "label": "symptom", "text": "diabetes"}]})
    [failure], _ = _run({**params, "max_attempts": 2, "min_words": 1}, [no_test, unknown_label], tmp_path=tmp_path)
    assert isinstance(failure, SampleFailure)
    assert "no entity of type ['test']" in failure.reason
    assert "entities.0.label" in failure.reason  # pydantic names the field


def test_prompt_and_provenance(tmp_path: Path) -> None:
    [record], fake = _run({"document_type": "discharge summary", "target_words": 60}, [answer(0)],
                          tmp_path=tmp_path, inputs=[_patient(2)])
    assert isinstance(record, Record)
    system, user = fake.requests[0].messages
    assert "information-extraction" in system.content
    for expected in ("discharge summary of about 60 words", "- age: 52", "- drug: a medication name",
                     "- has_dose: from a drug to a dose", '"head"', "JSON schema"):
        assert expected in user.content, expected
    p = record.provenance
    assert p.prompt is not None and p.prompt.template_id == TEMPLATE_ID
    assert p.prompt.template_sha256 == sha256_text(f"{SYSTEM_TEMPLATE}\n\n{USER_TEMPLATE}")
    assert p.strategy == (Strategy.ZERO_SHOT, Strategy.INSTRUCTION)
    assert p.prompt_tokens and p.completion_tokens and p.model is not None and p.model.backend == "fake"
    assert record.parents == ("patients-000002",) and record.case_id == "case-2"
    assert record.labels == {"diagnosis": "diabetes"}


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"relation_types.treats: entity types \['disease'\]"):
        AnnotatedIE({"relation_types": {"treats": {"head": "drug", "tail": "disease"}}})
    with pytest.raises(ConfigError, match="required_entity_types"):
        AnnotatedIE({"entity_types": ["drug"], "required_entity_types": ["dose"]})
    with pytest.raises(ConfigError, match="identifiers"):
        AnnotatedIE({"entity_types": ["drug name"]})
    assert list(AnnotatedIE({"entity_types": ["drug", "gene"]}).params.entity_types.items()) == [
        ("drug", "a medication name"), ("gene", "")]


def test_tiny_model_outputs_are_failures_with_reasons(tiny_model_dir: Path, tmp_path: Path) -> None:
    """A real backend that cannot write JSON: each sample is recorded as a failure, none dropped."""
    params = {"model": {"backend": "transformers", "params": {"model": str(tiny_model_dir), "context_length": 1024}},
              "max_attempts": 2,
              "decoding": {"temperature": 1.0, "max_new_tokens": 6}, "target_words": 10}
    ctx = StepContext(step="ie", seed=1, root=tmp_path)
    outcomes = AnnotatedIE(params).generate([SampleRequest(i, i) for i in range(2)], ctx)
    assert all(isinstance(o, SampleFailure) and o.attempts == 2 and "attempt 2:" in o.reason for o in outcomes)


def test_recipe_run_writes_spans_and_counts_failures(tmp_path: Path) -> None:
    def responses(request: ChatRequest) -> str:
        # Patients of even age never get a placeable entity: they fail and are counted with the reason.
        age = int(re.search(r"- age: (\d+)", request.messages[1].content).group(1))  # type: ignore[union-attr]
        if age % 2 == 0:
            return answer(0, extra_entity=("warfarin", "drug"))
        return answer(request.seed % len(NOTES), shift=2)

    recipe = parse_recipe({
        "name": "ie", "seed": 5,
        "steps": [
            {"name": "patients", "generator": "attributes", "count": 6,
             "params": {"attributes": {"age": {"type": "integer", "low": 30, "high": 80}}}},
            {"name": "ie", "generator": "annotated_ie", "from": "patients", "batch_size": 6,
             "params": {"model": {"backend": "scripted"}, "relation_types": RELATIONS, "max_attempts": 2}},
        ],
    })
    manifest = Runner(recipe, tmp_path / "out", registry=registry_with("scripted", responses)).run()
    summary = manifest.steps["ie"]
    assert summary.requested == 6 and summary.produced + summary.failed == 6
    assert summary.produced >= 1 and summary.failed >= 1
    dataset = SyntheticDataset(tmp_path / "out")
    assert dataset.verify() == []
    for record in dataset.records("ie"):
        assert record.spans and record.provenance.extra["spans_repaired"] >= 1
        assert record.text is not None and all(record.text[s.start : s.end] == s.text for s in record.spans)
    assert all("'warfarin' does not occur in the text" in f.reason for f in summary.failures)


def test_example_recipe_is_valid() -> None:
    example = Path(__file__).parents[1] / "examples" / "annotated_ie.yaml"
    planned = {entry.step.name: entry for entry in plan(load_recipe(example), base_dir=example.parent)}
    generator = planned["ie"].generator
    assert isinstance(generator, AnnotatedIE) and generator.params.relation_types["has_dose"].head == "drug"
    assert [s.backend for _, s in generator.backends()] == ["transformers"]
