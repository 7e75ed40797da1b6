"""Balanced / subgroup generation in tabular: the documented `BalanceTarget` (core's TargetDistribution), HALO's
labels, the achieved distribution. Target assignment itself is core's (`_targets`), tested there."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from biosynth.core import ConfigError, Recipe, Runner, SampleRequest, StepContext, TargetDistribution, achieved_distribution
from biosynth.tabular import BalanceTarget, HaloGenerator


def test_targets_are_checked() -> None:
    assert BalanceTarget is TargetDistribution  # one implementation, core's
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
    report = achieved_distribution(records, "sex")
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


def test_achieved_distribution_over_a_dataset(tiny_model_dir: Path, tmp_path: Path) -> None:
    recipe = Recipe.model_validate({"name": "balanced", "seed": 4, "steps": [{
        "name": "patients", "generator": "halo", "count": 6, "batch_size": 4,
        "params": {"model": str(tiny_model_dir), "target": {"column": "birth_decade", "distribution": "balanced"}}}]})
    manifest = Runner(recipe, tmp_path / "out").run()
    report = achieved_distribution(tmp_path / "out", "birth_decade", step="patients")
    assert report.counts == {"1950s": 3, "1960s": 3} and report.achieved == {"1950s": 0.5, "1960s": 0.5}
    assert manifest.steps["patients"].summary == {"balance": report.model_dump()}  # the achieved shares, in the manifest
    explicit = achieved_distribution(tmp_path / "out", "birth_decade", target={"1950s": 1.0})
    assert explicit.max_abs_error == 0.5
