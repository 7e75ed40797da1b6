"""The example recipe (a text `dialogue` step -> `dialogue_audio`) is valid as `biosynth validate` checks it."""

from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

import pytest

from biosynth.core import load_recipe, plan

EXAMPLE = Path(__file__).parents[1] / "examples" / "ems_scene.yaml"


@pytest.mark.skipif(not any(ep.name == "dialogue" for ep in md.entry_points(group="biosynth.generators")),
                    reason="the example's first step needs biosynth-text's `dialogue` generator")
def test_example_recipe_is_valid() -> None:
    planned = {entry.step.name: entry for entry in plan(load_recipe(EXAMPLE), base_dir=EXAMPLE.parent)}
    speech = planned["speech"]
    assert speech.step.from_ == "dialogues"
    backends = sorted(spec.backend for _, spec in speech.generator.components())
    assert backends == ["espeak", "piper", "piper"]
    assert all(not d.remote for d in speech.decisions)
