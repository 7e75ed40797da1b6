"""`image_to_image` and `inpaint`: inputs as core InputFiles (fingerprinted, real data under the policy) or a
parent image record; DICOM inputs give pixels only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from biosynth.core import (
    ConfigError,
    PolicyError,
    Record,
    SampleRequest,
    StepContext,
    parse_recipe,
    plan,
    sha256_file,
)
from biosynth.core.testing import GeneratorContract
from biosynth.image import ImageToImage, Inpaint, TextToImage, read_png_provenance

pytest.importorskip("diffusers", reason="the `diffusers` extra is not installed")

SIZE = 32


def _write_images(folder: Path, n: int = 2, size: int = 40) -> Path:
    """`n` small seeded PNGs (40x40, so the generators resize them to the pipeline's 32x32)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        pixels = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"img-{i}.png")
    return folder


def _params(folder: Path, **more: Any) -> dict[str, Any]:
    return {"pipeline": str(folder), "steps": 2, "width": SIZE, "height": SIZE,
            "prompt": {"template": "a dermoscopy image of a nevus", "template_id": "derm/v1"}, **more}


@pytest.fixture(scope="module")
def images_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_images(tmp_path_factory.mktemp("images"))


class TestImageToImageContract(GeneratorContract):
    generator_name = "image_to_image"
    writes_media = True
    n_samples = 3

    @pytest.fixture(autouse=True)
    def _folders(self, tiny_pipeline_dir: Path, images_dir: Path) -> None:
        self._pipe, self._images = tiny_pipeline_dir, images_dir

    def make_params(self) -> dict[str, Any]:
        return _params(self._pipe, image={"path": str(self._images), "real": False}, strength=0.9, scheduler="ddim")


class TestInpaintContract(GeneratorContract):
    generator_name = "inpaint"
    writes_media = True
    n_samples = 2

    @pytest.fixture(autouse=True)
    def _folders(self, tiny_pipeline_dir: Path, images_dir: Path) -> None:
        self._pipe, self._images = tiny_pipeline_dir, images_dir

    def make_params(self) -> dict[str, Any]:
        return _params(self._pipe, image=str(self._images), mask_box=[0.25, 0.25, 0.75, 0.75])


def test_input_images_are_fingerprinted_and_used_in_turn(tiny_pipeline_dir: Path, images_dir: Path,
                                                         tmp_path: Path) -> None:
    ctx = StepContext(step="derm", seed=1, root=tmp_path)
    records = ImageToImage(_params(tiny_pipeline_dir, image=str(images_dir))).generate(
        [SampleRequest(i, 10 + i) for i in range(3)], ctx)
    facts = [r.provenance.extra["input_image"] for r in records]
    assert [f["file"] for f in facts] == ["img-0.png", "img-1.png", "img-0.png"]
    assert facts[1]["sha256"] == sha256_file(images_dir / "img-1.png") and facts[1]["real"] is True
    assert all(r.payload.width == SIZE and r.payload.height == SIZE for r in records)
    assert records[0].provenance.extra["strength"] == 0.6
    assert records[0].provenance.extra["pipeline_class"] == "StableDiffusionImg2ImgPipeline"


def test_real_input_redacts_the_prompt(tiny_pipeline_dir: Path, images_dir: Path, tmp_path: Path) -> None:
    ctx = StepContext(step="derm", seed=1, root=tmp_path, real_data=True)
    [record] = ImageToImage(_params(tiny_pipeline_dir, image=str(images_dir))).generate([SampleRequest(0, 1)], ctx)
    assert record.provenance.prompt.redacted and record.provenance.prompt.rendered is None
    assert record.payload.caption is None
    assert read_png_provenance((tmp_path / record.payload.media.path).read_bytes())["provenance"]["prompt"][
        "rendered"] is None


def test_dicom_input_gives_pixels_only(tiny_pipeline_dir: Path, tmp_path: Path) -> None:
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    source = Path(get_testdata_file("CT_small.dcm"))
    real = pydicom.dcmread(source)
    ctx = StepContext(step="ct", seed=1, root=tmp_path)
    for output in ("png", "dicom"):
        params = _params(tiny_pipeline_dir, image=str(source), grayscale=True, format=output)
        [record] = ImageToImage(params).generate([SampleRequest(0, 5)], ctx)
        assert isinstance(record, Record), record
        assert record.provenance.extra["input_image"]["sha256"] == sha256_file(source)
        data = (tmp_path / record.payload.media.path).read_bytes()
        for identifying in (str(real.PatientName), str(real.PatientID), real.StudyInstanceUID, real.SOPInstanceUID):
            assert identifying.encode() not in data
        if output == "dicom":
            written = pydicom.dcmread(tmp_path / record.payload.media.path)
            assert written.PatientID == "case-ct-000000" and written.SyntheticData == "YES"


def test_image_from_a_parent_image_record_and_inpaint_mask_file(tiny_pipeline_dir: Path, tmp_path: Path) -> None:
    [parent] = TextToImage(_params(tiny_pipeline_dir)).generate([SampleRequest(0, 3)],
                                                                 StepContext(step="base", seed=1, root=tmp_path))
    ctx = StepContext(step="edit", seed=2, root=tmp_path)
    [edited] = ImageToImage(_params(tiny_pipeline_dir, prompt={})).generate([SampleRequest(0, 4, parent)], ctx)
    assert edited.parents == (parent.id,)
    assert edited.provenance.extra["input_image"] == {"source": "parent", "record": parent.id,
                                                      "sha256": parent.payload.media.sha256}
    assert edited.provenance.prompt.rendered == parent.payload.caption  # the parent's caption is the description
    masks = tmp_path / "masks"
    masks.mkdir()
    mask = Image.new("L", (SIZE, SIZE), 0)
    mask.paste(255, (8, 8, 24, 24))
    mask.save(masks / "m.png")
    [inpainted] = Inpaint(_params(tiny_pipeline_dir, mask=str(masks))).generate(
        [SampleRequest(0, 4, parent)], StepContext(step="lesion", seed=3, root=tmp_path))
    assert inpainted.provenance.extra["mask"]["sha256"] == sha256_file(masks / "m.png")
    assert inpainted.provenance.extra["pipeline_class"] == "StableDiffusionInpaintPipeline"


def test_missing_inputs_and_masks_are_refused(tiny_pipeline_dir: Path, images_dir: Path, tmp_path: Path) -> None:
    [failure] = ImageToImage(_params(tiny_pipeline_dir)).generate([SampleRequest(0, 1)],
                                                                  StepContext(step="s", seed=1, root=tmp_path))
    assert "give `image`" in failure.reason
    with pytest.raises(ConfigError, match="exactly one of `mask`"):
        Inpaint(_params(tiny_pipeline_dir, image=str(images_dir)))
    with pytest.raises(ConfigError, match="mask_box"):
        Inpaint(_params(tiny_pipeline_dir, image=str(images_dir), mask_box=[0.5, 0, 0.2, 1]))


def test_real_input_images_keep_a_remote_prompt_writer_out(tiny_pipeline_dir: Path, images_dir: Path,
                                                           tmp_path: Path) -> None:
    recipe = parse_recipe({"name": "policy", "seed": 1, "steps": [{
        "name": "edit", "generator": "image_to_image", "count": 1,
        "params": _params(tiny_pipeline_dir, image=str(images_dir),
                          prompt={"writer": {"backend": "fake", "params": {"remote": True}}})}]})
    with pytest.raises(PolicyError):
        plan(recipe, base_dir=tmp_path)
    [entry] = plan(parse_recipe({"name": "ok", "seed": 1, "steps": [{
        "name": "edit", "generator": "image_to_image", "count": 1,
        "params": _params(tiny_pipeline_dir, image=str(images_dir))}]}), base_dir=tmp_path)
    [(parameter, fingerprint)] = entry.inputs
    assert parameter == "image" and fingerprint.real and fingerprint.sha256 == sha256_file(images_dir)
    assert {d.kind for d in entry.decisions} == {"diffusion_pipeline"}
