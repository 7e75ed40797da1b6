"""HALO's network (Theodorou et al., Nat. Commun. 2023): a coarse causal transformer over visit vectors and a
fine head of masked ("autoregressive") linear layers that predicts each code of the next visit from the
history and the codes before it in vocabulary order.

Written after reading the reference (btheodorou/HALO_Inpatient, model.py); the transformer blocks are
PyTorch's own `nn.TransformerEncoderLayer` (pre-norm, GELU) instead of the reference's hand-written GPT-2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from biosynth.tabular._ehr.halo_settings import HaloConfig


class MaskedLinear(nn.Linear):
    """A linear layer over `features` positions whose units each belong to a position (`copies_in` / `copies_out`
    units per position) and see only the units of positions up to their own: with one copy each, output i sees
    inputs 0..i (a lower-triangular mask)."""

    mask: torch.Tensor

    def __init__(self, features: int, copies_in: int = 1, copies_out: int = 1) -> None:
        super().__init__(features * copies_in, features * copies_out)
        position_in = torch.arange(features).repeat_interleave(copies_in)
        position_out = torch.arange(features).repeat_interleave(copies_out)
        self.register_buffer("mask", (position_in[None, :] <= position_out[:, None]).float(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


@dataclass
class HistoryCache:
    """What `HaloNetwork.history_next` keeps between rows: each coarse layer's keys and values so far
    (batch, heads, rows, head width) and the days since the first visit (for `elapsed_edges`)."""

    keys: list[torch.Tensor] = field(default_factory=list)
    values: list[torch.Tensor] = field(default_factory=list)
    days: torch.Tensor | None = None

    @property
    def rows(self) -> int:
        """Rows seen so far."""
        return int(self.keys[0].shape[2]) if self.keys else 0


class HaloNetwork(nn.Module):
    """`gap_days`: the representative days of the vocabulary's time-gap bins (positions 0.. of each row); needed
    only with `config.elapsed_edges`."""

    gap_days: torch.Tensor
    elapsed_boundaries: torch.Tensor

    def __init__(self, config: HaloConfig, vocab_size: int, gap_days: Sequence[int] = ()) -> None:
        super().__init__()
        if config.max_visits is None:
            raise ValueError("HaloNetwork needs a resolved max_visits")
        self.elapsed: nn.Embedding | None = None
        if config.elapsed_edges:
            if not gap_days:
                raise ValueError("elapsed_edges needs time-gap bins in the vocabulary (visits with known gaps)")
            self.elapsed = nn.Embedding(len(config.elapsed_edges) + 1, config.n_embd)
            self.register_buffer("gap_days", torch.tensor(list(gap_days), dtype=torch.float32), persistent=False)
            self.register_buffer("elapsed_boundaries", torch.tensor(list(config.elapsed_edges), dtype=torch.float32),
                                 persistent=False)
        self.n_embd = config.n_embd
        self.vocab_size = vocab_size
        self.embed = nn.Linear(vocab_size, config.n_embd, bias=False)
        self.positions = nn.Embedding(config.max_visits + 2, config.n_embd)
        layer = nn.TransformerEncoderLayer(
            config.n_embd, config.n_head, dim_feedforward=4 * config.n_embd, dropout=config.dropout,
            activation="gelu", batch_first=True, norm_first=True)
        self.coarse = nn.TransformerEncoder(layer, config.n_layer, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.n_embd)
        width = config.n_embd + vocab_size
        m, last = config.fine_width_multiplier, config.fine_hidden_layers - 1
        self.fine = nn.ModuleList(MaskedLinear(width, 1 if i == 0 else m, 1 if i == last else m)
                                  for i in range(config.fine_hidden_layers))

    def history(self, visits: torch.Tensor) -> torch.Tensor:
        """(batch, rows, vocab) multi-hot rows -> (batch, rows, n_embd); row t summarises rows 0..t."""
        rows = visits.shape[1]
        positions = torch.arange(rows, device=visits.device)
        hidden = self.embed(visits) + self.positions(positions)
        if self.elapsed is not None:
            hidden = hidden + self.elapsed(self.elapsed_bins(visits))
        causal = nn.Transformer.generate_square_subsequent_mask(rows, device=visits.device)
        return self.norm(self.coarse(hidden, mask=causal, is_causal=True))

    def history_next(self, row: torch.Tensor, cache: HistoryCache) -> torch.Tensor:
        """(batch, vocab) the next multi-hot row -> (batch, n_embd): what `history` gives for it after the rows
        already passed through `cache`, computed for this row alone from the earlier rows' cached keys and
        values (sampling: one row per step instead of the whole history again). Eval mode only (no dropout).

        Written by hand because `nn.TransformerEncoderLayer` keeps no key-value cache: the same weights, the same
        pre-norm order (x + attention(norm1 x), then x + feed-forward(norm2 x)); equal to `history` up to float
        rounding (tested)."""
        if self.training:
            raise RuntimeError("history_next samples: call eval() first (dropout is not applied here)")
        position = torch.full((1,), cache.rows, dtype=torch.long, device=row.device)
        hidden = (self.embed(row) + self.positions(position)).unsqueeze(1)  # (batch, 1, n_embd)
        if self.elapsed is not None:
            step = row[:, : self.gap_days.numel()] @ self.gap_days
            cache.days = step if cache.days is None else cache.days + step
            hidden = hidden + self.elapsed(torch.bucketize(cache.days, self.elapsed_boundaries)).unsqueeze(1)
        for i, layer in enumerate(self.coarse.layers):
            attention = layer.self_attn
            heads, width = attention.num_heads, self.n_embd // attention.num_heads
            q, k, v = F.linear(layer.norm1(hidden), attention.in_proj_weight, attention.in_proj_bias).chunk(3, dim=-1)
            q, k, v = (t.view(t.shape[0], 1, heads, width).transpose(1, 2) for t in (q, k, v))
            if i < len(cache.keys):
                cache.keys[i] = torch.cat((cache.keys[i], k), dim=2)
                cache.values[i] = torch.cat((cache.values[i], v), dim=2)
            else:
                cache.keys.append(k)
                cache.values.append(v)
            # the new row's query against every row so far: the causal mask's last row
            mixed = F.scaled_dot_product_attention(q, cache.keys[i], cache.values[i])
            hidden = hidden + attention.out_proj(mixed.transpose(1, 2).reshape(hidden.shape))
            hidden = hidden + layer.linear2(layer.activation(layer.linear1(layer.norm2(hidden))))
        return self.norm(hidden[:, 0])

    def elapsed_bins(self, visits: torch.Tensor) -> torch.Tensor:
        """(batch, rows, vocab) -> (batch, rows): each row's bin of days since the first visit, summed from the
        representative days of the time-gap bins (the first positions of each row) up to and including it."""
        days = (visits[..., : self.gap_days.numel()] @ self.gap_days).cumsum(dim=1)
        return torch.bucketize(days, self.elapsed_boundaries)

    def code_logits(self, history: torch.Tensor, next_visit: torch.Tensor) -> torch.Tensor:
        """Logits of each position of `next_visit`, each from `history` and the positions before it."""
        x = torch.cat((history, next_visit), dim=-1)
        for i, layer in enumerate(self.fine):
            x = layer(x)
            if i < len(self.fine) - 1:
                x = torch.relu(x)
        # output n_embd-1+k sees the history and positions 0..k-1 of the visit: the logit of position k
        return x[..., self.n_embd - 1 : -1]

    def forward(self, visits: torch.Tensor) -> torch.Tensor:
        """Logits for rows 1.. given rows 0..: shape (batch, rows - 1, vocab)."""
        hidden = self.history(visits)
        return self.code_logits(hidden[:, :-1], visits[:, 1:])
