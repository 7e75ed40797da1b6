"""Shared seeded tables for the biosynth-eval tests."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def mixed_table(n: int, seed: int, *, shift: float = 0.0, missing: float = 0.08) -> pd.DataFrame:
    """Numerical, integer, categorical, boolean and datetime columns, correlated, with missing values."""
    g = np.random.default_rng(seed)
    age = g.normal(55 + shift * 10, 12, n)
    bmi = 0.3 * age + g.normal(10, 4, n)
    sbp = 90 + 0.6 * age + 0.8 * bmi + g.normal(0, 8, n)
    visits = g.poisson(3 + shift, n).astype(float)
    sex = g.choice(["F", "M"], n, p=[0.52 - shift * 0.2, 0.48 + shift * 0.2])
    stage = np.where(age + g.normal(0, 10, n) > 60, g.choice(["III", "IV"], n), g.choice(["I", "II"], n))
    smoker = g.random(n) < 0.25 + 0.2 * shift
    admitted = pd.Timestamp("2020-01-01") + pd.to_timedelta(g.integers(0, 3 * 365, n) + (age * 3).astype(int), unit="D")
    frame = pd.DataFrame({"age": age, "bmi": bmi, "sbp": sbp, "visits": visits, "sex": sex, "stage": stage,
                          "smoker": smoker, "admitted": admitted})
    for column in ("bmi", "sbp", "stage", "admitted", "sex"):
        holes = g.random(n) < missing
        frame.loc[holes, column] = None
    frame["stage"] = frame["stage"].astype(object)
    return frame


METADATA = {"columns": {"age": {"sdtype": "numerical"}, "bmi": {"sdtype": "numerical"},
                        "sbp": {"sdtype": "numerical"}, "visits": {"sdtype": "numerical"},
                        "sex": {"sdtype": "categorical"}, "stage": {"sdtype": "categorical"},
                        "smoker": {"sdtype": "boolean"}, "admitted": {"sdtype": "datetime"}}}


@pytest.fixture(scope="session")
def metadata() -> dict:
    return METADATA


@pytest.fixture(scope="session")
def real_table() -> pd.DataFrame:
    return mixed_table(1500, seed=1)


@pytest.fixture(scope="session")
def synthetic_table() -> pd.DataFrame:
    return mixed_table(1200, seed=2, shift=0.3, missing=0.12)


@pytest.fixture(scope="session")
def make_table():
    """`mixed_table(n, seed, shift=..., missing=...)` for tests that need more tables."""
    return mixed_table


class TinyEmbedder:
    """A deterministic bag-of-words embedder for the text tests: each token adds a fixed random vector (seeded by
    its CRC32), so texts sharing words lie close. Stands in for a sentence encoder; one test uses the real one."""

    name = "tiny-bag-of-words"

    def __init__(self, dimension: int = 16) -> None:
        self.dimension = dimension
        self.calls = 0

    def __call__(self, texts):
        import zlib

        self.calls += 1
        out = np.zeros((len(texts), self.dimension))
        for i, text in enumerate(texts):
            for token in text.lower().split():
                out[i] += np.random.default_rng(zlib.crc32(token.encode())).normal(size=self.dimension)
        return out + 1e-3


@pytest.fixture
def tiny_embedder() -> TinyEmbedder:
    return TinyEmbedder()


def clinical_corpus(n: int, seed: int, *, topics: tuple[str, ...] = ("hypertension", "asthma", "diabetes")) -> list[str]:
    """Short seeded clinical sentences without identifiers."""
    g = np.random.default_rng(seed)
    findings = ["stable", "improving", "worsening", "well controlled", "poorly controlled"]
    plans = ["continue current medication", "increase the dose", "refer to the specialist", "repeat labs in 3 months",
             "start physical therapy"]
    return [f"Follow-up for {g.choice(topics)}: symptoms {g.choice(findings)}; plan to {g.choice(plans)}. "
            f"Blood pressure {int(g.integers(100, 160))}/{int(g.integers(60, 95))} mmHg, pulse {int(g.integers(55, 100))}."
            for _ in range(n)]


@pytest.fixture(scope="session")
def make_corpus():
    return clinical_corpus


LM_SENTENCES = [
    "follow up for hypertension symptoms stable plan to continue current medication",
    "follow up for asthma symptoms improving plan to repeat labs in 3 months",
    "follow up for diabetes symptoms worsening plan to increase the dose",
    "blood pressure 120 / 80 mmhg pulse 72 . the patient is well",
]


def build_tiny_gpt2(folder, *, seed: int = 0, context: int = 32):
    """A GPT-2 causal LM (about 8k parameters) and a word-level tokenizer built in memory, saved with save_pretrained
    (safetensors): the reference model of the perplexity tests."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.train_from_iterator(LM_SENTENCES, trainers.WordLevelTrainer(special_tokens=["<pad>", "<unk>", "<s>"]))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>",
                                        bos_token="<s>", eos_token="<s>")
    config = GPT2Config(vocab_size=len(tokenizer), n_embd=16, n_layer=2, n_head=2, n_positions=context,
                        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                        pad_token_id=tokenizer.pad_token_id, initializer_range=0.3)
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory):
    return build_tiny_gpt2(tmp_path_factory.mktemp("tiny-gpt2"))


def write_tiny_gguf(path):
    """A random Llama-style GGUF (about 10k parameters, f32) with a byte-level vocabulary: the GGUF path of the
    perplexity tests (transformers dequantises it; needs gguf and accelerate)."""
    from biosynth.core.testing import write_tiny_gguf as write

    return write(path, context_length=64)


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory):
    """A folder holding tiny.gguf (see write_tiny_gguf)."""
    return write_tiny_gguf(tmp_path_factory.mktemp("tiny-gguf") / "tiny.gguf")
