"""What an optional step lacks: a generator or component backend that is not installed or cannot be imported.

The runner skips such a step (and the steps made from it) and records the reason and what to install in the
manifest (`skipped_steps`, `skipped_requirements`), so that e.g. core plus biosynth-text alone still runs a
recipe's text steps.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from biosynth.core._components import ComponentSpec
from biosynth.core._errors import RegistryError
from biosynth.core._first_party import FIRST_PARTY_GENERATORS
from biosynth.core._registry import Group, Registry


@dataclass(frozen=True)
class Missing:
    """Why a step cannot run here, and the distribution (or module) to install."""

    reason: str
    requirement: str


def missing_generator(registry: Registry, name: str) -> Missing | None:
    """None when the generator `name` (an entry point, or `module:Class`) can be loaded."""
    if ":" in name:
        module = name.split(":", 1)[0]
        try:
            importlib.import_module(module)
        except ImportError as err:  # the module, or a package it needs, is not installed
            absent = err.name or module
            return Missing(f"generator {name!r} cannot be imported ({type(err).__name__}: {err})",
                           f"the package providing the module {absent!r}")
        return None
    return _missing(registry, Group.GENERATORS, name, f"generator {name!r}", FIRST_PARTY_GENERATORS.get(name))


def missing_component(registry: Registry, spec: ComponentSpec) -> Missing | None:
    """None when the backend of `spec` (a language model, a voice, a pipeline, ...) can be loaded."""
    return _missing(registry, spec.kind.group, spec.backend, spec.describe(), None)


def _missing(registry: Registry, group: Group, name: str, what: str, known_dist: str | None) -> Missing | None:
    if name not in registry.names(group):
        if known_dist is not None:
            return Missing(f"{what} is not installed (it comes with {known_dist})", known_dist)
        return Missing(f"{what} is not installed (no installed package registers it)", f"a package registering {name!r}")
    try:
        registry.get(group, name)
    except RegistryError as err:
        cause = err.__cause__
        if not isinstance(cause, ImportError):
            raise  # a broken plugin is an error, not a missing package
        dist = next((i.distribution for i in registry.describe(load=False) if i.group is group and i.name == name), None)
        module = cause.name or "?"
        needed_by = f" (needed by {dist})" if dist else ""
        return Missing(f"{what}{' from ' + dist if dist else ''} cannot be imported ({type(cause).__name__}: {cause})",
                       f"module {module!r}{needed_by}")
    return None
