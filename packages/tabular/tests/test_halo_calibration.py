"""Length calibration: the end-of-record logit offset chosen after training on the training patients."""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

import pytest

from biosynth.core import ConfigError, InputDataError
from biosynth.tabular import Halo, HaloConfig, HaloTraining


def _mean_visits(halo: Halo, n: int = 64, seed: int = 11) -> float:
    return statistics.fmean(len(p.visits) for p in halo.sample(n, seed=seed))


def test_fit_calibrates_to_the_training_mean_by_default(tiny_halo: Halo, make_patients) -> None:
    calibration = tiny_halo.calibration
    assert calibration is not None
    target = statistics.fmean(len(p.visits) for p in make_patients())
    assert calibration.target_mean_visits == pytest.approx(target)
    assert tiny_halo.config.end_logit_offset == calibration.end_logit_offset != 0.0
    assert abs(calibration.after_mean_visits - target) <= abs(calibration.before_mean_visits - target)
    assert abs(calibration.after_mean_visits / target - 1) < 0.05


@pytest.mark.parametrize("target", [2.0, 5.0])
def test_calibration_moves_the_mean_length_to_the_target(tiny_model_dir: Path, target: float) -> None:
    halo = Halo.load(tiny_model_dir)  # a private copy: calibration changes the model
    before = _mean_visits(halo)
    result = halo.calibrate_length(target, seed=4, patients=64)
    after = _mean_visits(halo)  # other seeds than the calibration's
    assert abs(after - target) < abs(before - target)
    assert abs(after / target - 1) < 0.2
    assert result.end_logit_offset == halo.config.end_logit_offset and result.rounds >= 1
    assert abs(result.after_mean_visits / target - 1) <= 0.05


def test_a_lower_offset_gives_longer_histories(tiny_model_dir: Path) -> None:
    short, long = Halo.load(tiny_model_dir), Halo.load(tiny_model_dir)
    short.calibrate_length(2.0, patients=64)
    long.calibrate_length(5.0, patients=64)
    assert long.config.end_logit_offset < short.config.end_logit_offset
    assert _mean_visits(long) > _mean_visits(short) + 1


def test_calibration_is_seeded_and_survives_save_load(tiny_model_dir: Path, tmp_path: Path) -> None:
    a, b = Halo.load(tiny_model_dir), Halo.load(tiny_model_dir)
    assert a.calibrate_length(4.5, seed=2, patients=32) == b.calibrate_length(4.5, seed=2, patients=32)
    loaded = Halo.load(a.save(tmp_path / "calibrated"))
    assert loaded.config == a.config and loaded.calibration == a.calibration
    assert loaded.config.end_logit_offset == a.calibration.end_logit_offset  # type: ignore[union-attr]
    assert loaded.sample(8, seed=3) == a.sample(8, seed=3)
    assert loaded.sample(8, seed=3) != Halo.load(tiny_model_dir).sample(8, seed=3)


def test_fit_without_calibration_keeps_the_network_as_trained(make_patients, tiny_config) -> None:
    halo = Halo.fit(make_patients(12), config=HaloConfig(**tiny_config),
                    training=HaloTraining(epochs=1, batch_size=4, calibrate_length=False))
    assert halo.calibration is None and halo.config.end_logit_offset == 0.0


def test_bad_calibration_requests_are_refused(tiny_model_dir: Path) -> None:
    halo = Halo.load(tiny_model_dir)
    with pytest.raises(ConfigError, match="target_mean_visits must be a positive number"):
        halo.calibrate_length(0.0)
    with pytest.raises(ConfigError, match="exceeds the model's context"):
        halo.calibrate_length(1000.0)


def test_a_marker_that_disagrees_with_the_config_is_named(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    shutil.copytree(tiny_model_dir, folder)
    marker = json.loads((folder / "biosynth_model.json").read_text())
    marker["length_calibration"]["end_logit_offset"] += 1.0
    (folder / "biosynth_model.json").write_text(json.dumps(marker))
    with pytest.raises(InputDataError, match="'length_calibration' records end_logit_offset"):
        Halo.load(folder)
