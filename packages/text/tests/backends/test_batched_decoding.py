"""The `transformers` backend's batched decoding: its preallocated KV cache and its token ids against transformers'
own batched `generate` (left padding), on the tiny seeded model the fixtures build."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import DynamicLayer

from biosynth.core import ChatMessage, ChatRequest, DecodingConfig
from biosynth.text import TransformersLanguageModel
from biosynth.text._backends.sampling import _PreallocatedLayer

PROMPTS = [
    "the patient presents with chest pain",
    "she denies fever",
    "history of hypertension diabetes and chronic kidney disease with heart failure and copd",
    "plan follow up",
    "the chest x ray shows no acute findings",
]


def test_preallocated_layer_returns_what_concatenation_returns() -> None:
    """Prefill, steps, rows leaving the batch and a write past the planned capacity: the same keys and values
    as transformers' concatenating DynamicLayer, bit for bit."""
    generator = torch.Generator().manual_seed(0)
    ours, reference = _PreallocatedLayer(capacity=8), DynamicLayer()
    assert ours.get_seq_length() == 0
    batch = 4
    for step, length in enumerate([5, 1, 1, 1, 1, 1, 3]):  # 13 positions in all: the last write grows the buffer
        keys = torch.randn(batch, 2, length, 3, generator=generator)
        values = torch.randn(batch, 2, length, 3, generator=generator)
        got, want = ours.update(keys, values), reference.update(keys, values)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
        assert ours.get_seq_length() == reference.get_seq_length()
        if step == 2:
            keep = torch.tensor([0, 2, 3])
            ours.batch_select_indices(keep)
            reference.batch_select_indices(keep)
            batch = 3
    assert ours.get_seq_length() == 13


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path) -> TransformersLanguageModel:
    return TransformersLanguageModel(model=str(tiny_model_dir), batch_size=8)


def test_batched_greedy_token_ids_equal_transformers_batched_generate(tiny: TransformersLanguageModel) -> None:
    """Prompts of different lengths in one left-padded batch, greedy. (Rows leaving the batch early are covered by
    the layer test above and test_transformers' rows-finishing-early test.)"""
    decoding = DecodingConfig(temperature=0.0, max_new_tokens=16)
    requests = [ChatRequest(messages=(ChatMessage(role="user", content=p),), decoding=decoding) for p in PROMPTS]
    completions = tiny.generate(requests)
    tokenizer = tiny.tokenizer
    tokenizer.padding_side = "left"
    batch = tokenizer.pad({"input_ids": [tiny.encode(r) for r in requests]}, return_tensors="pt")
    with torch.inference_mode():
        out = tiny.model.generate(**batch, do_sample=False, max_new_tokens=16, eos_token_id=sorted(tiny._eos_ids),
                                  pad_token_id=tiny._pad_id)
    expected = []
    for row in out[:, batch["input_ids"].shape[1]:].tolist():
        end = next((i for i, token in enumerate(row) if token in tiny._eos_ids), len(row))
        expected.append(tuple(row[:end]))
    assert tiny.last_token_ids == expected
    assert [c.text for c in completions] == [tiny._decode(list(ids)) for ids in expected]
    assert len(set(expected)) == len(PROMPTS)  # the prompts do lead to different outputs


def test_greedy_rows_asking_for_logprobs_still_get_them(tiny: TransformersLanguageModel) -> None:
    """Plain greedy rows skip building their token history; a row that asks for top_logprobs must not."""
    decoding = DecodingConfig(temperature=0.0, max_new_tokens=5)
    request = ChatRequest(messages=(ChatMessage(role="user", content=PROMPTS[0]),), decoding=decoding, top_logprobs=3)
    plain, with_logprobs = tiny.generate([request.model_copy(update={"top_logprobs": None}), request])
    assert plain.logprobs is None and plain.text == with_logprobs.text
    assert with_logprobs.logprobs is not None and len(with_logprobs.logprobs) == with_logprobs.completion_tokens
    for position in with_logprobs.logprobs:
        assert len(position.top) == 3 and position.logprob == max(t.logprob for t in position.top)
