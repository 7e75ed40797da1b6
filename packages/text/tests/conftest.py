"""Shared fixtures: a tiny seeded Llama-style causal LM with an in-memory tokenizer, saved to a folder."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest
import torch

# One CPU thread: the tiny models gain nothing from more, and OpenMP threads stall badly on a
# machine whose cores are shared with other jobs.
torch.set_num_threads(1)

SENTENCES = [
    "the patient presents with chest pain and shortness of breath",
    "she denies fever chills or cough",
    "history of hypertension diabetes and chronic kidney disease",
    "blood pressure heart rate and oxygen saturation were normal",
    "the chest x ray shows no acute findings",
    "plan follow up in two weeks with labs",
    "discharge summary progress note radiology report patient portal message",
    "write one sentence about asthma describe a rash patient note",
    "he was admitted to cardiology for heart failure and treated with diuretics",
    "a 54 year old female with copd exacerbation improved on steroids",
]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} </s> {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
SPECIAL = ["<pad>", "<unk>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>"]


def build_tiny_model(folder: Path, *, seed: int = 0, context: int = 256) -> Path:
    """A Llama-style causal LM (about 8k parameters) and a word-level tokenizer, saved with safetensors."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.train_from_iterator(SENTENCES, trainers.WordLevelTrainer(special_tokens=SPECIAL))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>",
                                        bos_token="<s>", eos_token="</s>",
                                        additional_special_tokens=SPECIAL[4:])
    tokenizer.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=context,
        initializer_range=0.3, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n# tiny test model\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def embedded_language_model() -> object:
    """The embedded SmolLM2-135M-Instruct, loaded once per session (loading dominates its tests' time)."""
    from biosynth.text import TransformersLanguageModel

    return TransformersLanguageModel(num_threads=1)
