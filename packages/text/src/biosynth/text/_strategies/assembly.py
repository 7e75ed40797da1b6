"""Prompting strategies shared by the text generators: one params block, one prompt assembly.

A generator's Params subclass `StrategyParams` to accept

    few_shot: {pool: examples.jsonl, k: 3}          # few-shot (see fewshot.py)
    chain_of_thought: true                          # or {keep: drop} (see reasoning.py)
    retrieval: {knowledge_base: kb/, k: 3, method: hybrid}   # retrieval-augmented (see retrieval.py)

and build a `PromptStrategies` from them. Per sample, `augment(seed, query, label)` returns the blocks
to wrap around the generator's own (instruction) user prompt — retrieved passages and examples before
it, the chain-of-thought instruction after it — with the example ids, passage ids and strategies for
provenance. Each block has its own versioned template; `template_id` / `template` extend the
generator's base template with the blocks in use (e.g. `clinical-note/v1+few-shot/v1`), so the
recorded template hash changes whenever the prompt's wording does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import field_validator

from biosynth.core import GeneratorParams, PromptTemplate, Scalar, StepContext, Strategy
from biosynth.text._strategies import fewshot as _fewshot
from biosynth.text._strategies import reasoning as _reasoning
from biosynth.text._strategies import retrieval as _retrieval
from biosynth.text._strategies.fewshot import FewShotConfig, FewShotPool
from biosynth.text._strategies.reasoning import ChainOfThoughtConfig
from biosynth.text._strategies.retrieval import KnowledgeIndex, RetrievalConfig


class StrategyParams(GeneratorParams):
    """The prompting-strategy parameters a generator accepts (all off by default: zero-shot)."""

    few_shot: FewShotConfig | None = None
    chain_of_thought: ChainOfThoughtConfig | None = None
    retrieval: RetrievalConfig | None = None

    @field_validator("chain_of_thought", mode="before")
    @classmethod
    def _cot_flag(cls, value: Any) -> Any:
        if value is True:
            return ChainOfThoughtConfig()
        if value is False:
            return None
        return value


@dataclass(frozen=True)
class Augmentation:
    """What the strategies add to one sample's prompt, and what provenance records of them."""

    prefix: str
    suffix: str
    few_shot_ids: tuple[str, ...]
    retrieved_ids: tuple[str, ...]
    strategies: tuple[Strategy, ...]

    def apply(self, user: str) -> str:
        return "\n\n".join(part for part in (self.prefix, user, self.suffix) if part)


class PromptStrategies:
    """Runtime side of `StrategyParams`: loads the pool and index once, then augments prompts."""

    def __init__(self, params: StrategyParams) -> None:
        self.params = params
        self._pool: FewShotPool | None = None
        self._index: KnowledgeIndex | None = None

    def setup(self, ctx: StepContext) -> None:
        """Load the few-shot pool and build the retrieval index (once per step)."""
        if self.params.few_shot is not None and self._pool is None:
            self._pool = FewShotPool(self.params.few_shot)
        if self.params.retrieval is not None and self._index is None:
            self._index = KnowledgeIndex(self.params.retrieval)

    @property
    def chain_of_thought(self) -> ChainOfThoughtConfig | None:
        return self.params.chain_of_thought

    def blocks(self) -> list[PromptTemplate]:
        """The template of every block in use, in prompt order."""
        found: list[PromptTemplate] = []
        if self.params.retrieval is not None:
            found.append(_retrieval.PROMPT)
        if self.params.few_shot is not None:
            found.append(_fewshot.PROMPT)
        if self.params.chain_of_thought is not None:
            found.append(_reasoning.PROMPT)
        return found

    def template_id(self, base: str) -> str:
        return "+".join([base, *(block.id for block in self.blocks())])

    def template(self, base: str) -> str:
        return "\n\n".join([base, *(block.text for block in self.blocks())])

    def augment(self, seed: int, query: str, label: Scalar = None) -> Augmentation:
        """The blocks for one sample: passages for `query`, examples drawn with `seed` (of `label`)."""
        prefix: list[str] = []
        few_shot_ids: tuple[str, ...] = ()
        retrieved_ids: tuple[str, ...] = ()
        strategies: list[Strategy] = []
        if self._index is not None:
            passages = self._index.search(query)
            if passages:
                prefix.append(_retrieval.PROMPT.render({"passages": _retrieval.format_passages(passages)}))
                retrieved_ids = tuple(p.id for p in passages)
                strategies.append(Strategy.RETRIEVAL_AUGMENTED)
        if self._pool is not None:
            examples = self._pool.draw(seed, label)
            prefix.append(_fewshot.PROMPT.render({"examples": _fewshot.format_examples(examples)}))
            few_shot_ids = tuple(e.id for e in examples)
        strategies.insert(0, Strategy.FEW_SHOT if few_shot_ids else Strategy.ZERO_SHOT)
        strategies.insert(1, Strategy.INSTRUCTION)
        suffix = ""
        if self.params.chain_of_thought is not None:
            suffix = _reasoning.TEMPLATE
            strategies.append(Strategy.CHAIN_OF_THOUGHT)
        return Augmentation(prefix="\n\n".join(prefix), suffix=suffix, few_shot_ids=few_shot_ids,
                            retrieved_ids=retrieved_ids, strategies=tuple(strategies))

    def answer(self, text: str, finish_reason: str) -> tuple[str, str | None]:
        """(sample text, reasoning or None); ValueError when a chain-of-thought answer block is missing."""
        if self.params.chain_of_thought is None:
            return text.strip(), None
        return _reasoning.split_answer(text, finish_reason)

    def reasoning_facts(self, reasoning: str | None, *, redact: bool) -> dict[str, str]:
        if reasoning is None or self.params.chain_of_thought is None:
            return {}
        return _reasoning.reasoning_facts(reasoning, self.params.chain_of_thought, redact=redact)
