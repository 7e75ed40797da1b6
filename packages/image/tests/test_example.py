"""The example recipe runs end to end offline on the tiny pipeline its script builds."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

import pytest

from biosynth.core import ImagePayload, Runner, SyntheticDataset, load_recipe, weights_sha256

pytest.importorskip("diffusers", reason="the `diffusers` extra is not installed")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _script(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_example_recipe_runs_offline(tmp_path: Path) -> None:
    pytest.importorskip("highdicom", reason="the `dicom` extra is not installed")
    import torch

    torch.set_num_threads(1)
    module = _script("build_tiny_pipeline")
    recipe_dir = tmp_path / "examples"
    recipe_dir.mkdir()
    shutil.copy(EXAMPLES / "cxr_from_reports.yaml", recipe_dir)
    module.build_tiny_pipeline(recipe_dir / "tiny-sd")
    recipe = load_recipe(recipe_dir / "cxr_from_reports.yaml")
    manifest = Runner(recipe, tmp_path / "out", base_dir=recipe_dir).run()
    assert manifest.status == "complete"
    dataset = SyntheticDataset(tmp_path / "out")
    assert dataset.verify() == []
    reports = {r.id: r for r in dataset.records("reports")}
    xrays = dataset.records("xrays")
    assert len(xrays) == 16 and len(dataset.records("xrays_dicom")) == 4
    for image in xrays:
        assert isinstance(image.payload, ImagePayload) and image.payload.media.path.endswith(".png")
        [parent] = image.parents
        assert image.labels == reports[parent].labels and image.case_id == reports[parent].case_id
        assert image.provenance.prompt.rendered.endswith(reports[parent].payload.text)
        assert image.provenance.model.sha256 == weights_sha256(recipe_dir / "tiny-sd")
    assert all(r.payload.media.path.endswith(".dcm") for r in dataset.records("xrays_dicom"))


@pytest.mark.slow
def test_default_model_example_runs_offline(tmp_path: Path) -> None:
    pytest.importorskip("skimage", reason="scikit-image (the `test` extra) is not installed")
    import torch

    from biosynth.image._default.train import build_default_config, train_default

    torch.set_num_threads(1)
    recipe_dir = tmp_path / "examples"
    recipe_dir.mkdir()
    shutil.copy(EXAMPLES / "tissue_default.yaml", recipe_dir)
    data = _script("skimage_classes").write_classes(tmp_path / "data", per_class=4)
    train_default(build_default_config(data=data, out=recipe_dir / "tissue-model", resolution=16, width=8, steps=5))
    manifest = Runner(load_recipe(recipe_dir / "tissue_default.yaml"), tmp_path / "out", base_dir=recipe_dir).run()
    assert manifest.status == "complete"
    dataset = SyntheticDataset(tmp_path / "out")
    assert dataset.verify() == []
    reports = {r.id: r for r in dataset.records("reports")}
    images = dataset.records("images")
    assert len(images) == 16
    for image in images:
        [parent] = image.parents
        assert image.labels["tissue"] == reports[parent].labels["tissue"] == image.payload.caption
        assert image.provenance.model.sha256 == weights_sha256(recipe_dir / "tissue-model")
