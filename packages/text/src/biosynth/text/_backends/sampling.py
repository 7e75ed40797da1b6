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
    """One finished row: its text (stop sequence removed), tokens sampled and why it ended."""

    text: str
    completion_tokens: int
    finish_reason: Literal["stop", "length"]


@dataclass
class _Row:
    prompt_ids: list[int]
    decoding: DecodingConfig
    seed: int
    eos_ids: frozenset[int]
    processors: LogitsProcessorList = field(init=False)
    generator: torch.Generator | None = field(init=False)
    generated: list[int] = field(default_factory=list)
    sampled: int = 0
    text: str | None = None
    finish: Literal["stop", "length"] | None = None

    def __post_init__(self) -> None:
        self.processors = _processors(self.decoding, len(self.prompt_ids), self.eos_ids)
        self.generator = None if self.decoding.greedy else torch.Generator(device="cpu").manual_seed(self.seed)

    def choose(self, logits: torch.Tensor) -> int:
        """Pick the next token from this row's (1, vocab) float32 CPU logits."""
        ids = cast(torch.LongTensor, torch.tensor([self.prompt_ids + self.generated], dtype=torch.long))
        scores = self.processors(ids, logits)
        if self.generator is None:
            return int(torch.argmax(scores, dim=-1).item())
        probs = torch.softmax(scores, dim=-1)
        return int(torch.multinomial(probs, 1, generator=self.generator).item())

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
        return RowResult(text=text, completion_tokens=self.sampled, finish_reason=self.finish)


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


def _cache_keyword(model: PreTrainedModel) -> str:
    """transformers 5.x renames the forward argument `past_key_values` to `cache`, model by model."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def decode_batch(model: PreTrainedModel, prompts: Sequence[list[int]], decodings: Sequence[DecodingConfig],
                 seeds: Sequence[int], *, pad_id: int, eos_ids: frozenset[int], decode: Decode) -> list[RowResult]:
    """Generate for a batch of tokenized prompts: one prefill over the left-padded batch, then one
    forward pass per new token with the KV cache; finished rows leave the batch (and the cache)."""
    rows = [_Row(list(p), d, s, eos_ids) for p, d, s in zip(prompts, decodings, seeds, strict=True)]
    device = model.device
    width = max(len(r.prompt_ids) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, width - len(row.prompt_ids):] = torch.tensor(row.prompt_ids, dtype=torch.long)
        mask[i, width - len(row.prompt_ids):] = 1
    # Positions count real tokens only, so a left-padded row sees the same positions as alone.
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache(config=model.config)
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
