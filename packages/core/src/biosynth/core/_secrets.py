"""Secrets come from environment variables; provenance keeps the variable's name, never the value."""

from __future__ import annotations

import os
import re

from biosynth.core._errors import ConfigError

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def secret_from_env(variable: str, *, purpose: str = "API key") -> str:
    """The value of `variable`; a clear error if the name is malformed or the variable unset."""
    if not _ENV_NAME.match(variable):
        raise ConfigError(
            f"{purpose}: {variable!r} is not an environment variable name. Give the *name* of the "
            "variable that holds the secret (e.g. OPENAI_API_KEY), never the secret itself."
        )
    value = os.environ.get(variable)
    if not value:
        raise ConfigError(f"{purpose}: environment variable {variable} is not set")
    return value
