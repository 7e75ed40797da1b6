"""`biosynth evaluate` on a dataset of image records: features from a local model folder (--image-features; the
default EfficientNet-Lite0 runs in tests/test_image_example_report.py), per-class scores from the records' labels,
near-copies against --holdout, thumbnails that decode and render, and wrong inputs."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from biosynth.core import BiosynthError, Group, Registry, parse_recipe, run_recipe
from biosynth.eval import EvaluationReport
from biosynth.eval._cli import app as evaluate_app
from biosynth.eval._image.io import ImageSet

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Chromium is required for this test: apt-get install chromium (.ci/run installs it)"
    return found


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, tile_generator, splits, write_folder) -> tuple[Path, Path, EvaluationReport]:
    import torch
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    root = tmp_path_factory.mktemp("image-cli")
    torch.manual_seed(0)  # a tiny DINOv2 folder in RadDino's layout (safetensors + BitImageProcessor)
    Dinov2Model(Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                             image_size=32, patch_size=8)).save_pretrained(root / "dino")
    BitImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(root / "dino")
    registry = Registry()
    registry.register(Group.GENERATORS, "test_tiles", tile_generator)
    recipe = parse_recipe({"name": "tiles", "seed": 3, "steps": [
        {"name": "images", "generator": "test_tiles", "count": 12, "params": {"first": 36}}]})
    run_recipe(recipe, root / "ds", registry=registry)
    real = write_folder(ImageSet(splits["train"].images[::2], splits["train"].names[::2], []), root / "real")
    holdout = write_folder(ImageSet(splits["holdout"].images[::2], splits["holdout"].names[::2], []), root / "holdout")
    done = CliRunner().invoke(evaluate_app, [str(root / "ds"), "--real", str(real), "--holdout", str(holdout),
                                             "--out", str(root / "report"), "--bootstrap", "20",
                                             "--image-features", str(root / "dino")])
    assert done.exit_code == 0, done.output
    return root, root / "report", EvaluationReport.model_validate_json((root / "report" / "report.json").read_text())


def test_the_cli_scores_image_records(evaluated) -> None:
    _, _, report = evaluated
    assert report.modality == "image" and (report.n_real, report.n_synthetic, report.n_holdout) == (18, 12, 12)
    fid = report.result("image.fid")
    assert fid.ok and fid.ci is not None and fid.parameters["features"].startswith("Dinov2Model from dino (sha256 ")
    assert report.software["num_features"] == "32"  # the report names the features it used
    per_class = report.result("image.fid_per_class")
    assert per_class.ok and per_class.parameters["label"] == "tissue"  # found: its values are --real's class folders
    assert per_class.details["mean_over"] == ["cell", "ihc", "retina"]
    assert report.result("image.near_copies").ok and report.result("image.ms_ssim").ok
    assert report.provenance is not None and report.provenance["records"] == 12


def test_thumbnails_are_png_data_uris_that_pillow_decodes(evaluated) -> None:
    _, out, report = evaluated
    gallery = report.figures["image_gallery"]  # type: ignore[index]
    assert len(gallery["synthetic"]) == 8 and len(gallery["real"]) == 8
    assert gallery["synthetic"][0]["caption"] == "a tile of retina tissue"
    assert gallery["synthetic"][0]["provenance"]["generator"].startswith("test_tiles")
    for item in gallery["synthetic"] + gallery["real"]:
        prefix, encoded = item["src"].split(",", 1)
        assert prefix == "data:image/png;base64"
        with Image.open(io.BytesIO(base64.b64decode(encoded))) as picture:
            assert picture.format == "PNG" and picture.size == (32, 32)
    page = (out / "report.html").read_text()
    assert page.count("<img src='data:image/png;base64,") == 16 and "a tile of retina tissue" in page


def test_the_thumbnails_render_in_headless_chromium(evaluated, tmp_path) -> None:
    """A copy of report.html with one script that records each <img>'s natural size once the page has loaded."""
    _, out, _ = evaluated
    probe = tmp_path / "probe.html"
    probe.write_text((out / "report.html").read_text().replace(
        "</body>", "<script>addEventListener('load',()=>{document.body.dataset.widths=[...document.images]"
                   ".map(i=>i.naturalWidth+'x'+i.naturalHeight).join(' ')})</script></body>"), encoding="utf-8")
    dom = subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                          "--virtual-time-budget=5000", "--dump-dom", probe.resolve().as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = re.search(r'data-widths="([^"]*)"', dom.stdout)
    assert found, dom.stdout[-2000:]
    assert found.group(1).split() == ["32x32"] * 16


@pytest.mark.parametrize(("extra", "expected"), [
    (["--table", "t"], "--table do not apply to images"),
    (["--reference", "x.txt"], "--reference do not apply to images"),
    (["--label", "age"], "--label 'age' is not a label of every synthetic image record"),
    (["--image-features", "nowhere"], "--image-features 'nowhere' does not exist"),
])
def test_options_that_do_not_apply_are_refused(evaluated, extra: list[str], expected: str) -> None:
    root, _, _ = evaluated
    done = CliRunner().invoke(evaluate_app, [str(root / "ds"), "--real", str(root / "real"), "--out",
                                             str(root / "r2"), *extra])
    assert isinstance(done.exception, BiosynthError) and expected in str(done.exception)
    assert not (root / "r2").exists()


def test_a_real_file_instead_of_a_folder_exits_2_naming_it(evaluated) -> None:
    root, _, _ = evaluated
    (root / "real.csv").write_text("a\n1\n")
    done = subprocess.run([sys.executable, "-c", "from biosynth.core.cli import main; main()", "evaluate",
                           str(root / "ds"), "--real", str(root / "real.csv"), "--out", str(root / "r3")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--real" in done.stderr + done.stdout and "expected a folder of images" in done.stderr + done.stdout


def test_images_with_texts_written_from_them_are_scored_as_images_unless_the_text_step_is_named(
        tmp_path, tile_generator, splits, write_folder) -> None:
    """An image record's text is its caption: a dataset of images and reports drawn from them is an image evaluation;
    naming the reports' step scores the texts (here its --real, a folder of images, is then refused for text)."""
    from biosynth.core import Draft, Generator, GeneratorParams, SyntheticDataset, TextPayload
    from biosynth.eval._cli import _Options, _plan

    class Reports(Generator[GeneratorParams]):  # a report written from each image (its caption), through core alone
        name = "test_reports"
        input_required = True

        def _generate_one(self, request, ctx) -> Draft:  # type: ignore[no-untyped-def]
            return Draft(payload=TextPayload(text=f"Report: {request.input.payload.caption}"))

    registry = Registry()
    registry.register(Group.GENERATORS, "test_tiles", tile_generator)
    registry.register(Group.GENERATORS, "test_reports", Reports)
    recipe = parse_recipe({"name": "tiles-and-notes", "seed": 2, "steps": [
        {"name": "images", "generator": "test_tiles", "count": 3},
        {"name": "notes", "generator": "test_reports", "from": "images"}]})
    run_recipe(recipe, tmp_path / "ds", registry=registry)
    real = write_folder(splits["holdout"], tmp_path / "real")
    options = _Options(real=real, holdout=None, step=None, table=None, metadata=None, seed=0, n_bootstrap=0,
                       target=None, reference=None, reference_lm=None, label=None, sensitive=None, image_features=None)
    dataset = SyntheticDataset(tmp_path / "ds")
    assert _plan(dataset, options)[1] == "images"
    assert dataset.records("notes")[0].payload.text.startswith("Report: a tile of")  # type: ignore[union-attr]
    with pytest.raises(BiosynthError, match=r"no non-empty \.txt files"):
        _plan(dataset, options._replace(step="notes"))
