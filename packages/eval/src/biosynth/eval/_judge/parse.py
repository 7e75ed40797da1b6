"""Reading a judge's answer: the G-Eval probability-weighted score from token log-probabilities, and the strict
Prometheus-style `[RESULT] n` parse (a rejected answer is retried with its error, see core's retry_until_valid)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from biosynth.core import PositionLogprobs, Rejected

_RESULT = re.compile(r"\[RESULT\]")
_TAIL = re.compile(r"\[RESULT\]\s*\(?\s*([^\s()\]]+)\s*\)?\s*\.?\s*$")


@dataclass(frozen=True)
class Parsed:
    """A strictly parsed answer: the verdict after `[RESULT]`, and the feedback before it."""

    verdict: str
    feedback: str


def parse_result(text: str, allowed: Sequence[str]) -> Parsed | Rejected:
    """`Feedback ... [RESULT] v`: exactly one `[RESULT]`, at the end, followed by one of `allowed` and nothing else,
    after a non-empty feedback."""
    found = len(_RESULT.findall(text))
    if found != 1:
        return Rejected(f"expected exactly one '[RESULT]' followed by one of {list(allowed)}, found {found}")
    match = _TAIL.search(text)
    if match is None:
        return Rejected(f"'[RESULT]' must be followed by one of {list(allowed)} and nothing else")
    verdict = match.group(1)
    if verdict not in allowed:
        return Rejected(f"the result {verdict!r} is not one of {list(allowed)}")
    feedback = text[:match.start()].strip()
    feedback = re.sub(r"^\s*Feedback\s*:\s*", "", feedback, flags=re.IGNORECASE)
    if not feedback:
        return Rejected("the feedback before '[RESULT]' is missing")
    return Parsed(verdict=verdict, feedback=feedback)


@dataclass(frozen=True)
class WeightedScore:
    """G-Eval's score: sum of value x probability over the score tokens, renormalised over them; `mass` is the
    probability the model gave to score tokens at all at that position, `position` the answer token read."""

    score: float
    probabilities: dict[int, float]
    mass: float
    position: int


def weighted_score(logprobs: Sequence[PositionLogprobs], values: Sequence[int]) -> WeightedScore | None:
    """The probability-weighted score at the first generated position that is not white space (G-Eval reads the
    first answer token). Tokens that equal a score after stripping white space (`"3"`, `" 3"`) count for it.
    None when that position's top tokens hold no score token."""
    wanted = {str(v): v for v in values}
    for position, entry in enumerate(logprobs):
        if not entry.token.strip():
            continue
        probabilities: dict[int, float] = {}
        seen: set[str] = set()
        for alternative in entry.top or (entry,):
            if alternative.token in seen:  # a token listed twice (llama.cpp adds the sampled one) counts once
                continue
            seen.add(alternative.token)
            value = wanted.get(alternative.token.strip())
            if value is not None:
                probabilities[value] = probabilities.get(value, 0.0) + math.exp(alternative.logprob)
        mass = sum(probabilities.values())
        if mass <= 0:
            return None
        score = sum(v * p for v, p in probabilities.items()) / mass
        return WeightedScore(score=score, probabilities={v: p / mass for v, p in sorted(probabilities.items())},
                             mass=mass, position=position)
    return None
