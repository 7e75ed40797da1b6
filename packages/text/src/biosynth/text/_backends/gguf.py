"""GGUF file checks shared by the backends that load GGUF models (transformers, llama.cpp)."""

from __future__ import annotations

from pathlib import Path

from biosynth.core import InputDataError

GGUF_MAGIC = b"GGUF"


def check_gguf(path: Path) -> None:
    """Fail clearly when `path` is missing or is not a GGUF file (checked by its magic bytes)."""
    if not path.is_file():
        raise InputDataError(f"GGUF model file {str(path)!r} does not exist")
    with path.open("rb") as handle:
        if handle.read(4) != GGUF_MAGIC:
            raise InputDataError(f"{str(path)!r} is not a GGUF file (it does not start with the GGUF magic bytes); "
                                 "re-download it or point `model` at a valid .gguf file")
