"""Optional libraries: which of them are not installed, found without importing them (so a command can name the
extra to install before it checks anything else, at no cost)."""

from __future__ import annotations

import importlib.util


def missing_modules(*names: str) -> list[str]:
    """The import names among `names` that cannot be imported here, in the order given."""
    return [name for name in names if not _importable(name)]


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a parent package missing, or a module without a spec in sys.modules
        return False
