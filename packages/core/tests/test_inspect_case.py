"""`biosynth inspect DIR --case ID` names the case's failed samples beside its records."""

from __future__ import annotations

from pathlib import Path

from biosynth.core import Runner, parse_recipe
from biosynth.core.cli._inspect import case_story_lines, describe_case


def test_a_case_lists_its_failed_samples(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parent))  # sample_generators
    recipe = parse_recipe({"name": "fails", "seed": 2, "steps": [
        {"name": "rows", "generator": "attributes", "count": 3, "params": {"attributes": {"x": [1, 2]}}},
        {"name": "nums", "generator": "sample_generators:Numbers", "from": "rows", "params": {"fail_every": 2}},
        {"name": "more", "generator": "sample_generators:Numbers", "count": 2, "params": {"fail_every": 2}}]})
    Runner(recipe, tmp_path / "out").run()
    story = describe_case(tmp_path / "out", "case-rows-000002")  # nums sample 2 (from rows-000002) failed
    assert [r["id"] for r in story["records"]] == ["rows-000002"]
    assert story["failures"] == [{"step": "nums", "index": 2, "from": "rows-000002",
                                  "reason": "index divisible by 2", "attempts": 1}]
    assert "failed: step nums sample 2 from rows-000002 after 1 attempt(s): index divisible by 2" in case_story_lines(story)
    assert [r["id"] for r in describe_case(tmp_path / "out", "case-rows-000001")["records"]] == ["rows-000001",
                                                                                                "nums-000001"]
    assert describe_case(tmp_path / "out", "case-rows-000001")["failures"] == []
    assert describe_case(tmp_path / "out", "case-more-000001")["failures"] == []  # `more` sample 0 failed, not 1
