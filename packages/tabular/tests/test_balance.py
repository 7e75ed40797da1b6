"""Balanced / subgroup generation: deterministic target assignment, HALO's labels, the achieved report."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from biosynth.core import ConfigError, Recipe, Runner, SampleRequest, StepContext
from biosynth.tabular import HaloGenerator
from biosynth.tabular._balance import BalanceTarget, _quota, balance_report, target_value


def test_whole_blocks_hit_the_target_exactly_and_depend_only_on_seed_and_index() -> None:
    probabilities = BalanceTarget(column="sex", distribution={"female": 0.5, "male": 0.5}).resolve(("female", "male"))
    values = [target_value(probabilities, 7, i) for i in range(40)]
    assert Counter(values) == {"female": 20, "male": 20}
    assert [target_value(probabilities, 7, i) for i in range(10, 20)] == values[10:20]  # batching does not matter
    assert values != [target_value(probabilities, 8, i) for i in range(40)]  # the seed does
    thirds = BalanceTarget(column="dx").resolve(("a", "b", "c"))
    assert Counter(target_value(thirds, 1, i) for i in range(30)) == {"a": 10, "b": 10, "c": 10}
    # shares that are not a whole number of any block up to 100: largest remainders over 100
    assert Counter(_quota((("a", 1 / 7), ("b", 6 / 7)))) == {"a": 1, "b": 6}
    assert Counter(_quota((("a", 0.123), ("b", 0.877)))) == {"a": 12, "b": 88}


def test_targets_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"'other' is an unseen category"):
        BalanceTarget(column="sex", distribution={"other": 1.0}).resolve(("F", "M"))
    with pytest.raises(ValueError, match="sum to 0"):
        BalanceTarget(column="sex", distribution={"F": 0.0})
    assert BalanceTarget(column="sex", distribution={"F": 3, "M": 1}).resolve(("F", "M")) == {"F": 0.75, "M": 0.25}


def test_halo_balances_its_labels(tiny_model_dir: Path, tmp_path: Path) -> None:
    target = {"column": "sex", "distribution": {"FEMALE": 0.25, "MALE": 0.75}}
    generator = HaloGenerator({"model": str(tiny_model_dir), "target": target})
    ctx = StepContext(step="patients", seed=3, root=tmp_path)
    records = generator.generate([SampleRequest(index=i, seed=100 + i) for i in range(8)], ctx)
    assert Counter(r.payload.static["sex"] for r in records) == {"FEMALE": 2, "MALE": 6}  # type: ignore[union-attr]
    assert all(r.provenance.extra["balance"]["value"] == r.payload.static["sex"] for r in records)  # type: ignore[union-attr]
    report = balance_report(records, "sex")
    assert report.target == {"FEMALE": 0.25, "MALE": 0.75} and report.max_abs_error == 0.0
    # a patient is the same whatever else is in its batch
    again = generator.generate([SampleRequest(index=5, seed=105)], ctx)
    assert again[0].payload == records[5].payload  # type: ignore[union-attr]


def test_halo_target_errors_name_the_field(tiny_model_dir: Path, tmp_path: Path) -> None:
    ctx = StepContext(step="patients", seed=3, root=tmp_path)
    with pytest.raises(ConfigError, match=r"target field 'weight' is not a static field"):
        HaloGenerator({"model": str(tiny_model_dir), "target": {"column": "weight"}}).setup(ctx)
    with pytest.raises(ConfigError, match=r"'X' is an unseen category"):
        HaloGenerator({"model": str(tiny_model_dir), "target": {"column": "sex", "distribution": {"X": 1}}}).setup(ctx)
    with pytest.raises(ConfigError, match="also fixed by `conditions`"):
        HaloGenerator({"model": str(tiny_model_dir), "target": {"column": "sex"},
                       "conditions": {"sex": "MALE"}}).setup(ctx)


def test_balance_report_over_a_dataset(tiny_model_dir: Path, tmp_path: Path) -> None:
    recipe = Recipe.model_validate({"name": "balanced", "seed": 4, "steps": [{
        "name": "patients", "generator": "halo", "count": 6, "batch_size": 4,
        "params": {"model": str(tiny_model_dir), "target": {"column": "birth_decade", "distribution": "balanced"}}}]})
    manifest = Runner(recipe, tmp_path / "out").run()
    report = balance_report(tmp_path / "out", "birth_decade", step="patients")
    assert report.counts == {"1950s": 3, "1960s": 3} and report.achieved == {"1950s": 0.5, "1960s": 0.5}
    assert manifest.steps["patients"].summary == {"balance": report.model_dump()}  # the achieved shares, in the manifest
    explicit = balance_report(tmp_path / "out", "birth_decade", target={"1950s": 1.0})
    assert explicit.max_abs_error == 0.5
