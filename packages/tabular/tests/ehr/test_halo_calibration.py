"""Length calibration: the end-of-record logit offset chosen after training on the training patients."""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

import pytest

from biosynth.core import ConfigError, InputDataError
from biosynth.tabular import Halo, HaloConfig, HaloTraining, length_statistic


def _mean_visits(halo: Halo, n: int = 64, seed: int = 11) -> float:
    return statistics.fmean(len(p.visits) for p in halo.sample(n, seed=seed))


def _visits(halo: Halo, statistic: str, n: int = 64, seed: int = 11) -> float:
    return length_statistic([len(p.visits) for p in halo.sample(n, seed=seed)], statistic)  # type: ignore[arg-type]


def test_fit_calibrates_to_the_training_median_by_default(tiny_halo: Halo, make_patients) -> None:
    calibration = tiny_halo.calibration
    assert calibration is not None and calibration.statistic == "median"
    target = statistics.median_grouped(sorted(len(p.visits) for p in make_patients()))
    assert calibration.target_visits == pytest.approx(target)
    assert tiny_halo.config.end_logit_offset == calibration.end_logit_offset != 0.0
    assert abs(calibration.after_visits - target) <= abs(calibration.before_visits - target)
    assert abs(calibration.after_visits / target - 1) < 0.1  # 40 patients of 1-6 visits: the median moves in steps


def test_the_median_is_not_moved_by_a_minority_of_long_histories() -> None:
    """Why the median is the default: 12% of 97-visit histories (Eunomia's immunotherapy courses) move the
    mean by a quarter, the median by a fraction of a visit."""
    lengths = [30] * 88 + [97] * 12
    assert length_statistic(lengths, "mean") == pytest.approx(38.04)
    assert length_statistic(lengths, "median") == pytest.approx(30.07, abs=0.01)
    assert length_statistic([30] * 100, "median") == pytest.approx(30.0)
    with pytest.raises(ConfigError, match="at least one patient"):
        length_statistic([], "median")


@pytest.mark.parametrize(("statistic", "target"), [("mean", 2.0), ("mean", 5.0), ("median", 2.0), ("median", 5.0)])
def test_calibration_moves_the_length_to_the_target(tiny_model_dir: Path, statistic: str, target: float) -> None:
    halo = Halo.load(tiny_model_dir)  # a private copy: calibration changes the model
    before = _visits(halo, statistic)
    result = halo.calibrate_length(target, statistic=statistic, seed=4, patients=64)  # type: ignore[arg-type]
    after = _visits(halo, statistic)  # other seeds than the calibration's
    assert result.statistic == statistic
    assert abs(after - target) < abs(before - target)
    assert abs(after / target - 1) < 0.2
    assert result.end_logit_offset == halo.config.end_logit_offset and result.rounds >= 1
    assert abs(result.after_visits / target - 1) <= 0.05


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
    with pytest.raises(ConfigError, match="target_visits must be a positive number"):
        halo.calibrate_length(0.0)
    with pytest.raises(ConfigError, match="exceeds the model's context"):
        halo.calibrate_length(1000.0)
    with pytest.raises(ConfigError, match="statistic must be 'median' or 'mean', got 'mode'"):
        halo.calibrate_length(3.0, statistic="mode")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="length_statistic"):
        HaloTraining(length_statistic="mode")  # type: ignore[arg-type]


def test_a_model_saved_before_the_statistic_existed_loads_as_mean(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "old"
    shutil.copytree(tiny_model_dir, folder)
    marker = json.loads((folder / "biosynth_model.json").read_text())
    record = marker["length_calibration"]
    old = {"target_mean_visits": 3.4, "before_mean_visits": 2.9, "after_mean_visits": 3.41}
    for name in ("statistic", "target_visits", "before_visits", "after_visits"):
        del record[name]
    record.update(old)
    (folder / "biosynth_model.json").write_text(json.dumps(marker))
    calibration = Halo.load(folder).calibration
    assert calibration is not None and calibration.statistic == "mean"
    assert (calibration.target_visits, calibration.before_visits, calibration.after_visits) == (3.4, 2.9, 3.41)


def test_a_marker_that_disagrees_with_the_config_is_named(tiny_model_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    shutil.copytree(tiny_model_dir, folder)
    marker = json.loads((folder / "biosynth_model.json").read_text())
    marker["length_calibration"]["end_logit_offset"] += 1.0
    (folder / "biosynth_model.json").write_text(json.dumps(marker))
    with pytest.raises(InputDataError, match="'length_calibration' records end_logit_offset"):
        Halo.load(folder)


def test_calibrate_length_to_repeats_what_fit_did(tiny_halo: Halo, tiny_model_dir: Path, make_patients) -> None:
    """A loaded model recalibrated from the training patients and settings gets exactly fit's calibration
    (what `benchmarks/halo_eunomia.py` relies on to calibrate a
    trained or kept model as fit would)."""
    loaded = Halo.load(tiny_model_dir)
    training = HaloTraining(epochs=20, batch_size=8, learning_rate=1e-2, seed=3)  # the fixture's
    assert loaded.calibrate_length_to(make_patients(), training) == tiny_halo.calibration
    assert loaded.config.end_logit_offset == tiny_halo.config.end_logit_offset
