"""The offline default: `biosynth image train-default` on crops of scikit-image's retina, microaneurysm and cell
images, then `class_to_image` samples from the saved folder (core's contract, provenance, balance)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from biosynth.core import (
    ConfigError,
    InputDataError,
    Modality,
    Provenance,
    Record,
    SampleRequest,
    StepContext,
    TableRowPayload,
    weights_sha256,
)
from biosynth.core.testing import GeneratorContract

pytest.importorskip("diffusers", reason="the `diffusers` extra is not installed")
skimage_data = pytest.importorskip("skimage.data", reason="scikit-image (the `test` extra) is not installed")

from typer.testing import CliRunner  # noqa: E402

from biosynth.image._cli import app  # noqa: E402
from biosynth.image._default.train import build_default_config, train_default  # noqa: E402


def _crops(folder: Path) -> Path:
    """Six 40x40 crops per class from images that ship with scikit-image (offline)."""
    sources = {"retina": skimage_data.retina(), "microaneurysms": skimage_data.microaneurysms(),
               "cell": skimage_data.cell()}
    for name, image in sources.items():
        (folder / name).mkdir(parents=True)
        gray = np.asarray(Image.fromarray(image).convert("L"))
        for k in range(6):
            top, left = (k * 13) % (gray.shape[0] - 40), (k * 29) % (gray.shape[1] - 40)
            Image.fromarray(gray[top:top + 40, left:left + 40]).save(folder / name / f"{k}.png")
    return folder


@pytest.fixture(scope="module")
def default_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("default")
    config = build_default_config(data=_crops(root / "data"), out=root / "model", resolution=16, width=8, steps=30,
                                  batch_size=8, seed=2)
    return train_default(config)


class TestClassToImageContract(GeneratorContract):
    generator_name = "class_to_image"
    writes_media = True
    n_samples = 4

    @pytest.fixture(autouse=True)
    def _folder(self, default_model_dir: Path) -> None:
        self._model = default_model_dir

    def make_params(self) -> dict[str, Any]:
        return {"model": str(self._model), "steps": 3}


def test_training_writes_a_core_model_folder_and_repeats(default_model_dir: Path, tmp_path: Path) -> None:
    training = json.loads((default_model_dir / "training.json").read_text())
    assert training["classes"] == ["cell", "microaneurysms", "retina"] and training["steps"] == 30
    assert len(training["loss"]["per_step"]) == 30 and training["data"]["examples"] == 18
    again = train_default(build_default_config(data=Path(training["data"]["path"]), out=tmp_path / "again",
                                               resolution=16, width=8, steps=30, batch_size=8, seed=2))
    assert json.loads((again / "training.json").read_text())["loss"] == training["loss"]
    assert weights_sha256(again / "unet") == weights_sha256(default_model_dir / "unet")


def test_classes_come_from_the_parent_or_are_balanced(default_model_dir: Path, tmp_path: Path) -> None:
    from biosynth.image import ClassToImage

    ctx = StepContext(step="fundus", seed=4, root=tmp_path)
    records = ClassToImage({"model": str(default_model_dir), "steps": 2}).generate(
        [SampleRequest(i, 100 + i) for i in range(6)], ctx)
    assert sorted(r.labels["label"] for r in records) == ["cell", "cell", "microaneurysms", "microaneurysms",
                                                           "retina", "retina"]
    record = records[0]
    assert record.modality is Modality.IMAGE and record.provenance.model.backend == "biosynth_ddpm"
    assert record.provenance.model.sha256 == weights_sha256(default_model_dir)
    with Image.open(tmp_path / record.payload.media.path) as image:
        assert image.size == (16, 16) and image.mode == "L"
    parent = Record(id="cases-000000", case_id="case-0", modality=Modality.TABULAR,
                    payload=TableRowPayload(table="cases", values={"tissue": "retina"}),
                    provenance=Provenance(generator="attributes", generator_version="0", seed=0))
    [child] = ClassToImage({"model": str(default_model_dir), "steps": 2, "label_field": "tissue",
                            "label_name": "tissue"}).generate([SampleRequest(0, 1, parent)], ctx)
    assert child.labels == {"tissue": "retina"} and child.parents == ("cases-000000",)


def test_cli_and_refusals(default_model_dir: Path, tmp_path: Path) -> None:
    from biosynth.image import ClassToImage

    data = _crops(tmp_path / "data")
    result = CliRunner().invoke(app, ["train-default", str(data), "--out", str(tmp_path / "m"), "--resolution", "16",
                                      "--width", "8", "--steps", "2", "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputDataError, match="no images"):
        train_default(build_default_config(data=tmp_path / "empty", out=tmp_path / "x"))
    refused = CliRunner().invoke(app, ["train-default", str(data), "--out", str(tmp_path / "m"), "--steps", "1"])
    assert isinstance(refused.exception, ConfigError) and "--overwrite" in str(refused.exception)
    (tmp_path / "m" / "classes.json").write_text('["changed"]')
    with pytest.raises(InputDataError, match="sha256"):
        ClassToImage({"model": str(tmp_path / "m")}).generate([SampleRequest(0, 1)],
                                                              StepContext(step="s", seed=1, root=tmp_path))
    with pytest.raises(ConfigError, match="not both"):
        ClassToImage({"model": str(default_model_dir), "label": "cell", "label_field": "x"})
