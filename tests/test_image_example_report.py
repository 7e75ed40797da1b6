"""Issue 15's example end to end, offline: the small default model trained on scikit-image's pictures, the tissue
recipe (16 cases, a report each, an image each), and `biosynth evaluate` on its images against the training crops
and held-out crops, into report.html with thumbnails that decode as PNG."""

from __future__ import annotations

import base64
import importlib.util
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from biosynth.core import Runner, load_recipe
from biosynth.eval import EvaluationReport
from biosynth.eval._cli import app as evaluate_app

EXAMPLES = Path(__file__).resolve().parents[1] / "packages" / "image" / "examples"


def _script(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_the_tissue_example_is_evaluated_into_a_report_with_thumbnails(tmp_path: Path) -> None:
    import torch

    from biosynth.image._default.train import build_default_config, train_default

    torch.set_num_threads(1)
    recipe_dir = tmp_path / "examples"
    recipe_dir.mkdir()
    recipe = (EXAMPLES / "tissue_default.yaml").read_text(encoding="utf-8")
    assert recipe.count("steps: 50") == 1  # 10 DDIM steps here: the evaluation is under test, not the sampling
    (recipe_dir / "tissue_default.yaml").write_text(recipe.replace("steps: 50", "steps: 10"), encoding="utf-8")
    classes = _script("skimage_classes")
    holdout = tmp_path / "holdout"
    data = classes.write_classes(tmp_path / "data", per_class=6, holdout=holdout, holdout_per_class=2)
    # fewer steps and a smaller model than the README's command: the machinery, not the quality, is tested here
    train_default(build_default_config(data=data, out=recipe_dir / "tissue-model", resolution=16, width=8, steps=5))
    assert Runner(load_recipe(recipe_dir / "tissue_default.yaml"), tmp_path / "out", base_dir=recipe_dir).run().status \
        == "complete"

    done = CliRunner().invoke(evaluate_app, [str(tmp_path / "out"), "--step", "images", "--real", str(data),
                                             "--holdout", str(holdout), "--out", str(tmp_path / "report"),
                                             "--bootstrap", "20"])
    assert done.exit_code == 0, done.output
    report = EvaluationReport.model_validate_json((tmp_path / "report" / "report.json").read_text())
    assert report.modality == "image" and (report.n_real, report.n_synthetic, report.n_holdout) == (24, 16, 8)
    assert report.result("image.fid").ok and report.result("image.near_copies").ok
    per_class = report.result("image.fid_per_class")  # the records' `tissue` label matches the class folders
    assert per_class.parameters["label"] == "tissue" and {row["class"] for row in per_class.details["classes"]} <= {
        "retina", "microaneurysms", "cell", "ihc"} and len(per_class.details["classes"]) >= 2
    assert report.result("image.fid").parameters["features"].endswith("224 px, 1280-d average pool")  # the default
    gallery = report.figures["image_gallery"]  # type: ignore[index]
    assert len(gallery["synthetic"]) == 8 and len(gallery["real"]) == 8
    assert gallery["synthetic"][0]["provenance"]["generator"].startswith("class_to_image")
    for item in gallery["synthetic"]:
        with Image.open(io.BytesIO(base64.b64decode(item["src"].split(",", 1)[1]))) as picture:
            assert picture.format == "PNG" and picture.size == (16, 16)
    page = (tmp_path / "report" / "report.html").read_text()
    assert page.count("<img src='data:image/png;base64,") == 16 and "Synthetic images" in page
