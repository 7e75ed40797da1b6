"""Examples to token sequences: a prompt part (no loss) and a completion part (trained), per mode.

The prompt part is tokenized exactly as the `transformers` backend tokenizes a request at generation time
(plain text with special tokens for a model without a chat template; the chat template without extra
special tokens otherwise), so that the fine-tuned model is prompted the way it was trained.
"""

from __future__ import annotations

from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

from biosynth.core import ConfigError, InputDataError
from biosynth.text._finetune.config import FinetuneConfig, FinetuneMode
from biosynth.text._finetune.data import Corpus, Example

SEPARATOR = "\n\n"  # what the backend puts after the messages of a model without a chat template


@dataclass(frozen=True)
class Sequence:
    """Token ids; the loss covers the tokens from `prompt_length` on."""

    input_ids: tuple[int, ...]
    prompt_length: int


@dataclass(frozen=True)
class Encoded:
    sequences: tuple[Sequence, ...]
    truncated: int  # examples cut at max_length (task-adaptive and instruction)
    split: int  # documents longer than max_length split into several sequences (domain-adaptive)

    @property
    def trained_tokens(self) -> int:
        """Tokens predicted in one epoch (the first token of a sequence has no context to predict it from)."""
        return sum(len(s.input_ids) - max(s.prompt_length, 1) for s in self.sequences)


def encode_corpus(corpus: Corpus, tokenizer: PreTrainedTokenizerBase, config: FinetuneConfig,
                  max_length: int) -> Encoded:
    eos = tokenizer.eos_token_id
    if not isinstance(eos, int):
        raise ConfigError("the base model's tokenizer has no end-of-sequence token, so the fine-tuned model could "
                          "not learn where a text ends; use a base model whose tokenizer defines eos_token")
    if config.mode is FinetuneMode.INSTRUCTION and not tokenizer.chat_template:
        raise ConfigError("instruction tuning renders prompt/response pairs with the tokenizer's chat template, and "
                          "the base model has none; give one with chat_template (--chat-template FILE) or use a chat "
                          "model")
    sequences: list[Sequence] = []
    truncated = split = 0
    for example in corpus.examples:
        prompt, completion = _tokens(example, tokenizer, config)
        if not completion or completion[-1] != eos:
            completion = [*completion, eos]
        if len(prompt) >= max_length:
            raise InputDataError(f"training data {example.where}: the prompt alone has {len(prompt)} tokens, at least "
                                 f"max_length ({max_length}); shorten it or raise max_length")
        room = max_length - len(prompt)
        if len(completion) > room and config.mode is FinetuneMode.DOMAIN_ADAPTIVE:
            # A long document becomes consecutive windows, so that no domain text is lost; each window
            # starts with the last token of the previous one as context, so every token is trained once.
            sequences.append(Sequence(tuple(prompt + completion[:room]), len(prompt)))
            sequences.extend(Sequence(tuple(completion[i - 1 : i - 1 + max_length]), 1)
                             for i in range(room, len(completion), max_length - 1))
            split += 1
            continue
        if len(completion) > room:
            completion = completion[:room]
            truncated += 1
        sequences.append(Sequence(tuple(prompt + completion), len(prompt)))
    return Encoded(tuple(sequences), truncated=truncated, split=split)


def _tokens(example: Example, tokenizer: PreTrainedTokenizerBase, config: FinetuneConfig) -> tuple[list[int], list[int]]:
    if config.mode is FinetuneMode.INSTRUCTION:
        messages = ([{"role": "system", "content": config.system_prompt}] if config.system_prompt else [])
        messages.append({"role": "user", "content": example.prompt})
        prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        full = tokenizer.apply_chat_template([*messages, {"role": "assistant", "content": example.response}],
                                             tokenize=False)
        assert isinstance(prompt, str) and isinstance(full, str)
        if not full.startswith(prompt):
            raise ConfigError("the chat template renders a conversation's prompt differently once a response follows, "
                              "so the response tokens cannot be told apart; give a chat_template whose assistant "
                              "turn extends the generation prompt")
        return _ids(tokenizer, prompt, special=False), _ids(tokenizer, full[len(prompt):], special=False)
    prompt = ""
    if config.mode is FinetuneMode.TASK_ADAPTIVE:
        assert example.label is not None
        prompt = config.label_prefix.replace("{label}", example.label) + SEPARATOR
    return _ids(tokenizer, prompt, special=True), _ids(tokenizer, example.text, special=False)


def _ids(tokenizer: PreTrainedTokenizerBase, text: str, *, special: bool) -> list[int]:
    ids = tokenizer(text, add_special_tokens=special)["input_ids"]
    return [int(i) for i in ids]


def prompt_format(config: FinetuneConfig, labels: dict[str, int] | None, *, keeps_template: bool) -> str:
    """How to prompt the fine-tuned model (for the model card)."""
    if config.mode is FinetuneMode.TASK_ADAPTIVE:
        example = config.label_prefix.replace("{label}", next(iter(labels or {"LABEL": 0})))
        return (f"Each training document followed its label prefix `{config.label_prefix}` and a blank line. To sample "
                f"a document of a label, send the prefix as the only user message (e.g. `{example}`): the "
                "`transformers` backend renders a model without a chat template as the message and a blank line, "
                f"the training prompt exactly. Labels: {', '.join(labels or {})}.")
    if config.mode is FinetuneMode.INSTRUCTION:
        system = f" after the system message `{config.system_prompt}`" if config.system_prompt else ""
        return ("Send an instruction as a user message" + system + "; it is rendered with the tokenizer's chat "
                "template, as in training (the loss covered the responses only).")
    template = "kept" if keeps_template else "removed, so prompts are plain text"
    return f"A domain-adapted causal language model: it continues text. The tokenizer's chat template (if any) was {template}."
