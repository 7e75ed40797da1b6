"""The refiner: polishes a transcript as validated JSON, keeping its speakers, turn count and key facts."""

from __future__ import annotations

import json
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from biosynth.core import ChatMessage, json_instruction
from biosynth.text._dialogue.coverage import coverage
from biosynth.text._dialogue.planner import Plan, Role
from biosynth.text._dialogue.prompts import REFINER


class RefinedTurn(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    speaker: str = Field(min_length=1)
    text: str = Field(min_length=1)


class RefinedTranscript(BaseModel):
    """The refiner's answer."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    turns: list[RefinedTurn] = Field(min_length=1)


def refiner_messages(turns: Sequence[tuple[Role, str]], plan: Plan, setting: str) -> tuple[ChatMessage, ...]:
    transcript = json.dumps([{"speaker": r.speaker, "text": text} for r, text in turns], ensure_ascii=False, indent=1)
    fields = {"setting": setting, "n_turns": len(turns), "transcript": transcript,
              "facts": "\n".join(f"- {f.fact}" for f in plan.facts), "schema": json_instruction(RefinedTranscript)}
    return REFINER.messages(fields)


def refine_problems(value: RefinedTranscript, draft: Sequence[tuple[Role, str]], plan: Plan) -> list[str]:
    """Why a polished transcript cannot replace the draft: other turns or speakers, or facts lost."""
    if len(value.turns) != len(draft):
        return [f"{len(value.turns)} turns, expected exactly {len(draft)}"]
    problems = []
    for k, (turn, (role, _)) in enumerate(zip(value.turns, draft, strict=True)):
        if turn.speaker.strip().casefold() not in (role.speaker.casefold(), role.role.casefold()):
            problems.append(f"turns.{k}.speaker is {turn.speaker!r}, expected {role.speaker!r}")
        if not turn.text.strip():
            problems.append(f"turns.{k}.text is empty")
    if problems:
        return problems
    facts = [(f.fact, f.terms) for f in plan.facts]
    before = set(coverage(facts, spoken_text(draft)).missing)
    lost = [f for f in coverage(facts, spoken_text([(r, t.text) for (r, _), t in zip(draft, value.turns,
                                                                                              strict=True)])).missing
            if f not in before]
    if lost:
        problems.append(f"the polished transcript drops key facts {lost}; keep their words")
    return problems


def spoken_text(turns: Sequence[tuple[Role, str]]) -> str:
    """What was said, without speaker labels (a fact must be spoken, not implied by a label)."""
    return "\n".join(text for _, text in turns)
