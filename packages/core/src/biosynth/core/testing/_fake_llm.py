"""FakeLanguageModel: a deterministic LanguageModel double for tests.

Registered as backend `fake` but marked `test_double`: it is refused unless BIOSYNTH_ALLOW_TEST_DOUBLES=1
(the project's test suites set it in the root conftest.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from biosynth.core._hashing import canonical_json, sha256_text
from biosynth.core._llm import BaseLanguageModel, ChatRequest, Completion, PositionLogprobs, TokenLogprob
from biosynth.core._provenance import ModelRef
from biosynth.core._secrets import secret_from_env
from biosynth.core._seeding import rng

_WORDS = ("patient", "presents", "with", "chest", "pain", "denies", "fever", "history", "of", "hypertension",
          "exam", "unremarkable", "plan", "follow", "up", "in", "two", "weeks", "labs", "normal")


class FakeLanguageModel(BaseLanguageModel):
    test_double: ClassVar[bool] = True  # refused outside tests (see biosynth.core._components)

    """Answers deterministically from the prompt and seed, with no model at all.

    - `responses`: a list cycled through in call order, or a function of the ChatRequest; by
      default a pseudo-sentence drawn from a fixed vocabulary with the request's seed.
    - with a `json_schema`, and no responses given, it returns the smallest instance of the schema.
    - `remote=True` makes the policy treat it as a remote service; `api_key_env` reads a key from
      that variable like a real remote backend would (only the name reaches provenance).
    - `logprobs`: a function of the ChatRequest giving the per-token log-probabilities a request with
      `top_logprobs` gets back (see `position_logprobs`); without it the fake gives none, like a backend
      that cannot.
    Every request is kept in `requests` for assertions.
    """

    def __init__(self, responses: Sequence[str] | Callable[[ChatRequest], str] | None = None, *,
                 name: str = "fake-llm", remote: bool = False, api_key_env: str | None = None,
                 logprobs: Callable[[ChatRequest], Sequence[PositionLogprobs]] | None = None) -> None:
        self._responses = responses
        self._logprobs = logprobs
        self._name = name
        self._remote = remote
        self._api_key_env = api_key_env
        self._api_key = secret_from_env(api_key_env) if api_key_env else None
        self.requests: list[ChatRequest] = []

    @classmethod
    def is_remote(cls, params: dict[str, Any]) -> bool:
        return bool(params.get("remote", False))

    @property
    def model_ref(self) -> ModelRef:
        return ModelRef(name=self._name, backend="fake", revision="1", remote=self._remote,
                        api_key_env=self._api_key_env, endpoint="https://fake.invalid/v1" if self._remote else None)

    @property
    def supports_json_schema(self) -> bool:
        return True

    @property
    def supports_logprobs(self) -> bool:
        return self._logprobs is not None

    def _generate(self, requests: list[ChatRequest]) -> list[Completion]:
        out = []
        for request in requests:
            text = self._answer(request)
            tokens = text.split()
            limit = request.decoding.max_new_tokens
            finish = "length" if len(tokens) > limit and request.json_schema is None else "stop"
            if finish == "length":
                text = " ".join(tokens[:limit])
            prompt_tokens = sum(len(m.content.split()) for m in request.messages)
            logprobs = None
            if request.top_logprobs is not None and self._logprobs is not None:
                logprobs = tuple(self._logprobs(request))
            out.append(Completion(text=text, prompt_tokens=prompt_tokens, completion_tokens=min(len(tokens), limit),
                                  finish_reason=finish, model=self.model_ref, logprobs=logprobs))
            self.requests.append(request)
        return out

    def _answer(self, request: ChatRequest) -> str:
        if callable(self._responses):
            return self._responses(request)
        if self._responses is not None:
            return self._responses[len(self.requests) % len(self._responses)]
        if request.json_schema is not None:
            return canonical_json(instance_for_schema(request.json_schema, request.effective_seed))
        prompt_hash = int(sha256_text(canonical_json([m.model_dump() for m in request.messages]))[:8], 16)
        generator = rng(request.effective_seed ^ prompt_hash)
        n = int(generator.integers(5, 15))
        return " ".join(_WORDS[int(i)] for i in generator.integers(0, len(_WORDS), size=n)) + "."


def position_logprobs(probabilities: Mapping[str, float], token: str | None = None) -> PositionLogprobs:
    """One generated position whose most likely tokens have the given probabilities (best first in `top`); the
    generated token is `token`, by default the most likely one."""
    top = tuple(TokenLogprob(token=t, logprob=math.log(p))
                for t, p in sorted(probabilities.items(), key=lambda kv: -kv[1]) if p > 0)
    chosen = token if token is not None else top[0].token
    return PositionLogprobs(token=chosen, logprob=math.log(probabilities[chosen]), top=top)


def instance_for_schema(schema: dict[str, Any], seed: int = 0) -> Any:
    """A small value that satisfies a (simple) JSON schema: objects, arrays, enums, scalars, bounds."""
    generator = rng(seed)
    defs = schema.get("$defs", {})

    def build(node: dict[str, Any]) -> Any:
        if "$ref" in node:
            return build(defs[node["$ref"].rsplit("/", 1)[-1]])
        if "const" in node:
            return node["const"]
        if "enum" in node:
            return node["enum"][int(generator.integers(0, len(node["enum"])))]
        for key in ("anyOf", "oneOf", "allOf"):
            if key in node:
                return build(node[key][0])
        kind = node.get("type", "object")
        if isinstance(kind, list):
            kind = next(k for k in kind if k != "null")
        if kind == "object":
            props = node.get("properties", {})
            return {k: build(v) for k, v in props.items()}
        if kind == "array":
            return [build(node.get("items", {"type": "string"})) for _ in range(max(1, node.get("minItems", 1)))]
        if kind == "integer":
            low = node.get("minimum", 0)
            high = node.get("maximum", low + 100)
            return int(generator.integers(low, high + 1))
        if kind == "number":
            low = node.get("minimum", 0.0)
            high = node.get("maximum", low + 100.0)
            return round(float(generator.uniform(low, high)), 3)
        if kind == "boolean":
            return bool(generator.integers(0, 2))
        if kind == "null":
            return None
        return "x" * max(1, node.get("minLength", 1))

    return build(schema)
