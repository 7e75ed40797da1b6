"""`missing_modules`: optional libraries that are not installed, found without importing them."""

from __future__ import annotations

import sys

import pytest

from biosynth.core import missing_modules


def test_names_what_cannot_be_imported_in_the_order_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "blocked_here", None)  # as `sys.modules[name] = None` blocks an import
    found = missing_modules("json", "no_such_module_xyz", "email.message", "no_such_pkg_xyz.sub", "blocked_here")
    assert found == ["no_such_module_xyz", "no_such_pkg_xyz.sub", "blocked_here"]
    assert "no_such_module_xyz" not in sys.modules  # looked up, not imported
