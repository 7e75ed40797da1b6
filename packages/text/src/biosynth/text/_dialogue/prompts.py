"""Versioned prompt templates of the multi-agent dialogue pipeline, and the scenario presets.

Each template's id and sha256 go into every dialogue's provenance; change a text only together with
a new id (e.g. `dialogue-agent/v2`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from biosynth.core import ChatMessage, PromptTemplate

TEMPLATE_ID = "dialogue/v1"  # the set of the three templates below

PLANNER_ID = "dialogue-planner/v1"
PLANNER_SYSTEM = (
    "You plan realistic but entirely fictional clinical conversations for research and software testing. "
    "You read a source (a clinical note or a patient's attributes) and list the key facts the conversation "
    "must bring up. Never invent real names, addresses, dates of birth, phone numbers or record numbers."
)
PLANNER_USER = """\
Scenario: $setting, in $language.
Participants:
$participants

Source:
$source

Plan the conversation: a one-sentence summary, a goal for each participant, and between $min_facts and \
$max_facts key facts from the source that must come up. For each key fact give "fact" (a short statement), \
"terms" (one to three essential words or short phrases copied exactly from the source, e.g. a diagnosis, \
a drug, a number) and "revealed_by" (the participant who says it: one of $roles).
$schema"""

AGENT_ID = "dialogue-agent/v1"
AGENT_SYSTEM = (
    "You are role-playing $speaker ($role): $persona. The scene is a fictional $setting. Stay in character and "
    "speak only as $speaker, naturally, in $language, in one to three sentences. Never use real names, "
    "addresses, dates of birth, phone numbers or record numbers."
)
AGENT_USER = """\
The encounter: $summary
Your goal: $goal
Facts you should bring up when it fits the conversation:
$facts$reminder

Conversation so far:
$history

Write only what $speaker says next, without a speaker label."""

REFINER_ID = "dialogue-refiner/v1"
REFINER_SYSTEM = (
    "You are an editor of fictional clinical conversation transcripts. You make each turn read naturally and "
    "fix grammar, repetition and role confusion, without adding or removing turns and without changing who "
    "speaks. Keep every clinical fact, number and drug name."
)
REFINER_USER = """\
Scenario: $setting.
Facts that must stay in the conversation:
$facts

Transcript ($n_turns turns):
$transcript

Return the polished transcript: exactly $n_turns turns, the same speakers in the same order.
$schema"""

NO_HISTORY = "(nothing yet: you speak first)"
REMINDER = "\nThese facts did not come up in an earlier try; make sure you say them: $missing"


@dataclass(frozen=True)
class Template:
    id: str
    system: str
    user: str
    parts: tuple[str, ...] = ()  # sub-templates rendered into the user message

    @property
    def text(self) -> str:
        return "\n\n".join((self.system, self.user, *self.parts))

    @property
    def prompt(self) -> PromptTemplate:
        """The whole template (system, user and sub-templates) as one core `PromptTemplate`."""
        return PromptTemplate(id=self.id, text=self.text)

    @property
    def sha256(self) -> str:
        return self.prompt.sha256

    def part(self, text: str) -> PromptTemplate:
        """One part of this template (the system or user message, or a sub-template) under its id."""
        return PromptTemplate(id=self.id, text=text)

    def messages(self, fields: Mapping[str, object]) -> tuple[ChatMessage, ChatMessage]:
        """The system and user messages with every placeholder filled."""
        return (ChatMessage(role="system", content=self.part(self.system).render(fields)),
                ChatMessage(role="user", content=self.part(self.user).render(fields)))


PLANNER = Template(PLANNER_ID, PLANNER_SYSTEM, PLANNER_USER)
AGENT = Template(AGENT_ID, AGENT_SYSTEM, AGENT_USER, (REMINDER, NO_HISTORY))
REFINER = Template(REFINER_ID, REFINER_SYSTEM, REFINER_USER)
TEMPLATES = (PLANNER, AGENT, REFINER)


def combined_template() -> str:
    """The three templates as one text (its sha256 is the dialogue's `template_sha256`)."""
    return "\n\n".join(f"## {t.id}\n{t.text}" for t in TEMPLATES)


@dataclass(frozen=True)
class RolePreset:
    role: str
    speaker: str
    persona: str


@dataclass(frozen=True)
class Scenario:
    setting: str
    roles: tuple[RolePreset, ...]


SCENARIOS: dict[str, Scenario] = {
    "consultation": Scenario(
        "outpatient consultation between a doctor and a patient",
        (RolePreset("doctor", "Doctor",
                    "a primary care physician who greets the patient, takes a focused history with open questions, "
                    "explains findings and agrees a plan in plain language"),
         RolePreset("patient", "Patient",
                    "the patient, who describes their own symptoms and history in everyday words, answers what is "
                    "asked and asks about what worries them"))),
    "ems": Scenario(
        "emergency medical services call: an ambulance crew attends a patient at home",
        (RolePreset("paramedic", "Paramedic",
                    "the lead paramedic, who introduces the crew, assesses the patient quickly (complaint, onset, "
                    "history, medications, allergies), reports observations and explains the next steps"),
         RolePreset("patient", "Patient",
                    "the patient, who is anxious and in discomfort, answers in short everyday sentences and "
                    "mentions what they know about their own history and medications"))),
}
