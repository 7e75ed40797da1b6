"""biosynth-audio installs beside core alone and registers its voices and generator by entry point."""

from __future__ import annotations

import importlib.metadata as md

import biosynth.audio


def test_installs_as_part_of_the_biosynth_namespace() -> None:
    assert biosynth.audio.__file__ is not None and biosynth.audio.__file__.endswith("biosynth/audio/__init__.py")
    requires = md.requires("biosynth-audio") or []
    assert any(r.startswith("biosynth-core") for r in requires)


def test_registers_its_voices() -> None:
    mine = {ep.name for ep in md.entry_points(group="biosynth.tts_voices") if ep.dist and ep.dist.name == "biosynth-audio"}
    assert mine == {"piper", "espeak", "coqui"}


def test_registers_its_generator() -> None:
    mine = {ep.name for ep in md.entry_points(group="biosynth.generators") if ep.dist and ep.dist.name == "biosynth-audio"}
    assert mine == {"dialogue_audio"}
