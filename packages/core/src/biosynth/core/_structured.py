"""Structured outputs: JSON answers validated with pydantic, retried with the error in the prompt.

API (stable; used by several generators)::

    from biosynth.core import StructuredPrompt, StructuredResult, generate_structured, json_instruction

    prompts = [StructuredPrompt(messages=(system, user), seed=request.seed) for ...]
    outcomes = generate_structured(model, prompts, MyModel, decoding=DecodingConfig(...), max_attempts=3,
                                   check=my_check)
    for outcome in outcomes:
        if isinstance(outcome, GenerationError): ...        # every attempt failed; reason lists why
        else: outcome.value                                 # a validated MyModel instance

- `model`: any core `LanguageModel`. All pending prompts of an attempt go out in ONE batched
  `generate` call. When the backend `supports_json_schema` (llamacpp, openai, fake) and
  `constrain=True`, the request carries `MyModel.model_json_schema()` so decoding is constrained;
  otherwise the text is parsed as it comes. Put the schema in the prompt yourself
  (`json_instruction(MyModel)` gives a ready sentence) — a constraint is not an instruction.
- `answer_of(text, finish_reason)`, when given, first cuts the JSON's part out of the output (e.g.
  the `<answer>` block after chain-of-thought reasoning; raise ValueError when it is missing). It
  turns the schema constraint off, since the output is not JSON from its first token.
- Parsing tolerates code fences and text around the JSON: the first `{...}` that decodes is taken
  (fenced blocks first); only when there is none, the first `[...]` (for a RootModel of a list).
  When the output was cut at `max_new_tokens` and the outermost object does not decode, the reason
  says so (raise max_new_tokens) instead of validating an object nested inside the cut one.
- Validation: `MyModel.model_validate(data)`, then the optional `check(value)` — the global one given
  to `generate_structured` and the prompt's own `StructuredPrompt.check`, in that order. A check
  returns None (accept), a string (reject, with that reason), or a new instance of the model (accept
  it as repaired; `StructuredResult.repaired` is then True).
- A rejected answer is retried, up to `max_attempts` in all: the conversation gets the model's answer
  as an assistant turn and a user turn naming the errors (`retry_turns`, wording `RETRY_TEMPLATE`),
  and a new seed derived from the prompt's seed (`derive_seed(seed, "attempt", n)`; the first attempt
  uses the seed itself). After the last attempt the prompt becomes a core `GenerationError` listing the reasons of every attempt.
- Each `StructuredResult` carries what provenance needs: the model reference, token counts (final
  attempt, and totals), attempts, the final messages and their rendering (`render_messages`),
  the seed the backend got, the raw text and the finish reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from biosynth.core._decoding import DecodingConfig
from biosynth.core._errors import GenerationError
from biosynth.core._llm import ChatMessage, ChatRequest, Completion, LanguageModel
from biosynth.core._provenance import ModelRef
from biosynth.core._retry import Rejected, retry_until_valid
from biosynth.core._seeding import attempt_seed

T = TypeVar("T", bound=BaseModel)

RETRY_TEMPLATE = ("Your answer could not be used: {errors}. Answer again with only one JSON object that fits the "
                  "schema, with no text before or after it.")

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class StructuredPrompt(Generic[T]):
    """One prompt to answer in JSON: its chat messages, the sample's seed, an optional own check."""

    messages: tuple[ChatMessage, ...]
    seed: int
    check: Callable[[T], T | str | None] | None = None


@dataclass(frozen=True)
class StructuredResult(Generic[T]):
    """A validated answer and the facts provenance needs."""

    value: T
    model: ModelRef
    attempts: int
    messages: tuple[ChatMessage, ...]
    llm_seed: int
    raw_text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    total_prompt_tokens: int
    total_completion_tokens: int
    constrained: bool
    repaired: bool = False

    @property
    def rendered(self) -> str:
        """The final prompt (with any retry turns) as recorded in provenance."""
        return render_messages(self.messages)


def json_instruction(schema: type[BaseModel]) -> str:
    """A sentence asking for one JSON object that fits `schema`, with the schema inlined."""
    return ("Answer with only one JSON object, no other text, that fits this JSON schema:\n"
            + json.dumps(schema.model_json_schema(), separators=(",", ":")))


def render_messages(messages: Sequence[ChatMessage]) -> str:
    """The prompt as recorded in provenance: `[role]` headers and contents, blank-line separated."""
    return "\n\n".join(f"[{m.role}]\n{m.content}" for m in messages)


def retry_turns(answer: str, errors: str, template: str = RETRY_TEMPLATE,
                **fields: object) -> tuple[ChatMessage, ChatMessage]:
    """The two turns a retry appends: the rejected answer, and a user turn naming its errors.

    `template` is formatted with `errors` and any other `fields` (e.g. how many rows are still missing).
    """
    return (ChatMessage(role="assistant", content=answer),
            ChatMessage(role="user", content=template.format(errors=errors, **fields)))


def extract_json(text: str, *, objects_first: bool = True) -> Any:
    """The first JSON object (or array) in `text`, tolerating code fences and surrounding prose.

    Objects are preferred to arrays ("[1]"-style citations in prose are not the answer); with
    `objects_first=False` the first value of either kind, by position, is taken (for answers that may
    be a bare list of objects). Raises ValueError when none decodes.
    """
    return _locate_json(text, objects_first)[0]


def _locate_json(text: str, objects_first: bool = True) -> tuple[Any, bool]:
    """(the first JSON value, whether it lies inside an earlier object that does not decode).

    Hand-written (a few lines over `json.JSONDecoder.raw_decode`): the JSON libraries parse a whole
    document, not the first value inside chatty model output. The second item tells a cut answer
    (`{"a": {"b": 1}, "c": "unfinish`) from a value of its own: the decoder of the broken outer
    object got past the end of the value found.
    """
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    passes = (("{",), ("[",)) if objects_first else (("{", "["),)
    for openers in passes:
        for candidate in candidates:
            broken: list[tuple[int, int]] = []  # (start, where decoding failed) of objects that did not decode
            for start, char in enumerate(candidate):
                if char not in openers:
                    continue
                try:
                    value, end = decoder.raw_decode(candidate, start)
                except json.JSONDecodeError as err:
                    if char == "{":
                        broken.append((start, err.pos))
                    continue
                return value, any(s < start and failed_at >= end for s, failed_at in broken)
    snippet = text.strip()[:80]
    raise ValueError(f"no JSON object found in the output ({snippet!r})" if snippet else "empty output")


def generate_structured(
    model: LanguageModel,
    prompts: Sequence[StructuredPrompt[T]],
    schema: type[T],
    *,
    decoding: DecodingConfig,
    max_attempts: int = 3,
    check: Callable[[T], T | str | None] | None = None,
    constrain: bool = True,
    answer_of: Callable[[str, str], str] | None = None,
) -> list[StructuredResult[T] | GenerationError]:
    """Answer every prompt with a validated `schema` instance, or a GenerationError (see the module doc)."""
    constrained = constrain and answer_of is None and model.supports_json_schema
    json_schema = schema.model_json_schema() if constrained else None
    conversations = [tuple(p.messages) for p in prompts]
    totals = [[0, 0] for _ in prompts]

    def attempt(number: int, pending: list[int]) -> list[StructuredResult[T] | Rejected]:
        seeds = {i: attempt_seed(prompts[i].seed, number) for i in pending}
        requests = [ChatRequest(messages=conversations[i], decoding=decoding, seed=seeds[i], json_schema=json_schema)
                    for i in pending]
        out: list[StructuredResult[T] | Rejected] = []
        for i, completion in zip(pending, model.generate(requests), strict=True):
            totals[i][0] += completion.prompt_tokens
            totals[i][1] += completion.completion_tokens
            value, repaired, problem = _validate(completion, schema, decoding, (check, prompts[i].check), answer_of)
            if value is None:
                assert problem is not None
                conversations[i] = conversations[i] + retry_turns(completion.text, problem)
                out.append(Rejected(problem))
                continue
            out.append(StructuredResult(
                value=value, model=completion.model, attempts=number + 1, messages=conversations[i],
                llm_seed=seeds[i], raw_text=completion.text, finish_reason=completion.finish_reason,
                prompt_tokens=completion.prompt_tokens, completion_tokens=completion.completion_tokens,
                total_prompt_tokens=totals[i][0], total_completion_tokens=totals[i][1],
                constrained=constrained, repaired=repaired))
        return out

    outcomes = retry_until_valid(len(prompts), attempt, max_attempts=max_attempts, what=f"{schema.__name__} JSON")
    return [o if isinstance(o, GenerationError) else o.value for o in outcomes]


def _validate(completion: Completion, schema: type[T], decoding: DecodingConfig,
              checks: tuple[Callable[[T], T | str | None] | None, ...],
              answer_of: Callable[[str, str], str] | None) -> tuple[T | None, bool, str | None]:
    """(value, repaired, None) for a usable answer, else (None, False, why)."""
    cut = completion.finish_reason == "length"
    try:
        text = completion.text if answer_of is None else answer_of(completion.text, completion.finish_reason)
        data, inside_broken = _locate_json(text)
    except ValueError as err:
        return None, False, f"{err} (cut at max_new_tokens={decoding.max_new_tokens}; raise it)" if cut else str(err)
    if cut and inside_broken:
        return None, False, (f"the output was cut at max_new_tokens={decoding.max_new_tokens} before its JSON object "
                             "was complete; raise max_new_tokens")
    try:
        value = schema.model_validate(data)
    except ValidationError as err:
        return None, False, _describe(err)
    repaired = False
    for check in checks:
        if check is None:
            continue
        verdict = check(value)
        if isinstance(verdict, str):
            return None, False, verdict
        if verdict is not None:
            if not isinstance(verdict, schema):
                raise TypeError(f"a structured-output check returned {type(verdict).__name__}, "
                                f"expected None, a reason string or a {schema.__name__}")
            value, repaired = verdict, True
    return value, repaired, None


def _describe(err: ValidationError) -> str:
    """Pydantic's errors as one line: `field.path: message` items."""
    parts = []
    for item in err.errors(include_url=False):
        where = ".".join(str(x) for x in item["loc"]) or "(root)"
        parts.append(f"{where}: {item['msg']}")
    return "invalid JSON fields: " + "; ".join(parts)
