"""A batched, seeded decoding loop over a causal LM's forward passes (left padding + KV cache).

`transformers.GenerationMixin.generate` is not used because it draws every row's tokens from one
shared random stream, so a sample would change with whatever else is in its batch; resumable runs
need each request's output to depend only on its own seed. This loop keeps one `torch.Generator`
per row and applies each row's logits processors (transformers' own) to that row's unpadded tokens
only, so padding never leaks into e.g. the repetition penalty.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import torch
from transformers import (
    DynamicCache,
    DynamicLayer,
    LogitsProcessorList,
    MinNewTokensLengthLogitsProcessor,
    PreTrainedModel,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from biosynth.core import DecodingConfig

Decode = Callable[[list[int]], str]


@dataclass
class RowResult:
    """One finished row: its text (stop sequence removed), tokens sampled, why it ended, and the token ids kept
    (the end-of-sequence token left out)."""

    text: str
    completion_tokens: int
    finish_reason: Literal["stop", "length"]
    token_ids: tuple[int, ...] = ()
    logprobs: list[tuple[int, float, list[tuple[int, float]]]] | None = None  # (token, logprob, top (token, logprob))


@dataclass
class _Row:
    prompt_ids: list[int]
    decoding: DecodingConfig
    seed: int
    eos_ids: frozenset[int]
    top_logprobs: int | None = None
    processors: LogitsProcessorList = field(init=False)
    generator: torch.Generator | None = field(init=False)
    generated: list[int] = field(default_factory=list)
    sampled: int = 0
    text: str | None = None
    finish: Literal["stop", "length"] | None = None
    logprobs: list[tuple[int, float, list[tuple[int, float]]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.processors = _processors(self.decoding, len(self.prompt_ids), self.eos_ids)
        self.generator = None if self.decoding.greedy else torch.Generator(device="cpu").manual_seed(self.seed)

    def choose(self, logits: torch.Tensor) -> int:
        """Pick the next token from this row's (1, vocab) float32 CPU logits."""
        if self.generator is None and not self.processors and not self.top_logprobs:  # plain greedy: no history
            return int(torch.argmax(logits, dim=-1).item())
        ids = cast(torch.LongTensor, torch.tensor([self.prompt_ids + self.generated], dtype=torch.long))
        scores = self.processors(ids, logits.clone() if self.top_logprobs else logits)
        if self.generator is None:
            token = int(torch.argmax(scores, dim=-1).item())
        else:
            probs = torch.softmax(scores, dim=-1)
            token = int(torch.multinomial(probs, 1, generator=self.generator).item())
        if self.top_logprobs:
            self._record(logits, token)
        return token

    def _record(self, logits: torch.Tensor, token: int) -> None:
        """The model's own log-probabilities at this position (before temperature, top-k/top-p or penalties, as
        OpenAI-compatible servers report them): the chosen token's and the `top_logprobs` best."""
        logprobs = torch.log_softmax(logits[0].double(), dim=-1)
        values, indices = torch.topk(logprobs, min(int(self.top_logprobs or 0), logprobs.shape[-1]))
        top = [(int(i), min(float(v), 0.0)) for v, i in zip(values.tolist(), indices.tolist(), strict=True)]
        self.logprobs.append((token, min(float(logprobs[token]), 0.0), top))

    def accept(self, token: int, decode: Decode) -> None:
        self.sampled += 1
        if token in self.eos_ids:
            self.finish = "stop"
            return
        self.generated.append(token)
        if self.decoding.stop:
            text = decode(self.generated)
            cut = min((i for s in self.decoding.stop if (i := text.find(s)) >= 0), default=-1)
            if cut >= 0:
                self.text, self.finish = text[:cut], "stop"
                return
        if self.sampled >= self.decoding.max_new_tokens:
            self.finish = "length"

    def result(self, decode: Decode) -> RowResult:
        assert self.finish is not None
        text = self.text if self.text is not None else decode(self.generated)
        return RowResult(text=text, completion_tokens=self.sampled, finish_reason=self.finish,
                         token_ids=tuple(self.generated), logprobs=self.logprobs if self.top_logprobs else None)


def _processors(decoding: DecodingConfig, prompt_length: int, eos_ids: frozenset[int]) -> LogitsProcessorList:
    processors = LogitsProcessorList()
    if decoding.repetition_penalty != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(float(decoding.repetition_penalty)))
    if decoding.min_new_tokens > 0 and eos_ids:
        processors.append(MinNewTokensLengthLogitsProcessor(prompt_length, decoding.min_new_tokens, sorted(eos_ids)))
    if not decoding.greedy:
        if decoding.temperature != 1.0:
            processors.append(TemperatureLogitsWarper(float(decoding.temperature)))
        if decoding.top_k is not None:
            processors.append(TopKLogitsWarper(decoding.top_k))
        if decoding.top_p < 1.0:
            processors.append(TopPLogitsWarper(float(decoding.top_p)))
    return processors


class _PreallocatedLayer(DynamicLayer):
    """A `DynamicLayer` whose keys and values live in one buffer sized for the whole generation.

    `DynamicLayer.update` concatenates, copying the whole cache at every new token (30 layers x keys and values of
    every row); this layer writes the new positions in place and returns a view of the filled part, so attention
    sees tensors of the same shape and values as with `DynamicLayer`.
    """

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self._capacity = capacity
        self._length = 0
        self._key_buffer: torch.Tensor | None = None
        self._value_buffer: torch.Tensor | None = None

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.device = key_states.device
        batch, heads, _, _ = key_states.shape
        self._key_buffer = key_states.new_empty((batch, heads, self._capacity, key_states.shape[-1]))
        self._value_buffer = value_states.new_empty((batch, value_states.shape[1], self._capacity,
                                                     value_states.shape[-1]))
        self._length = 0
        self._expose()
        self.is_initialized = True

    def _expose(self) -> None:
        assert self._key_buffer is not None and self._value_buffer is not None
        self.keys = self._key_buffer[:, :, : self._length]
        self.values = self._value_buffer[:, :, : self._length]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any,
               **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        assert self._key_buffer is not None and self._value_buffer is not None
        end = self._length + key_states.shape[-2]
        if end > self._capacity:  # more than planned (not expected): grow by doubling, one copy
            self._capacity = max(end, 2 * self._capacity)
            keys, values = self._key_buffer, self._value_buffer
            self._key_buffer = keys.new_empty((*keys.shape[:2], self._capacity, keys.shape[-1]))
            self._value_buffer = values.new_empty((*values.shape[:2], self._capacity, values.shape[-1]))
            self._key_buffer[:, :, : self._length] = keys[:, :, : self._length]
            self._value_buffer[:, :, : self._length] = values[:, :, : self._length]
        self._key_buffer[:, :, self._length : end] = key_states
        self._value_buffer[:, :, self._length : end] = value_states
        self._length = end
        self._expose()
        return self.keys, self.values

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.is_initialized:
            assert self._key_buffer is not None and self._value_buffer is not None
            self._key_buffer, self._value_buffer = self._key_buffer[indices], self._value_buffer[indices]
            self._expose()


def _cache(model: PreTrainedModel, capacity: int) -> DynamicCache:
    """The model's `DynamicCache`, its plain full-attention layers replaced by preallocated ones."""
    cache = DynamicCache(config=model.config)
    cache.layers = [_PreallocatedLayer(capacity) if type(layer) is DynamicLayer else layer for layer in cache.layers]
    return cache


def _cache_keyword(model: PreTrainedModel) -> str:
    """transformers 5.x renames the forward argument `past_key_values` to `cache`, model by model."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def decode_batch(model: PreTrainedModel, prompts: Sequence[list[int]], decodings: Sequence[DecodingConfig],
                 seeds: Sequence[int], *, pad_id: int, eos_ids: frozenset[int], decode: Decode,
                 top_logprobs: Sequence[int | None] | None = None) -> list[RowResult]:
    """Generate for a batch of tokenized prompts: one prefill over the left-padded batch, then one
    forward pass per new token with the KV cache; finished rows leave the batch (and the cache).
    A row with `top_logprobs` also keeps, per generated token, its log-probability and the best alternatives."""
    tops = list(top_logprobs) if top_logprobs is not None else [None] * len(prompts)
    rows = [_Row(list(p), d, s, eos_ids, k) for p, d, s, k in zip(prompts, decodings, seeds, tops, strict=True)]
    device = model.device
    width = max(len(r.prompt_ids) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, width - len(row.prompt_ids):] = torch.tensor(row.prompt_ids, dtype=torch.long)
        mask[i, width - len(row.prompt_ids):] = 1
    # Positions count real tokens only, so a left-padded row sees the same positions as alone.
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = _cache(model, width + max(d.max_new_tokens for d in decodings))
    cache_kw: dict[str, Any] = {_cache_keyword(model): cache}
    active = list(range(len(rows)))
    with torch.inference_mode():
        out = model(input_ids=input_ids.to(device), attention_mask=mask.to(device),
                    position_ids=positions.to(device), use_cache=True, logits_to_keep=1, **cache_kw)
        next_position = positions[:, -1] + 1
        while True:
            logits = out.logits[:, -1, :].float().cpu()
            for j, i in enumerate(active):
                rows[i].accept(rows[i].choose(logits[j : j + 1]), decode)
            keep = [j for j, i in enumerate(active) if rows[i].finish is None]
            if not keep:
                break
            if len(keep) < len(active):
                index = torch.tensor(keep, dtype=torch.long)
                cache.batch_select_indices(index.to(device))
                mask, next_position = mask[index], next_position[index]
                active = [active[j] for j in keep]
            step_ids = torch.tensor([[rows[i].generated[-1]] for i in active], dtype=torch.long)
            mask = torch.cat([mask, torch.ones((len(active), 1), dtype=torch.long)], dim=1)
            out = model(input_ids=step_ids.to(device), attention_mask=mask.to(device),
                        position_ids=next_position[:, None].to(device), use_cache=True, **cache_kw)
            next_position = next_position + 1
    return [row.result(decode) for row in rows]
