from __future__ import annotations

import pytest
from pydantic import ValidationError

from biosynth.core import (
    DecodingConfig,
    DialoguePayload,
    MediaRef,
    Modality,
    Provenance,
    Record,
    Relation,
    Span,
    TableRowPayload,
    TextPayload,
    Turn,
)

PROV = Provenance(generator="test", generator_version="0", seed=1)


def make(payload, modality=Modality.TEXT, **kw) -> Record:
    return Record(id="r1", case_id="c1", modality=modality, payload=payload, provenance=PROV, **kw)


def test_span_must_match_text() -> None:
    text = "Patient on metformin 500 mg."
    ok = make(TextPayload(text=text), spans=(Span(start=11, end=20, label="DRUG", text="metformin"),))
    assert ok.spans[0].text == text[11:20]
    with pytest.raises(ValidationError, match="covers 'etformin '"):
        make(TextPayload(text=text), spans=(Span(start=12, end=21, label="DRUG", text="metformin"),))
    with pytest.raises(ValidationError, match="outside a text"):
        make(TextPayload(text=text), spans=(Span(start=20, end=99, label="DRUG", text="x"),))


def test_modality_must_fit_payload() -> None:
    with pytest.raises(ValidationError, match="does not fit a 'table_row' payload"):
        make(TableRowPayload(values={"age": 4}), modality=Modality.TEXT)
    assert make(TableRowPayload(values={"age": 4}), modality=Modality.TABULAR).text is None


def test_relations_need_known_span_ids() -> None:
    text = "aspirin for headache"
    spans = (Span(start=0, end=7, label="DRUG", text="aspirin", id="s1"),
             Span(start=12, end=20, label="PROBLEM", text="headache", id="s2"))
    rec = make(TextPayload(text=text), spans=spans, relations=(Relation(head="s1", tail="s2", label="treats"),))
    assert rec.relations[0].label == "treats"
    with pytest.raises(ValidationError, match="unknown span ids"):
        make(TextPayload(text=text), spans=spans, relations=(Relation(head="s1", tail="s9", label="treats"),))


def test_dialogue_spans_index_turns_and_text_joins_turns() -> None:
    payload = DialoguePayload(turns=(Turn(speaker="A", role="doctor", text="Any chest pain?"),
                                     Turn(speaker="B", role="patient", text="Yes, since noon.")))
    rec = make(payload, modality=Modality.DIALOGUE,
               spans=(Span(start=4, end=15, label="SYMPTOM", text="chest pain?"[:11], turn=0),))
    assert rec.text == "A: Any chest pain?\nB: Yes, since noon."
    assert payload.speakers == ("A", "B")
    with pytest.raises(ValidationError, match="valid turn index"):
        make(payload, modality=Modality.DIALOGUE, spans=(Span(start=0, end=1, label="X", text="A"),))


def test_media_paths_stay_inside_the_dataset() -> None:
    with pytest.raises(ValidationError, match="relative inside the dataset"):
        MediaRef(path="../etc/passwd", sha256="0" * 64, mime_type="text/plain", bytes=1)
    with pytest.raises(ValidationError, match="relative inside the dataset"):
        MediaRef(path="/abs.png", sha256="0" * 64, mime_type="image/png", bytes=1)


def test_records_round_trip_through_json_and_are_frozen() -> None:
    rec = make(TextPayload(text="x"), labels={"label": "positive"})
    again = Record.model_validate_json(rec.model_dump_json())
    assert again == rec
    with pytest.raises(ValidationError):
        rec.id = "other"  # type: ignore[misc]


def test_decoding_relations_are_checked() -> None:
    with pytest.raises(ValidationError, match="greedy"):
        DecodingConfig(temperature=0.0, top_p=0.9)
    with pytest.raises(ValidationError, match="exceeds max_new_tokens"):
        DecodingConfig(min_new_tokens=10, max_new_tokens=5)
    with pytest.raises(ValidationError):
        DecodingConfig(temperature=-1)
    assert DecodingConfig(temperature=0.0).greedy


def test_provenance_refuses_a_prompt_without_a_model() -> None:
    from biosynth.core import PromptRef

    prompt = PromptRef.build("t", "tmpl {x}", "tmpl 1", redact=True)
    assert prompt.rendered is None and len(prompt.rendered_sha256) == 64
    with pytest.raises(ValidationError, match="without the model"):
        Provenance(generator="g", generator_version="0", seed=0, prompt=prompt)


def test_qa_payload_round_trips_and_gives_the_record_a_text() -> None:
    from biosynth.core import QAPayload
    from biosynth.core._store import records_to_table, table_to_records

    record = Record(id="qa-1", case_id="qa-1", modality=Modality.TEXT, provenance=PROV,
                    payload=QAPayload(question="What lowers LDL?", answer="Statins.", rationale="HMG-CoA inhibition",
                                      options=("Statins.", "Insulin.")))
    assert record.text == ("Question: What lowers LDL?\nOption: Statins.\nOption: Insulin.\nAnswer: Statins.\n"
                           "Rationale: HMG-CoA inhibition")
    [back] = table_to_records(records_to_table([(0, record)]))
    assert back.payload == record.payload and back.text == record.text
    with pytest.raises(ValidationError, match="modality 'tabular' does not fit a 'qa' payload"):
        Record(id="x", case_id="x", modality=Modality.TABULAR, provenance=PROV,
               payload=QAPayload(question="q", answer="a"))
