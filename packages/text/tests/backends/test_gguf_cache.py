"""A GGUF loads through its converted safetensors folder in biosynth's cache (core's `gguf_as_folder`): the same
weights, tokens and provenance as dequantising the GGUF itself; converted once; rebuilt when damaged; a folder
biosynth did not write is never replaced."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from biosynth.core import (
    ChatMessage,
    ChatRequest,
    ConfigError,
    DecodingConfig,
    check_model_folder,
    gguf_as_folder,
    read_marker,
    sha256_file,
)
from biosynth.core.testing import write_tiny_gguf
from biosynth.text import TransformersLanguageModel

MERGES = ["Ġ t", "h e", "Ġt he", "Ġ a", "i n"]


@pytest.fixture
def tiny_gguf(tmp_path: Path) -> Path:
    (tmp_path / "model").mkdir()
    return write_tiny_gguf(tmp_path / "model" / "tiny.gguf", merges=MERGES, context_length=128, license="mit")


def _requests() -> list[ChatRequest]:
    return [ChatRequest(messages=[ChatMessage(role="user", content=f"the patient {i} has")], seed=i,
                        decoding=DecodingConfig(temperature=temperature, max_new_tokens=12))
            for i, temperature in enumerate([0.0, 0.8, 1.0])]


def test_the_cached_folder_gives_the_ggufs_weights_tokens_and_provenance(tiny_gguf: Path, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIOSYNTH_CACHE_DIR", str(tmp_path / "cache"))
    direct = TransformersLanguageModel(model=str(tiny_gguf), gguf_cache=False)
    assert not (tmp_path / "cache").exists()  # gguf_cache false writes nothing
    cached = TransformersLanguageModel(model=str(tiny_gguf))

    [folder] = [p for p in (tmp_path / "cache" / "gguf-transformers").iterdir() if p.is_dir()]
    marker = check_model_folder(folder, "gguf-transformers", 1, allowed_suffixes=(".json", ".safetensors", ".jinja"))
    assert marker["source_sha256"] == sha256_file(tiny_gguf) and marker["source_gguf"] == "tiny.gguf"
    assert marker["gguf_general"]["general.license"] == "mit"
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= set(marker["files"])

    mine, theirs = cached.model.state_dict(), direct.model.state_dict()
    assert mine.keys() == theirs.keys()
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    texts = [[c.text for c in model.generate(_requests())] for model in (cached, direct)]
    assert texts[0] == texts[1] and any(texts[0])
    assert cached.last_token_ids == direct.last_token_ids
    # provenance names the GGUF, not the cache: its sha256 and the license from its metadata
    assert cached.model_ref == direct.model_ref
    assert cached.model_ref.sha256 == sha256_file(tiny_gguf) and cached.model_ref.license == "mit"


def test_a_second_load_reuses_the_folder_and_a_damaged_one_is_converted_again(
        tiny_gguf: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache = tmp_path / "cache"
    folder = gguf_as_folder(tiny_gguf, cache=cache)
    written = read_marker(folder)["written_at"]
    assert gguf_as_folder(tiny_gguf, cache=cache) == folder
    assert read_marker(folder)["written_at"] == written  # not converted again

    (folder / "model.safetensors").write_bytes(b"not the weights")
    with caplog.at_level(logging.WARNING, logger="biosynth.core"):
        assert gguf_as_folder(tiny_gguf, cache=cache) == folder
    assert "unusable" in caplog.text and "corrupted" in caplog.text
    assert read_marker(folder)["written_at"] != written
    check_model_folder(folder, "gguf-transformers", 1, allowed_suffixes=(".json", ".safetensors", ".jinja"))
    assert not [p for p in cache.rglob("*.tmp")]  # no staging folder left behind


def test_a_folder_biosynth_did_not_write_is_left_alone_and_named(tiny_gguf: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    folder = gguf_as_folder(tiny_gguf, cache=cache)
    for child in folder.iterdir():  # the same path, now holding someone else's files
        child.unlink()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"refusing to overwrite .*biosynth did not write it"):
        gguf_as_folder(tiny_gguf, cache=cache)
    assert [p.name for p in folder.iterdir()] == ["notes.txt"] and (folder / "notes.txt").read_text() == "mine"

    blocked = tmp_path / "a-file"
    blocked.write_text("x")
    with pytest.raises(ConfigError, match=r"cache folder .*a-file.*BIOSYNTH_CACHE_DIR"):
        gguf_as_folder(tiny_gguf, cache=blocked)
