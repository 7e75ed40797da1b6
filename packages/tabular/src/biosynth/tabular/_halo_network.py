"""HALO's network (Theodorou et al., Nat. Commun. 2023): a coarse causal transformer over visit vectors and a
fine head of masked ("autoregressive") linear layers that predicts each code of the next visit from the
history and the codes before it in vocabulary order.

Written after reading the reference (btheodorou/HALO_Inpatient, model.py); the transformer blocks are
PyTorch's own `nn.TransformerEncoderLayer` (pre-norm, GELU) instead of the reference's hand-written GPT-2.
"""

from __future__ import annotations

from typing import Self

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn


class HaloConfig(BaseModel):
    """Network size. `max_visits` is the longest history the model can hold (not counting start and static rows)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n_embd: int = Field(64, ge=2)
    n_layer: int = Field(2, ge=1)
    n_head: int = Field(4, ge=1)
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="the reference uses none")
    fine_hidden_layers: int = Field(2, ge=1, description="masked linear layers in the fine head (reference: 2)")
    max_visits: int | None = Field(None, ge=1, description="None: the longest history in the training data")
    end_logit_offset: float = Field(0.0, allow_inf_nan=False,
                                    description="added to the end-of-record logit when sampling (negative: longer "
                                                "histories); set by `Halo.calibrate_length`, 0 leaves the network as "
                                                "trained")

    @model_validator(mode="after")
    def _heads(self) -> Self:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        return self


class MaskedLinear(nn.Linear):
    """A square linear layer whose output i sees only inputs 0..i (lower-triangular weight mask)."""

    mask: torch.Tensor

    def __init__(self, features: int) -> None:
        super().__init__(features, features)
        self.register_buffer("mask", torch.tril(torch.ones(features, features)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class HaloNetwork(nn.Module):
    def __init__(self, config: HaloConfig, vocab_size: int) -> None:
        super().__init__()
        if config.max_visits is None:
            raise ValueError("HaloNetwork needs a resolved max_visits")
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
        self.fine = nn.ModuleList(MaskedLinear(width) for _ in range(config.fine_hidden_layers))

    def history(self, visits: torch.Tensor) -> torch.Tensor:
        """(batch, rows, vocab) multi-hot rows -> (batch, rows, n_embd); row t summarises rows 0..t."""
        rows = visits.shape[1]
        positions = torch.arange(rows, device=visits.device)
        hidden = self.embed(visits) + self.positions(positions)
        causal = nn.Transformer.generate_square_subsequent_mask(rows, device=visits.device)
        return self.norm(self.coarse(hidden, mask=causal, is_causal=True))

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
