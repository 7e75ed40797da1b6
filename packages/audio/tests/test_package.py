"""biosynth-audio installs beside core alone; until its generators land it registers none."""

from __future__ import annotations

import importlib.metadata as md

import biosynth.audio


def test_installs_as_part_of_the_biosynth_namespace() -> None:
    assert biosynth.audio.__file__ is not None and biosynth.audio.__file__.endswith("biosynth/audio/__init__.py")
    requires = md.requires("biosynth-audio") or []
    assert any(r.startswith("biosynth-core") for r in requires)


def test_registers_no_generator_yet() -> None:
    # No placeholder that pretends to generate: the first real generator replaces this test.
    mine = [ep for group in ("biosynth.generators", "biosynth.llm_backends", "biosynth.metrics")
            for ep in md.entry_points(group=group) if ep.dist is not None and ep.dist.name == "biosynth-audio"]
    assert mine == []
