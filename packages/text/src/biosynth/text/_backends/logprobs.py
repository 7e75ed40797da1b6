"""Token log-probabilities as OpenAI-compatible chat completions give them (llama.cpp in process and its server,
OpenAI, vLLM), turned into core's `PositionLogprobs`."""

from __future__ import annotations

from typing import Any

from biosynth.core import PositionLogprobs, TokenLogprob


def chat_logprobs(logprobs: Any) -> tuple[PositionLogprobs, ...]:
    """An OpenAI chat completion's `choices[0].logprobs` (a dict, or the openai client's object) as core's type.

    llama.cpp adds the sampled token to its position's top list when it is not among the best; the list is
    sorted again here, best first, and log-probabilities above 0 by rounding are clipped to 0.
    """
    def get(item: Any, key: str) -> Any:
        return item.get(key) if isinstance(item, dict) else getattr(item, key, None)

    positions = []
    for entry in (get(logprobs, "content") or ()) if logprobs is not None else ():
        top = sorted(((str(get(t, "token")), min(float(get(t, "logprob")), 0.0)) for t in get(entry, "top_logprobs") or ()),
                     key=lambda pair: -pair[1])
        positions.append(PositionLogprobs(token=str(get(entry, "token")), logprob=min(float(get(entry, "logprob")), 0.0),
                                          top=tuple(TokenLogprob(token=t, logprob=v) for t, v in top)))
    return tuple(positions)

