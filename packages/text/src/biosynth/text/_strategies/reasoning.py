"""Chain-of-thought: the model reasons in a delimited block, then writes the answer in another.

Only the `<answer>` block becomes the sample. The reasoning never reaches the sample text: it is kept
in the record's `provenance.extra["reasoning"]` (`keep: provenance`, the default; only its sha256,
`extra["reasoning_sha256"]`, when the step's prompts are redacted because they hold real data), or
dropped (`keep: drop`). An output without an answer block is a failed attempt (retried).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

from biosynth.core import PromptTemplate, sha256_text

TEMPLATE_ID = "chain-of-thought/v1"
TEMPLATE = (
    "Work in two steps. First think step by step, inside <reasoning> and </reasoning>, about what the text "
    "must contain and how it fits the details above. Then write the final text inside <answer> and "
    "</answer>. Only the text inside <answer> is kept; it must not mention the reasoning."
)
PROMPT = PromptTemplate(id=TEMPLATE_ID, text=TEMPLATE)

_OPEN_ANSWER = re.compile(r"<\s*answer\s*>", re.IGNORECASE)
_CLOSE_ANSWER = re.compile(r"<\s*/\s*answer\s*>", re.IGNORECASE)
_REASONING = re.compile(r"<\s*reasoning\s*>(.*?)(?:<\s*/\s*reasoning\s*>|$)", re.IGNORECASE | re.DOTALL)
_MARKER = re.compile(r"<\s*/?\s*(?:reasoning|answer)\s*>", re.IGNORECASE)


class ChainOfThoughtConfig(BaseModel):
    """`chain_of_thought:` parameters (`true` means the defaults)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    keep: Literal["provenance", "drop"] = "provenance"


def split_answer(text: str, finish_reason: str = "stop") -> tuple[str, str]:
    """(answer, reasoning) of a chain-of-thought output; ValueError saying what is wrong otherwise.

    The last `<answer>` opens the answer; a missing `</answer>` is tolerated when the model stopped on
    its own (not when it was cut at max_new_tokens). Reasoning blocks inside the answer are removed.
    """
    opens = list(_OPEN_ANSWER.finditer(text))
    if not opens:
        cut = " (cut at max_new_tokens; raise it)" if finish_reason == "length" else ""
        raise ValueError(f"no <answer> block after the reasoning{cut}")
    start = opens[-1].end()
    close = _CLOSE_ANSWER.search(text, start)
    if close is None and finish_reason == "length":
        raise ValueError("the <answer> block was cut at max_new_tokens; raise it")
    answer = text[start: close.start() if close else len(text)]
    before = text[: opens[-1].start()]
    reasoning_parts = [m.group(1).strip() for m in _REASONING.finditer(before)]
    reasoning = "\n".join(p for p in reasoning_parts if p) or _MARKER.sub("", before).strip()
    answer = _MARKER.sub("", _REASONING.sub("", answer)).strip()
    if not answer:
        raise ValueError("the <answer> block is empty")
    return answer, reasoning


def reasoning_facts(reasoning: str, config: ChainOfThoughtConfig, *, redact: bool) -> dict[str, str]:
    """What provenance keeps of the reasoning (see the module doc)."""
    if config.keep == "drop":
        return {}
    if redact:
        return {"reasoning_sha256": sha256_text(reasoning)}
    return {"reasoning": reasoning}
