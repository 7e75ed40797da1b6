"""The `transformers` backend on a tiny seeded Llama-style model that the fixtures build."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from biosynth.core import (
    ChatMessage,
    ChatRequest,
    ConfigError,
    DecodingConfig,
    Group,
    InputDataError,
    default_registry,
    weights_sha256,
)
from biosynth.core.testing import LanguageModelContract
from biosynth.text import TransformersLanguageModel


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path) -> TransformersLanguageModel:
    return TransformersLanguageModel(model=str(tiny_model_dir), batch_size=4)


def _request(text: str, seed: int = 0, **decoding: object) -> ChatRequest:
    config = DecodingConfig(**{"max_new_tokens": 12, "temperature": 0.9, **decoding})  # type: ignore[arg-type]
    return ChatRequest(messages=(ChatMessage(role="user", content=text),), decoding=config, seed=seed)


PROMPTS = [
    "the patient presents with chest pain",
    "she denies fever",
    "history of hypertension diabetes and chronic kidney disease with heart failure and copd",
    "plan follow up",
    "the chest x ray shows no acute findings",
]


class TestTinyTransformersContract(LanguageModelContract):
    @pytest.fixture(autouse=True)
    def _model(self, tiny: TransformersLanguageModel) -> None:
        self._tiny = tiny

    def make_model(self) -> TransformersLanguageModel:
        return self._tiny


def test_registered_as_backend() -> None:
    assert default_registry().get(Group.LLM_BACKENDS, "transformers") is TransformersLanguageModel


def test_sampled_output_depends_only_on_its_own_seed(tiny: TransformersLanguageModel) -> None:
    # Varied prompt lengths (so rows are left-padded differently), repetition penalty, top-k and top-p.
    requests = [_request(p, seed=100 + i, repetition_penalty=1.3, top_k=30, top_p=0.9) for i, p in enumerate(PROMPTS)]
    alone = [tiny.generate([r])[0].text for r in requests]
    together = [c.text for c in tiny.generate(requests)]  # batch_size 4: two batches
    reversed_order = [c.text for c in tiny.generate(requests[::-1])][::-1]
    assert together == alone == reversed_order
    assert len(set(alone)) == len(alone)  # the prompts and seeds do make different samples


def test_rows_finishing_early_leave_the_batch_without_changing_the_others(tiny: TransformersLanguageModel) -> None:
    # Different max_new_tokens make rows finish at different steps, so the KV cache is pruned mid-batch.
    limits = (3, 12, 1, 8, 5)
    requests = [_request(p, seed=7 + i, max_new_tokens=n) for i, (p, n) in enumerate(zip(PROMPTS, limits, strict=True))]
    together = tiny.generate(requests)
    alone = [tiny.generate([r])[0] for r in requests]
    assert [c.text for c in together] == [c.text for c in alone]
    assert [c.completion_tokens for c in together] == [c.completion_tokens for c in alone]
    assert max(c.completion_tokens for c in together) > min(c.completion_tokens for c in together)


def test_different_seeds_give_different_samples(tiny: TransformersLanguageModel) -> None:
    texts = {c.text for c in tiny.generate([_request(PROMPTS[0], seed=s) for s in range(4)])}
    assert len(texts) == 4


def test_decoding_seed_overrides_request_seed(tiny: TransformersLanguageModel) -> None:
    decoding = DecodingConfig(max_new_tokens=12, seed=42)
    a, b = tiny.generate([ChatRequest(messages=(ChatMessage(role="user", content=PROMPTS[1]),), decoding=decoding,
                                      seed=s) for s in (1, 2)])
    assert a.text == b.text


def test_greedy_matches_transformers_generate(tiny: TransformersLanguageModel) -> None:
    """The hand-written loop against the reference: transformers' own greedy `generate`."""
    for penalty in (1.0, 1.4):
        request = _request(PROMPTS[2], temperature=0.0, max_new_tokens=10, repetition_penalty=penalty)
        ids = torch.tensor([tiny.encode(request)])
        reference = tiny.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=10, do_sample=False,
                                        repetition_penalty=penalty, eos_token_id=sorted(tiny._eos_ids),
                                        pad_token_id=tiny.tokenizer.pad_token_id)
        expected = tiny.tokenizer.decode(reference[0, ids.shape[1]:].tolist(), skip_special_tokens=True)
        assert tiny.generate([request])[0].text == expected


def test_stop_sequence_cuts_the_text(tiny: TransformersLanguageModel) -> None:
    full = tiny.generate([_request(PROMPTS[0], temperature=0.0, max_new_tokens=12)])[0]
    words = full.text.split()
    assert len(words) >= 4
    stop = words[3]
    cut = tiny.generate([_request(PROMPTS[0], temperature=0.0, max_new_tokens=12, stop=(f" {stop}",))])[0]
    assert cut.finish_reason == "stop"
    assert cut.text == full.text[: full.text.find(f" {stop}")]
    assert cut.completion_tokens < full.completion_tokens


def test_max_and_min_new_tokens(tiny: TransformersLanguageModel) -> None:
    completions = tiny.generate([_request(p, seed=i, max_new_tokens=7, min_new_tokens=7) for i, p in enumerate(PROMPTS)])
    assert [c.completion_tokens for c in completions] == [7] * len(PROMPTS)
    assert {c.finish_reason for c in completions} == {"length"}
    assert all(len(c.text.split()) >= 1 for c in completions)


def test_token_counts_match_the_tokenizer(tiny: TransformersLanguageModel) -> None:
    request = _request(PROMPTS[0])
    [completion] = tiny.generate([request])
    assert completion.prompt_tokens == len(tiny.tokenizer(tiny.render(request), add_special_tokens=False)["input_ids"])
    assert "<|assistant|>" in tiny.render(request)  # the chat template was applied


def test_context_overflow_is_a_clear_error(tiny: TransformersLanguageModel) -> None:
    long_prompt = " ".join(["patient"] * 300)  # the tiny model has 256 positions
    with pytest.raises(ConfigError, match=r"context of 256 tokens.*shorten the prompt"):
        tiny.generate([_request("short"), _request(long_prompt)])
    with pytest.raises(ConfigError, match="max_new_tokens"):
        tiny.generate([_request("short", max_new_tokens=400)])


def test_model_reference(tiny: TransformersLanguageModel, tiny_model_dir: Path) -> None:
    ref = tiny.model_ref
    assert ref.backend == "transformers" and not ref.remote
    assert ref.sha256 == weights_sha256(tiny_model_dir)  # core: the whole folder
    assert ref.license == "apache-2.0"  # from the model card's front matter
    assert ref.name == tiny_model_dir.name


def test_name_license_and_template_overrides(tiny_model_dir: Path) -> None:
    model = TransformersLanguageModel(model=str(tiny_model_dir), name="tiny/llama", license="mit",
                                      chat_template="{% for m in messages %}{{ m['content'] }} {% endfor %}<|user|>")
    assert (model.model_ref.name, model.model_ref.license) == ("tiny/llama", "mit")
    assert model.render(_request("plan follow up")) == "plan follow up <|user|>"


def test_model_without_chat_template_gets_plain_prompt(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = shutil.copytree(tiny_model_dir, tmp_path / "base")
    (folder / "chat_template.jinja").unlink()
    model = TransformersLanguageModel(model=str(folder))
    assert not model.has_chat_template
    request = ChatRequest(messages=(ChatMessage(role="system", content="be brief"),
                                    ChatMessage(role="user", content="plan follow up")),
                          decoding=DecodingConfig(max_new_tokens=3, temperature=0.0))
    assert model.render(request) == "be brief\n\nplan follow up\n\n"
    assert model.generate([request])[0].completion_tokens >= 1


def test_missing_model_folder(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="does not exist"):
        TransformersLanguageModel(model=str(tmp_path / "no-such-model"))


def test_folder_without_config(tmp_path: Path) -> None:
    (tmp_path / "weights.gguf").write_bytes(b"GGUF")
    with pytest.raises(InputDataError, match=r"no config.json.*'weights.gguf'.*gguf_file"):
        TransformersLanguageModel(model=str(tmp_path))


def test_missing_gguf_file_in_folder(tmp_path: Path) -> None:
    (tmp_path / "other.gguf").write_bytes(b"GGUF")
    with pytest.raises(InputDataError, match=r"'model.gguf' does not exist.*other.gguf"):
        TransformersLanguageModel(model=str(tmp_path), gguf_file="model.gguf")


def test_file_that_is_not_gguf(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"PK\x03\x04 not a gguf at all")
    with pytest.raises(InputDataError, match="not a GGUF file"):
        TransformersLanguageModel(model=str(path))


def test_corrupt_gguf(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + b"\xff" * 40)  # a header, then garbage
    with pytest.raises(InputDataError, match=r"could not be loaded.*truncated or corrupt"):
        TransformersLanguageModel(model=str(path))


@pytest.mark.parametrize(("content", "message"), [
    (b"GGUF" + (3).to_bytes(4, "little") + bytes(8), r"is truncated: 16 bytes, shorter than the 24-byte GGUF header"),
    (b"GGUF" + (9).to_bytes(4, "little") + bytes(16), r"has format version 9; expected one of \[2, 3\]"),
])
def test_a_gguf_header_is_checked_before_loading(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(content)
    with pytest.raises(InputDataError, match=message):
        TransformersLanguageModel.check_params({"model": str(path)})


def test_unreachable_hub_id() -> None:
    with pytest.raises(ConfigError, match=r"not a local folder or file.*hub id"):
        TransformersLanguageModel(model="no-such-org/no-such-model-xyz")


def test_params_are_checked_without_loading(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="does not exist"):
        TransformersLanguageModel.check_params({"model": str(tmp_path / "missing")})
    with pytest.raises(ConfigError, match="modle"):
        TransformersLanguageModel.check_params({"modle": "x"})


def test_bad_parameters() -> None:
    with pytest.raises(ConfigError, match="temperature"):
        TransformersLanguageModel(temperature=0.3)
    with pytest.raises(ConfigError, match="batch_size"):
        TransformersLanguageModel(batch_size=0)
