from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from rich.console import Console

from biosynth.core import Runner, parse_recipe
from biosynth.core._progress import BarProgress, LogProgress, default_progress

RECIPE = {"name": "p", "steps": [{"name": "nums", "generator": "sample_generators:Numbers", "count": 6,
                                  "batch_size": 2, "params": {"fail_every": 4}}]}


def test_bar_on_a_terminal(tmp_path: Path) -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=100)
    Runner(parse_recipe(RECIPE), tmp_path / "out", progress=BarProgress(console)).run()
    shown = buffer.getvalue()
    assert "nums" in shown and "6/6" in shown and "2 failed" in shown


def test_log_lines_elsewhere(tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert isinstance(default_progress(), LogProgress)
    with caplog.at_level(logging.INFO, logger="biosynth"):
        Runner(parse_recipe(RECIPE), tmp_path / "out").run()
    lines = [r.getMessage() for r in caplog.records]
    assert "step nums: 4/6 done (3 produced, 1 failed in this run)" in lines
    assert "done: 6 requested, 4 produced, 2 failed -> " + str(tmp_path / "out") in lines


def test_a_crashing_generator_says_how_to_resume(tmp_path: Path) -> None:
    recipe = parse_recipe({"name": "c", "steps": [{"name": "boom", "generator": "sample_generators:Crashing",
                                                   "count": 4, "batch_size": 2}]})
    with pytest.raises(RuntimeError, match="disk on fire") as info:
        Runner(recipe, tmp_path / "out", progress=LogProgress()).run()
    assert any("rerun with --resume" in note for note in info.value.__notes__)
    assert len(list((tmp_path / "out" / ".work" / "boom").glob("batch-*.json"))) == 1
