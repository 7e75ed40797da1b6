"""The planner: drafts an encounter (summary, goals, key facts grounded in the source) as validated JSON."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from biosynth.core import ChatMessage, json_instruction
from biosynth.text._dialogue.coverage import term_in, tokens
from biosynth.text._dialogue.prompts import PLANNER

MAX_TERM_TOKENS = 6


@dataclass(frozen=True)
class Role:
    """A participant: its role name, how it is shown as a speaker, and its persona."""

    role: str
    speaker: str
    persona: str


@dataclass(frozen=True)
class KeyFact:
    fact: str
    terms: tuple[str, ...]
    revealed_by: str


@dataclass(frozen=True)
class Plan:
    summary: str
    goals: dict[str, str]
    facts: tuple[KeyFact, ...]

    def facts_of(self, role: str) -> list[KeyFact]:
        return [f for f in self.facts if f.revealed_by == role]

    def to_json(self) -> dict[str, Any]:
        return {"summary": self.summary, "goals": self.goals,
                "key_facts": [{"fact": f.fact, "terms": list(f.terms), "revealed_by": f.revealed_by} for f in self.facts]}


def plan_model(roles: tuple[str, ...], min_facts: int = 1, max_facts: int = 30) -> type[BaseModel]:
    """The planner's answer schema, `revealed_by` and goal roles restricted to the participants, the
    number of key facts to the bounds (grammar-constrained backends then cannot leave them out)."""
    config = ConfigDict(frozen=True, extra="ignore")
    role: Any = Literal[roles]
    fact = create_model("KeyFact", __config__=config, fact=(str, Field(min_length=1)),
                        terms=(list[str], Field(min_length=1, max_length=3)), revealed_by=(role, ...))
    goal = create_model("RoleGoal", __config__=config, role=(role, ...), goal=(str, Field(min_length=1)))
    model: type[BaseModel] = create_model(
        "EncounterPlan", __config__=config, summary=(str, Field(min_length=1)),
        goals=(list[goal], Field(default_factory=list)),  # type: ignore[valid-type]
        key_facts=(list[fact], Field(min_length=min_facts, max_length=max_facts)))  # type: ignore[valid-type]
    return model


def planner_messages(schema: type[BaseModel], *, setting: str, language: str, roles: Sequence[Role], source: str,
                     min_facts: int, max_facts: int) -> tuple[ChatMessage, ...]:
    fields = {
        "setting": setting, "language": language, "source": source, "min_facts": min_facts, "max_facts": max_facts,
        "participants": "\n".join(f"- {r.speaker} ({r.role}): {r.persona}" for r in roles),
        "roles": ", ".join(r.role for r in roles), "schema": json_instruction(schema),
    }
    return PLANNER.messages(fields)


def plan_problems(value: Any, source: str, *, min_facts: int, max_facts: int) -> list[str]:
    """Why a validated plan cannot be used: a count outside the bounds, or terms not found in the source."""
    problems: list[str] = []
    n = len(value.key_facts)
    if not min_facts <= n <= max_facts:
        problems.append(f"{n} key facts; give between {min_facts} and {max_facts}")
    source_tokens = tokens(source)
    for k, fact in enumerate(value.key_facts):
        for term in fact.terms:
            size = len(tokens(term))
            if size == 0 or size > MAX_TERM_TOKENS:
                problems.append(f"key_facts.{k}.terms: {term!r} must be one to {MAX_TERM_TOKENS} words")
            elif not term_in(term, source_tokens):
                problems.append(f"key_facts.{k}.terms: {term!r} does not occur in the source; copy terms exactly")
    return problems


def to_plan(value: Any) -> Plan:
    goals: dict[str, str] = {}
    for goal in value.goals:
        goals.setdefault(goal.role, goal.goal)
    facts = tuple(KeyFact(fact=f.fact.strip(), terms=tuple(t.strip() for t in f.terms), revealed_by=f.revealed_by)
                  for f in value.key_facts)
    return Plan(summary=value.summary.strip(), goals=goals, facts=facts)
