"""Near-copy detection, calibrated on held-out real images: the two controls (copies of training images are
flagged; unseen real images are not) and the result without a holdout."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from biosynth.eval._image.features import extract
from biosynth.eval._image.memorisation import near_copies
from biosynth.eval._verdicts import _near_copies


@pytest.fixture(scope="module")
def features(lite, lite_features) -> dict:
    return {"lite": lite, **lite_features}


def _jpeg(image: np.ndarray) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=85)
    return np.asarray(Image.open(buffer).convert("RGB"))


def _score(splits, features, synthetic_images, names, **kwargs):
    train = splits["train"]
    return near_copies(features["train"], train.images, train.names, extract(features["lite"], synthetic_images),
                        synthetic_images, names, features=features["lite"].describe(), **kwargs)


def test_copies_of_training_images_are_flagged(splits, features) -> None:
    train = splits["train"]
    exact = train.images[:6]
    recompressed = [_jpeg(image) for image in train.images[24:30]]  # near-copies: JPEG at quality 85
    fresh = splits["other"].images[:8]
    names = [f"copy-{k}" for k in range(12)] + [f"fresh-{k}" for k in range(8)]
    # two training images slipped into the holdout: left out of the calibration (else the threshold would be 0)
    holdout_images = [*splits["holdout"].images, *train.images[10:12]]
    holdout_features = np.concatenate([features["holdout"], features["train"][10:12]])
    result = _score(splits, features, [*exact, *recompressed, *fresh], names,
                    holdout_features=holdout_features, holdout_images=holdout_images)
    assert result.details["holdout_used"] == len(splits["holdout"]) and any(
        "2 held-out images equal a training image" in w for w in result.warnings)
    assert result.ok and result.details["leak_detected"] is True
    flagged = set(result.details["flagged"])
    assert {f"copy-{k}" for k in range(12)} <= flagged
    rows = {row["synthetic"]: row for row in result.details["nearest"]}
    assert rows["copy-0"]["nearest_by_features"] == train.names[0] and rows["copy-0"]["feature_distance"] == 0.0
    assert rows["copy-6"]["nearest_by_pixels"] == train.names[24] and rows["copy-6"]["pixel_correlation"] > 0.95
    assert result.details["feature_distance_threshold"] > 0  # set from the held-out images' distances
    assert result.value >= 12 / 20
    verdict = _near_copies(result)
    assert verdict.tone == "leak" and verdict.sentence.startswith("LEAK flagged by image.near_copies")


def test_unseen_real_images_are_not_flagged(splits, features) -> None:
    unseen = splits["unseen"]
    result = _score(splits, features, unseen.images, unseen.names,
                    holdout_features=features["holdout"], holdout_images=splits["holdout"].images)
    assert result.ok and result.details["leak_detected"] is False
    assert result.value <= result.details["expected_rate_for_unseen_images"] + 0.1
    assert result.n_holdout == 24 and len(result.details["nearest"]) == 24
    assert _near_copies(result).tone == "good"


def test_without_a_holdout_there_is_no_threshold_but_the_nearest_images_are_listed(splits, features) -> None:
    result = _score(splits, features, splits["train"].images[:3], ["a", "b", "c"])
    assert result.status == "not_applicable" and "--holdout" in str(result.error)
    assert [row["nearest_by_features"] for row in result.details["nearest"]] == splits["train"].names[:3]
