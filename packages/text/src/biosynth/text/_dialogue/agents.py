"""Role-play agents: each turn is one LLM call with that role's persona, its part of the plan and the
conversation so far; the same turn of every dialogue in a batch goes to the backend in one call."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from biosynth.core import (
    ChatMessage,
    ChatRequest,
    Completion,
    DecodingConfig,
    GenerationError,
    LanguageModel,
    Rejected,
    derive_seed,
    retry_until_valid,
)
from biosynth.text._dialogue.planner import Plan, Role
from biosynth.text._dialogue.prompts import AGENT, NO_HISTORY, REMINDER


@dataclass
class CallStats:
    """Calls and tokens of one agent (or the planner / refiner)."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, completion: Completion) -> None:
        self.calls += 1
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens

    def to_json(self) -> dict[str, int]:
        return {"calls": self.calls, "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens}


@dataclass
class Conversation:
    """One dialogue being spoken: its plan, seed, turns so far, facts to insist on, and why it failed."""

    plan: Plan
    seed: int
    missing: dict[str, list[str]] = field(default_factory=dict)  # role -> facts not covered last time
    stats: dict[str, CallStats] = field(default_factory=dict)  # role -> its calls
    turns: list[tuple[Role, str]] = field(default_factory=list)
    failed: str | None = None


@dataclass(frozen=True)
class Scene:
    setting: str
    language: str
    roles: tuple[Role, ...]
    order: tuple[Role, ...]  # who speaks at turn t: order[t % len(order)]


def speak(model: LanguageModel, conversations: Sequence[Conversation], scene: Scene, *, n_turns: int,
          decoding: DecodingConfig, max_turn_attempts: int) -> None:
    """Fill each conversation with `n_turns` turns (or set `failed`), counting each role's calls."""
    speakers = [r.speaker for r in scene.roles] + [r.role for r in scene.roles]
    for t in range(n_turns):
        role = scene.order[t % len(scene.order)]
        active = [c for c in conversations if c.failed is None]

        def attempt(number: int, pending: list[int], t: int = t, role: Role = role,
                    active: list[Conversation] = active) -> list[str | Rejected]:
            requests = [ChatRequest(messages=agent_messages(active[k], role, scene), decoding=decoding,
                                    seed=derive_seed(active[k].seed, "turn", t, number)) for k in pending]
            texts: list[str | Rejected] = []
            for k, completion in zip(pending, model.generate(requests), strict=True):
                active[k].stats.setdefault(role.role, CallStats()).add(completion)
                texts.append(clean_turn(completion.text, speakers) or Rejected("empty turn"))
            return texts

        for c, result in zip(active, retry_until_valid(len(active), attempt, max_attempts=max_turn_attempts,
                                                        what="turn"), strict=True):
            if isinstance(result, GenerationError):
                c.failed = f"turn {t + 1} ({role.speaker}) was empty in {max_turn_attempts} tries"
            else:
                c.turns.append((role, result.value))


def agent_messages(conversation: Conversation, role: Role, scene: Scene) -> tuple[ChatMessage, ...]:
    plan = conversation.plan
    facts = plan.facts_of(role.role)
    missing = conversation.missing.get(role.role, [])
    fields = {
        "speaker": role.speaker, "role": role.role, "persona": role.persona, "setting": scene.setting,
        "language": scene.language, "summary": plan.summary,
        "goal": plan.goals.get(role.role, "play your part in the encounter"),
        "facts": "\n".join(f"- {f.fact}" for f in facts) or "- none: respond to the others",
        "reminder": AGENT.part(REMINDER).render({"missing": "; ".join(missing)}) if missing else "",
        "history": "\n".join(f"{r.speaker}: {text}" for r, text in conversation.turns) or NO_HISTORY,
    }
    return AGENT.messages(fields)


def clean_turn(text: str, speakers: Sequence[str]) -> str:
    """One turn's words: no leading speaker label, nothing from the point where the model starts
    speaking for someone (a `Name:` label at a line start, or after a sentence), no wrapping quotes,
    whitespace collapsed."""
    names = [re.escape(s) for s in sorted(set(speakers), key=len, reverse=True) if s]
    if names:
        alternatives = "|".join(names)
        lead = re.compile(rf"[\s*_\"']*(?:{alternatives})[\s*_]*:[\s*_]*", re.IGNORECASE)
        while (match := lead.match(text)) is not None:
            text = text[match.end():]
        line_label = re.compile(rf"^[\s*_\"']*(?:{alternatives})[\s*_]*:", re.IGNORECASE | re.MULTILINE)
        inline_label = re.compile(rf"(?<=[.!?])\s+\**(?:{alternatives})\**:")  # case-sensitive: "Patient:"
        cuts = [m.start() for m in (line_label.search(text), inline_label.search(text)) if m is not None]
        if cuts:
            text = text[: min(cuts)]
    text = " ".join(text.split())
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text
