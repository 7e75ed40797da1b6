"""GGUF file checks shared by the backends that load GGUF models (transformers, llama.cpp)."""

from __future__ import annotations

from pathlib import Path

from biosynth.core import InputDataError

GGUF_MAGIC = b"GGUF"
GGUF_HEADER_BYTES = 24  # magic, uint32 version, uint64 tensor count, uint64 metadata count (GGUF v2 and v3)
GGUF_VERSIONS = (2, 3)


def check_gguf(path: Path) -> None:
    """Fail clearly when `path` is missing, is not a GGUF file (its magic bytes), is shorter than the fixed header, or
    has a format version other than 2 or 3. The rest is checked when the file loads."""
    if not path.is_file():
        raise InputDataError(f"GGUF model file {str(path)!r} does not exist")
    with path.open("rb") as handle:
        head = handle.read(GGUF_HEADER_BYTES)
    if head[:4] != GGUF_MAGIC:
        raise InputDataError(f"{str(path)!r} is not a GGUF file (it does not start with the GGUF magic bytes); "
                             "re-download it or point `model` at a valid .gguf file")
    if len(head) < GGUF_HEADER_BYTES:
        raise InputDataError(f"GGUF file {str(path)!r} is truncated: {len(head)} bytes, shorter than the "
                             f"{GGUF_HEADER_BYTES}-byte GGUF header; re-download it and compare its sha256")
    version = int.from_bytes(head[4:8], "little")
    if version not in GGUF_VERSIONS:
        raise InputDataError(f"GGUF file {str(path)!r} has format version {version}; expected one of "
                             f"{list(GGUF_VERSIONS)} (the file may be corrupt, or written by a newer llama.cpp)")
