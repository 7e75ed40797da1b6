"""The retry-until-valid batch loop every generator that validates model output uses.

    outcomes = retry_until_valid(len(prompts), attempt, max_attempts=3, what="note")

`attempt(number, pending)` makes one attempt (0-based `number`) for every still-pending item at once
(one batched model call) and returns, per pending index in order, either a value (accepted) or a
`Rejected(reason)`. Rejected items are retried up to `max_attempts` in all; the caller keeps whatever
per-item state a retry needs (a conversation with the error appended, a new seed from
`attempt_seed(seed, number)`). Each result is an `Accepted` (value, attempts, earlier reasons) or a
core `GenerationError` listing every attempt's reason, which the runner records as a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from biosynth.core._errors import GenerationError

V = TypeVar("V")


@dataclass(frozen=True)
class Rejected:
    """An attempt's output that cannot be used, and why (the reason goes into the next prompt and the failure)."""

    reason: str


@dataclass(frozen=True)
class Accepted(Generic[V]):
    """A usable value, the attempt that made it (1-based count) and the reasons of the attempts before."""

    value: V
    attempts: int
    rejected: tuple[str, ...] = field(default=())


def retry_until_valid(count: int, attempt: Callable[[int, list[int]], Sequence[V | Rejected]], *,
                      max_attempts: int, what: str = "sample") -> list[Accepted[V] | GenerationError]:
    """Run `attempt` over the pending items until each is accepted or has used `max_attempts` (see the module doc)."""
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
    reasons: dict[int, list[str]] = {i: [] for i in range(count)}
    results: dict[int, Accepted[V] | GenerationError] = {}
    pending = list(range(count))
    for number in range(max_attempts):
        if not pending:
            break
        outcomes = list(attempt(number, list(pending)))
        if len(outcomes) != len(pending):
            raise RuntimeError(f"an attempt returned {len(outcomes)} outcomes for {len(pending)} pending {what}s")
        still: list[int] = []
        for index, outcome in zip(pending, outcomes, strict=True):
            if isinstance(outcome, Rejected):
                reasons[index].append(f"attempt {number + 1}: {outcome.reason}")
                still.append(index)
            else:
                results[index] = Accepted(outcome, number + 1, tuple(reasons[index]))
        pending = still
    for index in pending:
        results[index] = GenerationError(f"no valid {what} after {max_attempts} attempt(s): "
                                         + "; ".join(reasons[index]), attempts=max_attempts)
    return [results[i] for i in range(count)]
