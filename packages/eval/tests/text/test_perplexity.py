"""Perplexity under a reference causal LM: a tiny GPT-2 built by the fixture, checked against a manual forward pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2LMHeadModel

from biosynth.core import ConfigError, sha256_file, weights_sha256
from biosynth.eval import CausalLMScorer, evaluate_text, perplexity

torch.set_num_threads(1)


def manual_perplexity(folder, texts: list[str]) -> float:
    """exp(mean token NLL): one unbatched forward pass per text, log-softmax of each position's logits at the next
    token, pooled over all scored tokens."""
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = GPT2LMHeadModel.from_pretrained(folder).eval()
    nll = []
    for text in texts:
        ids = torch.tensor([tokenizer(text)["input_ids"]])
        with torch.no_grad():
            logits = model(ids).logits[0]
        log_probs = torch.log_softmax(logits[:-1], dim=-1)
        nll += (-log_probs[torch.arange(ids.shape[1] - 1), ids[0, 1:]]).tolist()
    return float(np.exp(np.mean(nll)))


def test_perplexity_equals_a_manual_forward_pass(tiny_gpt2_dir, make_corpus) -> None:
    synthetic = [t.lower() for t in make_corpus(12, 1)] + ["asthma"]  # different lengths share batches; one token
    real = ["follow up for asthma symptoms stable", "blood pressure 120 / 80 mmhg pulse 72 ."]
    scorer = CausalLMScorer(tiny_gpt2_dir, batch_size=4)
    result = perplexity(synthetic, scorer, real_texts=real, n_bootstrap=50, seed=1)
    assert result.ok
    assert result.value == pytest.approx(manual_perplexity(tiny_gpt2_dir, synthetic[:-1]), rel=1e-5)
    assert result.details["real_perplexity"] == pytest.approx(manual_perplexity(tiny_gpt2_dir, real), rel=1e-5)
    assert result.details["ratio_synthetic_to_real"] == pytest.approx(result.value / result.details["real_perplexity"])
    assert result.details["synthetic_texts_scored"] == 12 and any("fewer than two tokens" in w for w in result.warnings)
    assert result.ci.low <= result.value <= result.ci.high and result.parameters["reference_model_sha256"]
    assert result.parameters["reference_model_sha256"] == weights_sha256(tiny_gpt2_dir)  # the whole folder
    # a model folder works as well as a scorer; its default batch size pads the texts differently, which moves the
    # float32 sums by round-off (1.3e-8 relative seen on one machine, 0 on others)
    assert perplexity(synthetic, tiny_gpt2_dir, n_bootstrap=0).value == pytest.approx(result.value, rel=1e-6)


def test_long_texts_are_cut_to_the_context_and_say_so(tiny_gpt2_dir) -> None:
    long = " ".join(["follow up for asthma"] * 20)  # 80 tokens, context 32
    result = perplexity([long, "plan to continue"], CausalLMScorer(tiny_gpt2_dir), n_bootstrap=0)
    assert result.ok and any("cut to it" in w for w in result.warnings)
    assert result.details["synthetic_tokens"] == 31 + 2


def test_bad_model_folders_are_user_errors(tmp_path, tiny_gpt2_dir) -> None:
    with pytest.raises(ConfigError, match=r"has no config\.json"):
        CausalLMScorer(tmp_path)
    with pytest.raises(ConfigError, match="is not in the folder"):
        CausalLMScorer(tiny_gpt2_dir, gguf_file="model.gguf")


def test_the_text_suite_reports_perplexity_of_both_corpora(tiny_gpt2_dir, make_corpus, tiny_embedder) -> None:
    real, synthetic = make_corpus(20, 1), make_corpus(15, 2)
    report = evaluate_text(real, synthetic, embedder=tiny_embedder, n_bootstrap=0, reference_lm=tiny_gpt2_dir)
    result = report.result("text.perplexity")
    assert result.ok and result.n_real == 20 and result.details["real_perplexity"] > 1


def test_a_gguf_file_loads_through_transformers(tiny_gguf) -> None:
    from biosynth.eval._cli import _reference_lm

    path, tmp_path = tiny_gguf, tiny_gguf.parent
    texts = ["bp 120/80", "follow up in 2 weeks"]
    scorer = _reference_lm(path)  # what `biosynth evaluate --reference-lm tiny.gguf` builds
    assert scorer is not None and scorer.name == f"{tmp_path.name}/tiny.gguf"
    assert scorer.sha256 == weights_sha256(path) == sha256_file(path)  # core's one rule: a file is its sha256
    result = perplexity(texts, scorer, n_bootstrap=0)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path, gguf_file="tiny.gguf")
    model = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file="tiny.gguf").eval()
    nll = []
    for text in texts:
        ids = torch.tensor([tokenizer(text)["input_ids"]])
        with torch.no_grad():
            log_probs = torch.log_softmax(model(ids).logits[0, :-1], dim=-1)
        nll += (-log_probs[torch.arange(ids.shape[1] - 1), ids[0, 1:]]).tolist()
    assert result.ok and result.value == pytest.approx(float(np.exp(np.mean(nll))), rel=1e-5)
