"""A GGUF file as a transformers safetensors folder, converted once and kept in biosynth's cache.

transformers loads a GGUF by parsing it three times (config, tokenizer, weights) and dequantising every tensor
in Python: about 50 s for the embedded SmolLM2-135M on two cores, of which under 4 s is the dequantising. The
same weights loaded from the folder this module writes take a few seconds. The folder is derived data: the GGUF
stays the source that provenance names (its sha256), and the folder is rebuilt whenever its marker's file hashes
no longer match.

Cache location: `BIOSYNTH_CACHE_DIR`, else `$XDG_CACHE_HOME/biosynth`, else `~/.cache/biosynth`; one folder per
GGUF sha256 and transformers version under `gguf-transformers/`. A lock file makes concurrent processes convert
once.
"""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path
from typing import Any

from biosynth.core._errors import ConfigError, InputDataError
from biosynth.core._model_folder import check_model_folder, is_model_folder, weights_sha256, write_model_folder

log = logging.getLogger("biosynth.core")

KIND = "gguf-transformers"
FORMAT_VERSION = 1
# the weights, the config and the tokenizer (tokenizer.json, its config, the chat template as Jinja): no pickle
FILE_SUFFIXES = (".json", ".safetensors", ".jinja")


def cache_dir() -> Path:
    """biosynth's cache folder (see the module doc)."""
    if os.environ.get("BIOSYNTH_CACHE_DIR"):
        return Path(os.environ["BIOSYNTH_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "biosynth"


def gguf_as_folder(gguf: str | Path, *, sha256: str | None = None, cache: Path | None = None) -> Path:
    """The transformers folder of `gguf` (dequantised to float32 safetensors, with its tokenizer and generation
    config), converted on first use. `sha256` saves hashing the GGUF again when the caller has it."""
    try:
        import transformers
        from filelock import FileLock
    except ImportError:
        raise ConfigError("converting a GGUF needs transformers (pip install transformers gguf)") from None
    gguf = Path(gguf)
    if not gguf.is_file():
        raise InputDataError(f"GGUF file {str(gguf)!r} does not exist")
    digest = sha256 or weights_sha256(gguf)
    root = (cache or cache_dir()) / "gguf-transformers"
    folder = root / f"{digest[:32]}-transformers-{transformers.__version__}"
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"biosynth's cache folder {str(root)!r} cannot be created ({err.strerror or err}); "
                          "set BIOSYNTH_CACHE_DIR to a writable folder") from None
    with FileLock(str(folder) + ".lock"):
        if folder.exists() and is_model_folder(folder):
            try:
                marker = check_model_folder(folder, KIND, FORMAT_VERSION, allowed_suffixes=FILE_SUFFIXES)
                if marker.get("source_sha256") == digest:
                    return folder
                log.warning("cached conversion %s names another GGUF; converting %s again", folder, gguf.name)
            except InputDataError as err:
                log.warning("cached conversion of %s is unusable (%s); converting it again", gguf.name, err)
        log.info("converting %s to a transformers folder in %s (once; later loads reuse it)", gguf.name, folder)
        return write_model_folder(folder, KIND, FORMAT_VERSION, lambda staging: _convert(gguf, digest, staging),
                                  allowed_suffixes=FILE_SUFFIXES, replace=True)


def _convert(gguf: Path, digest: str, staging: Path) -> dict[str, str]:
    """Dequantise with transformers' own GGUF loader and save the result (the quantisation entry dropped from the
    config: the saved weights are plain float32)."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"gguf_file": gguf.name, "local_files_only": True, "trust_remote_code": False}
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), **kwargs)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), dtype=torch.float32, **kwargs)
    config = copy.deepcopy(loaded.config)  # the loaded model's own config: parsing the GGUF again takes seconds
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.float32
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    model.save_pretrained(str(staging), safe_serialization=True)
    tokenizer.save_pretrained(str(staging))
    return {"source_gguf": gguf.name, "source_sha256": digest, "transformers": transformers.__version__,
            "gguf_general": gguf_general_metadata(gguf)}


def gguf_general_metadata(gguf: Path) -> dict[str, Any]:
    """The GGUF's `general.*` metadata (name, license, ...), read with the `gguf` package. It parses the whole file
    (seconds for a 49k-token vocabulary), so a converted folder keeps a copy in its marker (`gguf_general`)."""
    from gguf import GGUFReader

    reader = GGUFReader(gguf)
    return {key: field.contents() for key, field in reader.fields.items() if key.startswith("general.")}
