"""A tiny random Llama GGUF for tests of GGUF paths (transformers, llama.cpp), written with the `gguf` package."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

WIDTH, FFN, KV = 16, 32, 8  # 1 block, 2 heads, 1 key-value head: about 10k parameters


def write_tiny_gguf(path: Path, *, name: str = "tiny-gguf-llama", context_length: int = 64,
                    merges: Sequence[str] = (), license: str | None = None,
                    adjust: Callable[[str, Any], Any] | None = None) -> Path:
    """A random-weight Llama GGUF (f32, seeded) with a byte-level GPT-2 vocabulary: `<|endoftext|>` (id 0, BOS and
    EOS), the 256 byte symbols, then one token per merge (`"Ġ t"` adds `"Ġt"`; llama.cpp needs at least one).
    `adjust(tensor_name, array)` may change a tensor before it is written. Needs `gguf`, numpy and transformers."""
    import gguf
    import numpy as np
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    spelling = bytes_to_unicode()
    tokens = ["<|endoftext|>", *(spelling[b] for b in range(256)), *(m.replace(" ", "") for m in merges)]
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name(name)
    if license is not None:
        writer.add_license(license)
    writer.add_context_length(context_length)
    writer.add_embedding_length(WIDTH)
    writer.add_block_count(1)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(2)
    writer.add_head_count_kv(1)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(8)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.CONTROL, *[gguf.TokenType.NORMAL] * (len(tokens) - 1)])
    if merges:
        writer.add_token_merges(list(merges))
    writer.add_token_scores([0.0] * len(tokens))  # no merges given: transformers derives none from the scores
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(0)
    shapes = {"token_embd.weight": (len(tokens), WIDTH), "output.weight": (len(tokens), WIDTH),
              "output_norm.weight": (WIDTH,), "blk.0.attn_norm.weight": (WIDTH,), "blk.0.ffn_norm.weight": (WIDTH,),
              "blk.0.attn_q.weight": (WIDTH, WIDTH), "blk.0.attn_k.weight": (KV, WIDTH),
              "blk.0.attn_v.weight": (KV, WIDTH), "blk.0.attn_output.weight": (WIDTH, WIDTH),
              "blk.0.ffn_gate.weight": (FFN, WIDTH), "blk.0.ffn_up.weight": (FFN, WIDTH),
              "blk.0.ffn_down.weight": (WIDTH, FFN)}
    rng = np.random.default_rng(0)
    for tensor_name, shape in shapes.items():
        norm = tensor_name.endswith("norm.weight")
        tensor = np.ones(shape, np.float32) if norm else rng.normal(0, 0.3, shape).astype(np.float32)
        writer.add_tensor(tensor_name, adjust(tensor_name, tensor) if adjust is not None else tensor)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
