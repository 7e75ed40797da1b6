"""Errors that reach users. Each one names the field or file at fault and what was expected."""

from __future__ import annotations


class BiosynthError(Exception):
    """Base class for errors caused by user input; the CLI prints them without a traceback (exit 2)."""

    exit_code = 2


class RecipeError(BiosynthError):
    """A recipe file is unreadable, malformed, or wires its steps inconsistently."""


class RegistryError(BiosynthError):
    """A plugin name is unknown or its package failed to import."""


class DatasetError(BiosynthError):
    """A dataset folder is missing, corrupt, or holds a different dataset."""


class PolicyError(BiosynthError):
    """The data-governance policy refuses an operation (e.g. real data to a remote model)."""


class InputDataError(BiosynthError):
    """An input file named by a recipe is missing or unreadable."""


class ConfigError(BiosynthError):
    """A generator or backend was given parameters it cannot use."""


class GenerationError(Exception):
    """One sample could not be generated. The runner records it as a failure with this message.

    Raise it from a generator for an expected, per-sample failure (invalid model output after all
    attempts, a template field missing from an input record, ...). Other exceptions abort the step.
    """

    def __init__(self, reason: str, *, attempts: int = 1) -> None:
        super().__init__(reason)
        self.reason = reason
        self.attempts = attempts
