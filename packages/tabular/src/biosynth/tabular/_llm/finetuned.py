"""`FinetunedLM`: the GReaT idea done robustly — a causal LM trained on rows written as text in random
column order, sampled with constrained decoding so that every finished row parses and meets the metadata.

By default a small GPT-2 (2 layers, 64 wide) is trained from scratch with a tokenizer built for the
table; `base_model` names a local Hugging Face causal-LM folder to fine-tune instead (safetensors
only, never remote code).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from biosynth.core import (
    ConfigError,
    InputDataError,
    SampleFailure,
    derive_seed,
    describe_validation_error,
    seeded_torch,
)
from biosynth.tabular._conditions import Conditions
from biosynth.tabular._llm.constrained_decoding import RowGrammar, RowPlan, TokenIndex
from biosynth.tabular._llm.finetuned_tokens import RowTokenizer, check_roundtrip, hf_tokenizer, load_tokenizer, table_tokenizer
from biosynth.tabular._llm.row_text import IS, SEP, RowCodec
from biosynth.tabular._metadata import TableMetadata
from biosynth.tabular._synthesizer import SampleOutcome, Synthesizer

if TYPE_CHECKING:
    import pandas as pd
    import torch

KIND = "llm_finetuned"
MODEL_DIR = "model"
TOKENIZER_FILE = "tokenizer.json"
CODEC_FILE = "row_codec.json"
STATE_FILE = "finetuned.json"
BIAS_FILE = "value_bias.safetensors"


class FinetunedConfig(BaseModel):
    """The model and its training. Defaults: a 2-layer, 64-wide GPT-2 trained from scratch."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_model: Path | None = Field(None, description="local Hugging Face causal-LM folder to fine-tune")
    lora_rank: int | None = Field(None, ge=1, description="with base_model: train low-rank adapters of this rank on "
                                  "every linear layer (peft's LoRA) instead of every weight; they are merged into "
                                  "the weights after training, so the saved folder is a plain model")
    lora_alpha: float = Field(16.0, gt=0, description="LoRA's scale numerator (the update is alpha / rank x BA)")
    n_layer: int = Field(2, ge=1)
    n_embd: int = Field(64, ge=8)
    n_head: int = Field(4, ge=1)
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="residual and embedding dropout (attention: none)")
    epochs: int = Field(40, ge=1)
    batch_size: int = Field(16, ge=1)
    learning_rate: float = Field(1e-2, gt=0, description="AdamW peak rate (warm-up, then linear decay)")
    weight_decay: float = Field(0.01, ge=0)
    average_last: float = Field(0.1, ge=0.0, le=1.0, description="keep an exponential moving average of the "
                                "weights over about this share of the training steps and use it as the model "
                                "(0: the last step's weights)")
    max_steps: int | None = Field(None, ge=1)
    max_seconds: float | None = Field(None, gt=0)
    max_decimals: int = Field(6, ge=0, le=12, description="numbers with more decimals are rounded")
    value_bias: bool = Field(True, description="table tokenizer: learn an output bias for each column and token "
                             "position within its values, so that each column has its own digit distributions")
    canonical_digits: bool = Field(True, description="table tokenizer: sample digit runs only in the digit "
                                   "pairs the tokenizer writes (the tokenisation the model was trained on)")
    name_tokens: bool = Field(False, description="table tokenizer: one token for each column's `name is ` and "
                              "`, name is `, so that the text between two values is one token instead of three "
                              "(separator, name, ` is `): shorter rows, cheaper training and sampling steps")
    fixed_width: bool = Field(True, description="zero-pad each number's integer part to its column's width, so "
                              "that every digit token stands for the same magnitude in every row")
    first_columns: tuple[str, ...] = Field((), description="columns written first in every training row, in this "
                                           "order (the others as `column_order` and `last_columns` place them): "
                                           "later columns then find them at fixed positions, e.g. a label to learn "
                                           "every feature's dependence on")
    last_columns: tuple[str, ...] = Field((), description="columns written last in every training row, in this "
                                          "order: the model then learns each of them given all the others, e.g. "
                                          "a label's dependence on every feature, as a classifier would")
    column_order: Literal["random", "table"] = Field("random", description="the order of the other columns: "
                                                     "'random' draws a fresh one for each row and epoch, as GReaT "
                                                     "does (any column can be conditioned on); 'table' keeps the "
                                                     "table's order, so one chain-rule factorisation is learned")
    validation_share: float = Field(0.0, ge=0.0, lt=1.0, description="share of the rows held out of training "
                                    "to measure the model's loss on (0: none); the weights with the lowest "
                                    "validation loss are kept, and `patience` stops training early")
    validation_every: int = Field(100, ge=1, description="training steps between two validation losses")
    patience: int | None = Field(None, ge=1, description="stop after this many validation losses in a row that "
                                 "are no lower than the best so far (None: train to the end, keep the best)")
    seed: int = Field(0, ge=0)
    temperature: float = Field(1.0, ge=0.0, le=5.0, description="sampling temperature (0: greedy)")
    sample_batch_size: int = Field(128, ge=1)


class FinetunedLM(Synthesizer):
    """`FinetunedLM(FinetunedConfig(...)).fit(df)`, then `sample(n, conditions, seed=...)`, `save` / `load`."""

    kind = KIND
    format_version = 1

    def __init__(self, config: FinetunedConfig | None = None, **overrides: Any) -> None:
        try:
            self.config = FinetunedConfig.model_validate({**(config or FinetunedConfig()).model_dump(), **overrides})
        except ValidationError as err:
            raise ConfigError(describe_validation_error(err, what="llm_finetuned training configuration")) from None
        self.codec: RowCodec | None = None
        self.tokenizer: RowTokenizer | None = None
        self.model: Any = None
        self.losses: list[float] = []
        self.steps = 0
        # early stopping: rows held out, [step, loss] of each validation, the step whose weights were kept
        self.validation: dict[str, Any] = {}
        self._index: TokenIndex | None = None
        self._strings: list[str | None] = []
        # value_bias[slot] is added to the logits after the token at (column, j-th token of the value, counting
        # `" is "` as 0); slot = column index * bias_depth + j. None: no such bias (a base model, or turned off).
        self.value_bias: Any = None
        self.bias_depth = 0

    # fitting --------------------------------------------------------------------------------------------
    def _fit(self, data: pd.DataFrame, metadata: TableMetadata) -> None:
        import torch

        cfg = self.config
        codec = RowCodec.build(data, metadata, max_decimals=cfg.max_decimals, fixed_width=cfg.fixed_width)
        texts = _value_texts(codec, data)
        names = [c.name for c in codec.modelled]
        placed = [*cfg.first_columns, *cfg.last_columns]
        unknown = [c for c in placed if c not in names]
        if unknown or len(set(placed)) != len(placed):
            raise ConfigError(f"first_columns {list(cfg.first_columns)} and last_columns {list(cfg.last_columns)}: "
                              "each must be a modelled column of the table, once "
                              f"({'not modelled: ' + ', '.join(map(repr, unknown)) if unknown else 'repeated'}; "
                              f"modelled columns: {names})")
        if cfg.lora_rank is not None and cfg.base_model is None:
            raise ConfigError("lora_rank adapts a pretrained model: give base_model (a local Hugging Face "
                              "causal-LM folder) too")
        if cfg.base_model is not None and cfg.name_tokens:
            raise ConfigError("name_tokens adds tokens to the tokenizer built for the table; a base_model brings its "
                              "own tokenizer: leave name_tokens false with base_model")
        if cfg.base_model is not None:
            folder = Path(cfg.base_model)
            tokenizer = hf_tokenizer(folder)
        else:
            tokenizer = table_tokenizer(codec, name_tokens=cfg.name_tokens)
        check_roundtrip(tokenizer, codec.row_text(texts[0], names))
        with seeded_torch(cfg.seed):
            model = _load_base(Path(cfg.base_model)) if cfg.base_model is not None else \
                _new_gpt2(cfg, tokenizer, _max_row_tokens(codec) + 2)
            if cfg.lora_rank is not None:
                model = _with_lora(model, cfg.lora_rank, cfg.lora_alpha)
            self.codec, self.tokenizer, self.model = codec, tokenizer, model
            if cfg.value_bias and cfg.base_model is None:
                self.bias_depth = _max_value_tokens(codec) + 1
                self.value_bias = torch.nn.Parameter(
                    torch.zeros(len(codec.columns) * self.bias_depth, int(model.config.vocab_size)))
            fit_texts, held_texts = _hold_out(texts, cfg.validation_share, cfg.seed)
            self._train(fit_texts, names, held_texts)
        self._prepare()

    def _train(self, texts: list[dict[str, str]], names: list[str], held: list[dict[str, str]]) -> None:
        import torch

        assert self.tokenizer is not None
        cfg, tok, model = self.config, self.tokenizer, self.model
        limit = int(model.config.n_positions) if hasattr(model.config, "n_positions") else \
            int(getattr(model.config, "max_position_embeddings", 1 << 30))
        bias = self.value_bias
        groups: list[dict[str, Any]] = [{"params": [p for p in model.parameters() if p.requires_grad]}]
        if bias is not None:
            groups.append({"params": [bias], "weight_decay": 0.0})
        optimizer = torch.optim.AdamW(groups, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        steps_per_epoch = -(-len(texts) // cfg.batch_size)
        total = min(cfg.epochs * steps_per_epoch, cfg.max_steps or 1 << 62)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: min(1.0, (s + 1) / max(1, total // 20)) * max(0.05, 1 - s / max(1, total)))
        # Polyak averaging: the last steps of Adam still jitter the weights, and with them the probabilities
        # the model gives each category and digit; the average over the last ~10% of steps is the steadier
        # model, so its samples follow the table's distributions more closely.
        averaged = bias_mean = None
        decay = 1.0 - 1.0 / max(1.0, cfg.average_last * total)
        if cfg.average_last > 0:
            from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

            averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))
            bias_mean = bias.detach().clone() if bias is not None else None
        index = {c.name: i for i, c in enumerate(self.codec.columns)} if self.codec is not None else {}
        first, last = list(cfg.first_columns), list(cfg.last_columns)
        middle = [n for n in names if n not in first and n not in last]
        kept = set(middle)
        # names, separators and values recur in every row and epoch: each text is tokenised once
        pieces = functools.lru_cache(maxsize=1 << 16)(lambda text: tuple(tok.encode(text)))

        def encode(rows: list[dict[str, str]], rng: np.random.Generator) -> tuple[list[list[int]], list[list[int]]]:
            encoded: list[list[int]] = []
            slotted: list[list[int]] = []
            for row in rows:
                shuffled = middle if cfg.column_order == "table" else \
                    [names[i] for i in rng.permutation(len(names)) if names[i] in kept]
                order = [*first, *shuffled, *last]
                if bias is None:
                    ids = [tok.bos_id, *tok.encode(_row_text(row, order)), tok.eos_id]
                else:
                    ids, slots = self._encode_slotted(row, order, index, pieces)
                    slotted.append(slots)
                if len(ids) > limit:
                    raise InputDataError(f"a row takes {len(ids)} tokens, more than the model's context ({limit})")
                encoded.append(ids)
            return encoded, slotted

        # the held-out rows in one fixed order each (random orders: drawn once), so that losses compare
        check = _Validation(*encode(held, np.random.default_rng(derive_seed(cfg.seed, "validation"))), cfg.patience) \
            if held else None
        self.validation = {"rows": len(held), "every": cfg.validation_every, "losses": []} if held else {}
        started = time.monotonic()
        model.train()
        self.losses, self.steps = [], 0
        # in table order every epoch writes the same rows (and draws nothing from its generator): encode them once
        # (EOS as padding: transformers warns about pad tokens passed without an attention mask)
        fixed = _Padded(*encode(texts, np.random.default_rng(0)), tok.eos_id) if cfg.column_order == "table" else None
        for epoch in range(cfg.epochs):
            rng = np.random.default_rng(derive_seed(cfg.seed, "epoch", epoch))
            padded = fixed or _Padded(*encode(texts, rng), tok.eos_id)
            batches = rng.permutation(len(texts))
            total_loss = 0.0
            for start in range(0, len(texts), cfg.batch_size):
                chosen = batches[start : start + cfg.batch_size]
                inputs, labels, slots = padded.batch(chosen)
                # Right padding under a causal mask: real tokens never see the pads, whose labels are ignored,
                # so no attention mask is passed and the flash-attention kernel is used.
                if bias is None:
                    loss = model(input_ids=inputs, labels=labels).loss
                else:
                    logits = _with_bias(model(input_ids=inputs).logits, bias, slots)
                    loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                                                             labels[:, 1:].reshape(-1), ignore_index=-100)
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], 1.0)
                optimizer.step()
                scheduler.step()
                if averaged is not None:
                    averaged.update_parameters(model)
                    if bias_mean is not None:
                        bias_mean.lerp_(bias.detach(), 1.0 - decay)
                self.steps += 1
                total_loss += float(loss.detach()) * len(chosen)
                out_of_time = bool((cfg.max_steps and self.steps >= cfg.max_steps) or
                                   (cfg.max_seconds and time.monotonic() - started > cfg.max_seconds))
                stop = check is not None and self.steps % cfg.validation_every == 0 and \
                    self._validate(check, averaged, bias_mean)
                if out_of_time or stop:
                    self.losses.append(total_loss / max(1, min(len(texts), start + len(chosen))))
                    self._finish_training(averaged, bias_mean, check, stopped_early=stop and not out_of_time)
                    return
            self.losses.append(total_loss / len(texts))
        self._finish_training(averaged, bias_mean, check, stopped_early=False)

    def _validate(self, check: _Validation, averaged: Any, bias_mean: Any) -> bool:
        """The validation loss of the weights training would keep now (the average, if any); True to stop."""
        net = averaged.module if averaged is not None else self.model
        bias = bias_mean if bias_mean is not None else self.value_bias
        # pads after each row (causal: no real token sees them; their labels are ignored); EOS rather than the pad
        # token, which transformers warns about when no attention mask is passed
        assert self.tokenizer is not None
        loss = check.loss(net, bias, self.tokenizer.eos_id)
        self.validation["losses"].append([self.steps, loss])
        stop = check.record(loss, self.steps, net, bias)
        self.model.train()
        return stop

    def _finish_training(self, averaged: Any, bias_mean: Any, check: _Validation | None, *,
                         stopped_early: bool) -> None:
        if check is not None and (not self.validation["losses"] or self.validation["losses"][-1][0] != self.steps):
            self._validate(check, averaged, bias_mean)  # the last weights are a candidate too
        _use_average(self.model, averaged)
        if self.value_bias is not None:
            self.value_bias = (bias_mean if bias_mean is not None else self.value_bias).detach().clone()
        if check is not None and check.best is not None:
            self.model.load_state_dict(check.best)
            if check.best_bias is not None:
                self.value_bias = check.best_bias
            self.validation.update(best_step=check.best_step, best_loss=check.best_loss, stopped_early=stopped_early)
        if self.config.lora_rank is not None:  # the adapters into the weights: a plain model to sample and save
            self.model = self.model.merge_and_unload()
        self.model.eval()

    def _encode_slotted(self, row: dict[str, str], order: Sequence[str], index: dict[str, int],
                        encode: Callable[[str], Sequence[int]] | None = None) -> tuple[list[int], list[int]]:
        """A row's token ids, encoded piece by piece (separator, name, `" is "`, value; with `name_tokens` the
        first three as one `[, ]name is `: the table tokenizer never joins a value to what surrounds it) with
        `encode` (the tokenizer's, or a cache of it), and the value-bias slot of each position (-1: none; the
        slot of the last token before a value, `" is "` or a whole `, name is `, is the value's first)."""
        assert self.tokenizer is not None
        tok, depth = self.tokenizer, self.bias_depth
        encode = encode or tok.encode
        ids, slots = [tok.bos_id], [-1]
        sep, is_ = encode(SEP), encode(IS)
        for k, name in enumerate(order):
            piece = encode(f"{SEP if k else ''}{name}{IS}") if self.config.name_tokens else \
                [*(sep if k else []), *encode(name), *is_]
            value = encode(row[name])
            column = index[name] * depth
            ids += [*piece, *value]
            slots += [-1] * (len(piece) - 1)
            slots += [column + min(j, depth - 1) for j in range(len(value) + 1)]
        return [*ids, tok.eos_id], [*slots, -1]

    def _prepare(self) -> None:
        assert self.tokenizer is not None
        self._strings = self.tokenizer.strings()
        # The table tokenizer splits digit runs into pairs: sample only that tokenisation (see TokenIndex).
        self._index = TokenIndex(self._strings, self.tokenizer.eos_id,
                                 canonical_digits=self.config.base_model is None and self.config.canonical_digits)
        self.model.eval()

    # sampling -------------------------------------------------------------------------------------------
    def _sample(self, n: int, conditions: Conditions, seed: int) -> SampleOutcome:
        import pandas as pd

        rows: list[dict[str, Any]] = []
        failures: list[SampleFailure] = []
        for i, result in enumerate(self.sample_rows([derive_seed(seed, i) for i in range(n)], conditions)):
            if isinstance(result, str):
                failures.append(SampleFailure(index=i, reason=result))
            else:
                rows.append(result)
        frame = pd.DataFrame(rows, columns=list(self.metadata.names))
        return SampleOutcome(rows=frame, failures=tuple(failures), requested=n, attempts=n)

    def sample_rows(self, seeds: Sequence[int], conditions: Conditions | None = None, *,
                    ids: Sequence[int] | None = None) -> list[dict[str, Any] | str]:
        """One entry per seed: a row (column -> typed value) or why it failed (a dead end, or — never
        expected — a row the metadata check refuses). Row i depends on seeds[i], the conditions and the
        batch it is sampled in; id columns get `ids[i]` (default i)."""
        from biosynth.tabular._constraints import row_violations

        assert self.codec is not None
        conditions = conditions or Conditions()
        metadata = self.metadata
        plan = RowPlan.build(self.codec, conditions, metadata.constraints)
        out: list[dict[str, Any] | str] = []
        size = self.config.sample_batch_size
        for start in range(0, len(seeds), size):
            for result in self._sample_batch(plan, list(seeds[start : start + size])):
                i = len(out)
                if isinstance(result, str):
                    out.append(result)
                    continue
                row = {name: self.codec.text_value(name, text) for name, text in result.items()}
                for col in self.codec.columns:
                    if col.kind == "id":
                        row[col.name] = ids[i] if ids is not None else i
                row = {name: row[name] for name in metadata.names}
                problems = row_violations(row, metadata, index=i)
                unmet = conditions.unmet(row)
                out.append(f"sampled row breaks the metadata: {problems[0]}" if problems else
                           f"condition not met: {unmet[0]}" if unmet else row)
        return out

    @property
    def context_length(self) -> int:
        config = self.model.config
        return int(getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None) or 0)

    def _sample_batch(self, plan: RowPlan, seeds: list[int]) -> list[dict[str, str] | str]:
        import torch

        assert self.tokenizer is not None and self._index is not None
        tok, model, strings = self.tokenizer, self.model, self._strings
        fixed = sorted(plan.fixed)
        grammars: list[RowGrammar] = []
        prompts: list[list[int]] = []
        rngs: list[np.random.Generator] = []
        for s in seeds:
            order = [fixed[i] for i in np.random.default_rng(s).permutation(len(fixed))]
            grammar, prefix = RowGrammar.conditioned(plan, order)
            grammars.append(grammar)
            prompts.append([tok.bos_id, *tok.encode(prefix)])
            rngs.append(np.random.default_rng(derive_seed(s, "tokens")))
        batch, width, limit = len(seeds), max(len(p) for p in prompts), self.context_length
        if width >= limit:
            raise ConfigError(f"the conditions take {width} tokens, the model's whole context ({limit})")
        ids = torch.full((batch, width), tok.pad_id, dtype=torch.long)
        mask = torch.ones((batch, limit), dtype=torch.long)  # grows by slicing; left padding is masked
        for r, p in enumerate(prompts):
            ids[r, width - len(p):] = torch.tensor(p)
            mask[r, : width - len(p)] = 0
        outcome: list[dict[str, str] | str | None] = [None] * batch
        temperature = self.config.temperature
        padded = any(len(p) != width for p in prompts)  # without padding, no mask: the model's fast causal path

        def masks(length: int, position: torch.Tensor) -> dict[str, Any]:
            return {"attention_mask": mask[:, :length], "position_ids": position} if padded else {}

        with torch.inference_mode():
            position = (mask[:, :width].cumsum(-1) - 1).clamp(min=0)
            out = model(input_ids=ids, use_cache=True, **masks(width, position))
            length = width
            # the value-bias slot of each row's last token: (column, tokens of the value so far)
            depth, bias = self.bias_depth, self.value_bias
            slot = [self._prompt_slot(g) for g in grammars]
            while True:
                logits = out.logits[:, -1, :].float()
                if bias is not None:
                    logits = _with_bias(logits, bias, torch.tensor(slot))
                chosen = self._choose(logits, grammars, outcome, rngs, temperature)
                for r, token in enumerate(chosen):
                    if token < 0:
                        continue
                    if token == tok.eos_id:
                        grammars[r].finish()
                        outcome[r] = grammars[r].values()
                    else:
                        before = grammars[r].state
                        grammars[r].commit(strings[token] or "")
                        after = grammars[r].state
                        if bias is not None:
                            same = before[0] == "V" and before[1] == after[1] and slot[r] >= 0
                            slot[r] = -1 if after[0] != "V" else \
                                after[1] * depth + (min(slot[r] % depth + 1, depth - 1) if same else 0)
                if all(o is not None for o in outcome):
                    break
                if length >= limit:
                    for r, o in enumerate(outcome):
                        if o is None:
                            outcome[r] = f"the row did not end within the model's context of {limit} tokens"
                    break
                length += 1
                position = position[:, -1:] + 1
                # a finished row is fed EOS: its outputs are ignored, and a pad token without an attention mask
                # (the unpadded fast path) makes transformers warn about padding
                step_ids = torch.tensor([t if t >= 0 else tok.eos_id for t in chosen])[:, None]
                out = model(input_ids=step_ids, use_cache=True, **masks(length, position), **_cache_kwargs(model, out))
        return [o for o in outcome if o is not None]

    def _prompt_slot(self, grammar: RowGrammar) -> int:
        """The value-bias slot after a conditioned prompt (inside the last fixed value), else -1."""
        if self.value_bias is None or grammar.state[0] != "V":
            return -1
        assert self.tokenizer is not None
        _, column, partial = grammar.state
        return int(column * self.bias_depth + min(len(self.tokenizer.encode(partial)), self.bias_depth - 1))

    def _choose(self, logits: torch.Tensor, grammars: list[RowGrammar], outcome: list[Any],
                rngs: list[np.random.Generator], temperature: float) -> list[int]:
        """The next token of every unfinished row (-1 for finished ones), among its allowed tokens."""
        import torch

        assert self._index is not None
        chosen = [-1] * len(grammars)
        rows: list[int] = []
        cols: list[int] = []
        several: list[int] = []
        for r, grammar in enumerate(grammars):
            if outcome[r] is not None:
                continue
            allowed = self._index.allowed(grammar)
            if not allowed:
                outcome[r] = f"dead end: no token can continue the row after {_show_state(grammar)}"
            elif len(allowed) == 1:
                chosen[r] = allowed[0]
            else:
                several.append(r)
                rows.extend([r] * len(allowed))
                cols.extend(allowed)
        if several:
            masked = torch.full_like(logits, float("-inf"))
            masked[rows, cols] = logits[rows, cols]
            if temperature == 0.0:
                best = masked.argmax(-1).tolist()
                for r in several:
                    chosen[r] = int(best[r])
            else:
                cum = torch.softmax(masked[several] / temperature, dim=-1).cumsum(-1).double().numpy()
                for k, r in enumerate(several):
                    u = rngs[r].random() * cum[k, -1]
                    chosen[r] = int(min(np.searchsorted(cum[k], u, side="right"), cum.shape[1] - 1))
        return chosen

    # save / load -------------------------------------------------------------------------------------
    def _save(self, folder: Path) -> None:
        assert self.codec is not None and self.tokenizer is not None
        from transformers.utils import logging as hf_logging

        shown = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no "Writing model shards" bar in a step's log (fingerprints save too)
        try:
            self.model.save_pretrained(str(folder / MODEL_DIR), safe_serialization=True)
        finally:
            if shown:
                hf_logging.enable_progress_bar()
        self.tokenizer.tokenizer.save(str(folder / TOKENIZER_FILE))
        (folder / CODEC_FILE).write_text(self.codec.model_dump_json(indent=2) + "\n")
        state = {"config": self.config.model_dump(mode="json"), "tokenizer": self.tokenizer.specials(),
                 "losses": self.losses, "steps": self.steps, "bias_depth": self.bias_depth,
                 "validation": self.validation}
        if self.value_bias is not None:
            from safetensors.torch import save_file

            save_file({"value_bias": self.value_bias.contiguous()}, str(folder / BIAS_FILE))
        (folder / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")

    @classmethod
    def _load(cls, folder: Path, metadata: TableMetadata) -> Self:
        try:
            state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
            config = FinetunedConfig.model_validate(state["config"])
            codec = RowCodec.model_validate_json((folder / CODEC_FILE).read_bytes())
        except (OSError, KeyError, json.JSONDecodeError, ValidationError) as err:
            raise InputDataError(f"model folder {str(folder)!r}: {STATE_FILE} or {CODEC_FILE} is unreadable: "
                                 f"{err}") from None
        instance = cls(config)
        instance.codec = codec
        instance.tokenizer = load_tokenizer(folder / TOKENIZER_FILE, state["tokenizer"])
        instance.model = _load_base(folder / MODEL_DIR)
        instance.losses, instance.steps = list(state.get("losses", [])), int(state.get("steps", 0))
        instance.validation = dict(state.get("validation", {}))
        instance.bias_depth = int(state.get("bias_depth", 0))
        if instance.bias_depth:
            instance.value_bias = _load_bias(folder / BIAS_FILE, len(codec.columns) * instance.bias_depth,
                                             int(instance.model.config.vocab_size))
        instance._prepare()
        return instance

    def _marker_extra(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"steps": self.steps, "final_loss": self.losses[-1] if self.losses else None}
        if self.validation:
            extra.update(validation_rows=self.validation["rows"], best_step=self.validation.get("best_step"),
                         best_validation_loss=self.validation.get("best_loss"))
        return extra

    # facts ---------------------------------------------------------------------------------------------
    @property
    def model_name(self) -> str:
        return str(self.config.base_model) if self.config.base_model else \
            f"gpt2-{self.config.n_layer}x{self.config.n_embd}-table"


class _Padded:
    """Encoded rows right-padded into one array, so that a batch is a slice: ids (padded with `pad_id`),
    labels (-100 on the padding) and value-bias slots (-1 on the padding, or no slots at all)."""

    def __init__(self, encoded: list[list[int]], slotted: list[list[int]], pad_id: int) -> None:
        self.lengths = np.fromiter((len(e) for e in encoded), dtype=np.int64, count=len(encoded))
        width = int(self.lengths.max(initial=0))
        self.ids = np.full((len(encoded), width), pad_id, dtype=np.int64)
        self.slots = np.full((len(encoded), width), -1, dtype=np.int64) if slotted else None
        for r, seq in enumerate(encoded):
            self.ids[r, : len(seq)] = seq
            if self.slots is not None:
                self.slots[r, : len(seq)] = slotted[r]

    def batch(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        import torch

        lengths = self.lengths[rows]
        width = int(lengths.max())
        inputs = torch.from_numpy(self.ids[rows, :width])
        padding = torch.from_numpy(np.arange(width)[None, :] >= lengths[:, None])
        slots = torch.from_numpy(self.slots[rows, :width]) if self.slots is not None else None
        return inputs, inputs.masked_fill(padding, -100), slots


class _Validation:
    """Held-out rows, encoded once; their mean token loss under given weights, and the best weights so far."""

    def __init__(self, encoded: list[list[int]], slotted: list[list[int]], patience: int | None) -> None:
        self.encoded, self.slotted, self.patience = encoded, slotted, patience
        self.best: dict[str, Any] | None = None
        self.best_bias: Any = None
        self.best_loss = float("inf")
        self.best_step = 0
        self.worse = 0

    def loss(self, net: Any, bias: Any, pad_id: int, batch_size: int = 256) -> float:
        """Mean cross-entropy per predicted token (every token after BOS, EOS included), dropout off."""
        import torch

        net.eval()
        padded = _Padded(self.encoded, self.slotted, pad_id)
        total, count = 0.0, 0
        with torch.no_grad():
            for start in range(0, len(self.encoded), batch_size):
                inputs, labels, slots = padded.batch(np.arange(start, min(start + batch_size, len(self.encoded))))
                logits = net(input_ids=inputs).logits
                if bias is not None:
                    logits = _with_bias(logits, bias, slots)
                total += float(torch.nn.functional.cross_entropy(
                    logits[:, :-1].reshape(-1, logits.shape[-1]).float(), labels[:, 1:].reshape(-1),
                    ignore_index=-100, reduction="sum"))
                count += int((labels[:, 1:] != -100).sum())
        return total / count

    def record(self, loss: float, step: int, net: Any, bias: Any) -> bool:
        """Keep a copy of the weights if `loss` is the lowest yet; True when patience has run out."""
        if loss < self.best_loss:
            self.best_loss, self.best_step, self.worse = loss, step, 0
            self.best = {k: v.detach().clone() for k, v in net.state_dict().items()}
            self.best_bias = bias.detach().clone() if bias is not None else None
            return False
        self.worse += 1
        return self.patience is not None and self.worse >= self.patience


def _hold_out(texts: list[dict[str, str]], share: float, seed: int
              ) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The rows to train on and the rows held out for validation: a seeded random `share` (at least one)."""
    if share <= 0:
        return texts, []
    held = max(1, round(share * len(texts)))
    if held >= len(texts):
        raise ConfigError(f"validation_share {share} of {len(texts)} rows leaves no row to train on")
    order = np.random.default_rng(derive_seed(seed, "hold out")).permutation(len(texts))
    return [texts[i] for i in sorted(order[held:])], [texts[i] for i in sorted(order[:held])]


def _with_bias(logits: Any, bias: Any, slots: Any) -> Any:
    """`logits` (..., vocab) plus the value-bias row of each position's slot (nothing where the slot is -1)."""
    rows = bias[slots.clamp(min=0)]
    return logits + rows * (slots >= 0).unsqueeze(-1).to(rows.dtype)


def _load_bias(path: Path, rows: int, vocab: int) -> Any:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        bias = load_file(str(path))["value_bias"]
    except (OSError, KeyError, SafetensorError) as err:
        raise InputDataError(f"model file {str(path)!r} is unreadable: {err}") from None
    if tuple(bias.shape) != (rows, vocab):
        raise InputDataError(f"model file {str(path)!r} holds a value bias of shape {tuple(bias.shape)}, "
                             f"expected {(rows, vocab)}")
    return bias


def _max_value_tokens(codec: RowCodec) -> int:
    """Characters of the longest value text of any column: a bound on its tokens with the table tokenizer."""
    from biosynth.tabular._llm.row_text import MISSING, format_units

    longest = 1
    for col in codec.modelled:
        if col.kind == "category":
            longest = max(longest, *(len(t) for t in col.texts))
        else:
            assert col.low is not None and col.high is not None
            longest = max(longest, len(format_units(col.low, col.decimals, col.width)),
                          len(format_units(col.high, col.decimals, col.width)))
        if col.missing:
            longest = max(longest, len(MISSING))
    return longest


def _use_average(model: Any, averaged: Any) -> None:
    """Copy the averaged weights into the model (parameters only; buffers are not trained) and set eval mode."""
    import torch

    if averaged is not None:
        with torch.no_grad():
            for mine, mean in zip(model.parameters(), averaged.module.parameters(), strict=True):
                mine.copy_(mean)
    model.eval()


def _cache_kwargs(model: Any, out: Any) -> dict[str, Any]:
    """transformers >= 5.2x names the KV cache `cache` (was `past_key_values`)."""
    import inspect

    if "cache" in inspect.signature(model.forward).parameters and getattr(out, "cache", None) is not None:
        return {"cache": out.cache}
    return {"past_key_values": out.past_key_values}


def _show_state(grammar: RowGrammar) -> str:
    written = SEP.join(f"{k}{IS}{v}" for k, v in grammar.values().items())
    return f"{written!r} (state {grammar.state!r})"


def _row_text(values: dict[str, str], order: Sequence[str]) -> str:
    return SEP.join(f"{name}{IS}{values[name]}" for name in order)


def _value_texts(codec: RowCodec, data: pd.DataFrame) -> list[dict[str, str]]:
    names = [c.name for c in codec.modelled]
    columns = {name: data[name].tolist() for name in names}
    return [{name: codec.value_text(name, columns[name][i]) for name in names} for i in range(len(data))]


def _max_row_tokens(codec: RowCodec) -> int:
    """Characters of the longest row text: a bound on its tokens with the table tokenizer."""
    from biosynth.tabular._llm.row_text import MISSING, format_units

    total = 0
    for col in codec.modelled:
        if col.kind == "category":
            value = max(len(t) for t in col.texts)
        else:
            assert col.low is not None and col.high is not None
            value = max(len(format_units(col.low, col.decimals, col.width)),
                        len(format_units(col.high, col.decimals, col.width)),
                        len(format_units(-1, col.decimals, col.width)) if col.low < 0 else 0)
        if col.missing:
            value = max(value, len(MISSING))
        total += len(col.name) + len(IS) + value + len(SEP)
    return total


def _new_gpt2(cfg: FinetunedConfig, tokenizer: RowTokenizer, positions: int) -> Any:
    from transformers import GPT2Config, GPT2LMHeadModel

    # Attention dropout stays 0: with it PyTorch's CPU flash-attention kernel cannot run and a training step
    # materialises every attention matrix (measured ~5x slower on 31-column rows).
    if cfg.n_embd % cfg.n_head:
        raise ConfigError(f"n_embd ({cfg.n_embd}) must be a multiple of n_head ({cfg.n_head})")
    config = GPT2Config(vocab_size=tokenizer.vocab_size, n_positions=positions, n_embd=cfg.n_embd,
                        n_layer=cfg.n_layer, n_head=cfg.n_head, resid_pdrop=cfg.dropout, embd_pdrop=cfg.dropout,
                        attn_pdrop=0.0, activation_function="gelu_pytorch_tanh", bos_token_id=tokenizer.bos_id,
                        eos_token_id=tokenizer.eos_id, pad_token_id=tokenizer.pad_id)
    return GPT2LMHeadModel(config)


def _with_lora(model: Any, rank: int, alpha: float) -> Any:
    """`model` with LoRA adapters on every linear layer but the output layer (peft); only the adapters train."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise ConfigError("lora_rank needs peft: pip install 'biosynth-tabular[lora]'") from None
    # GPT-2's linear layers are Conv1D (weights stored transposed): peft must be told, or it warns and adapts
    transposed = getattr(model.config, "model_type", "") == "gpt2"
    return get_peft_model(model, LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules="all-linear",
                                            fan_in_fan_out=transposed, task_type="CAUSAL_LM"))


def _load_base(folder: Path) -> Any:
    """A causal LM from a local folder: safetensors weights only, no remote code, no hub access."""
    from transformers import AutoModelForCausalLM

    if not folder.is_dir():
        raise InputDataError(f"model folder {str(folder)!r} does not exist")
    if not any(folder.glob("*.safetensors")):
        raise InputDataError(f"model folder {str(folder)!r} holds no *.safetensors weights (pickled weights are "
                             "not loaded)")
    try:
        model = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False,
                                                     use_safetensors=True)
    except (OSError, ValueError) as err:
        raise InputDataError(f"cannot load a causal language model from {str(folder)!r}: {err}") from None
    model.eval()
    return model


