"""The `biosynth` command line."""

from biosynth.core.cli._app import app, main

__all__ = ["app", "main"]
