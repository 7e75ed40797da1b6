"""`text_to_image` on a tiny SDXL folder (two text encoders, `text_time` UNet conditioning), built from configs.

The same checks as the SD 1.x tests: core's generator contract (same seed, same records; batch composition
changes no image; media files match their refs), the pipeline class and weights hash in the provenance,
byte-identical PNGs, LoRA; and what only SDXL has: the size/crop conditioning and the zero negative embeddings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from biosynth.core import SampleRequest, StepContext, weights_sha256
from biosynth.core.testing import GeneratorContract
from biosynth.image import TextToImage, read_png_provenance

pytest.importorskip("diffusers", reason="the `diffusers` extra is not installed")

SIZE = 32  # as the tiny pipelines in conftest.py (the folders `tiny_sdxl_dir`, `tiny_sdxl_lora_dir` are built there)
SDXL = "StableDiffusionXLPipeline"


def _params(folder: Path, **more: Any) -> dict[str, Any]:
    return {"pipeline": str(folder), "steps": 2, "width": SIZE, "height": SIZE, "guidance": 3.0,
            "prompt": {"template": "a chest x ray", "template_id": "cxr-plain/v1"}, **more}


def _one(params: dict[str, Any], seed: int, root: Path) -> Any:
    [record] = TextToImage(params).generate([SampleRequest(0, seed)], StepContext(step="xray", seed=1, root=root))
    return record


class TestTextToImageSdxlContract(GeneratorContract):
    generator_name = "text_to_image"
    writes_media = True
    n_samples = 4

    @pytest.fixture(autouse=True)
    def _folder(self, tiny_sdxl_dir: Path) -> None:
        self._folder_path = tiny_sdxl_dir

    def make_params(self) -> dict[str, Any]:
        return _params(self._folder_path, negative_prompt="blurry",
                       prompt={"attributes": {"view": ["PA", "AP", "lateral"]},
                               "template": "a chest x ray, $view view", "template_id": "cxr/v1"})


def test_the_folder_has_the_sdxl_layout(tiny_sdxl_dir: Path) -> None:
    """The builder writes what SDXL checkpoints hold: a second tokenizer and a projecting second encoder."""
    import json

    index = json.loads((tiny_sdxl_dir / "model_index.json").read_text())
    assert index["_class_name"] == SDXL and index["text_encoder_2"] == ["transformers", "CLIPTextModelWithProjection"]
    assert index["tokenizer_2"] == ["transformers", "CLIPTokenizer"]
    unet = json.loads((tiny_sdxl_dir / "unet" / "config.json").read_text())
    assert unet["addition_embed_type"] == "text_time" and unet["cross_attention_dim"] == 64
    assert not [p for p in tiny_sdxl_dir.rglob("*") if p.suffix in (".bin", ".pt", ".ckpt", ".pkl")]


def test_sdxl_is_loaded_as_such_and_recorded(tiny_sdxl_dir: Path, tmp_path: Path) -> None:
    record = _one(_params(tiny_sdxl_dir, grayscale=True), 42, tmp_path)
    prov = record.provenance
    assert prov.model is not None and prov.model.backend == "diffusers"
    assert prov.model.revision == SDXL and prov.model.sha256 == weights_sha256(tiny_sdxl_dir)
    assert prov.extra["pipeline_class"] == SDXL
    assert prov.extra["scheduler_class"] == "EulerDiscreteScheduler"  # the folder's, none named in the recipe
    assert prov.extra["sdxl"] == {"original_size": [SIZE, SIZE], "crops_coords_top_left": [0, 0],
                                  "target_size": [SIZE, SIZE], "negative_conditioning": "zeros"}
    path = tmp_path / record.payload.media.path
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (SIZE, SIZE) and image.mode == "L"
    embedded = read_png_provenance(path.read_bytes())
    assert embedded["provenance"] == prov.model_dump(mode="json", exclude={"created_at"})


def test_sdxl_same_seed_gives_byte_identical_pngs(tiny_sdxl_dir: Path, tmp_path: Path) -> None:
    params = _params(tiny_sdxl_dir, scheduler="euler_a")
    runs = [(tmp_path / name / _one(params, seed, tmp_path / name).payload.media.path).read_bytes()
            for name, seed in (("a", 5), ("b", 5), ("c", 6))]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    with Image.open(tmp_path / "a" / "media/xray/xray-000000.png") as a, \
            Image.open(tmp_path / "c" / "media/xray/xray-000000.png") as c:
        assert a.tobytes() != c.tobytes()


def test_sdxl_negative_prompt_reaches_both_encoders(tiny_sdxl_dir: Path, tmp_path: Path) -> None:
    """A negative prompt replaces the zero embeddings, and a different one gives a different image."""
    plain = _one(_params(tiny_sdxl_dir), 5, tmp_path / "plain")
    blurry = _one(_params(tiny_sdxl_dir, negative_prompt="blurry"), 5, tmp_path / "blurry")
    noisy = _one(_params(tiny_sdxl_dir, negative_prompt="noise"), 5, tmp_path / "noisy")
    assert blurry.provenance.extra["sdxl"]["negative_conditioning"] == "encoded by both text encoders"
    assert blurry.provenance.extra["negative_prompt"] == "blurry"
    assert len({plain.payload.media.sha256, blurry.payload.media.sha256, noisy.payload.media.sha256}) == 3


def test_sdxl_size_conditioning_follows_the_requested_size(tiny_sdxl_dir: Path, tmp_path: Path) -> None:
    record = _one(_params(tiny_sdxl_dir, width=2 * SIZE, height=SIZE), 5, tmp_path)
    assert (record.payload.width, record.payload.height) == (2 * SIZE, SIZE)
    sdxl = record.provenance.extra["sdxl"]
    assert sdxl["original_size"] == sdxl["target_size"] == [SIZE, 2 * SIZE]  # (height, width), as SDXL takes them


def test_sdxl_lora_changes_the_image_and_its_hash_is_recorded(tiny_sdxl_dir: Path, tiny_sdxl_lora_dir: Path,
                                                              tmp_path: Path) -> None:
    plain = _one(_params(tiny_sdxl_dir), 5, tmp_path / "plain")
    adapted = _one(_params(tiny_sdxl_dir, loras=[{"kind": "lora_adapter", "backend": "safetensors",
                                            "params": {"path": str(tiny_sdxl_lora_dir), "scale": 0.8}}]),
                   5, tmp_path / "lora")
    [lora] = adapted.provenance.extra["loras"]
    assert lora["sha256"] == weights_sha256(tiny_sdxl_lora_dir / "pytorch_lora_weights.safetensors")
    assert lora["scale"] == 0.8
    assert adapted.payload.media.sha256 != plain.payload.media.sha256


def test_sd1_records_no_sdxl_conditioning(tiny_pipeline_dir: Path, tmp_path: Path) -> None:
    record = _one(_params(tiny_pipeline_dir), 5, tmp_path)
    assert record.provenance.extra["pipeline_class"] == "StableDiffusionPipeline"
    assert "sdxl" not in record.provenance.extra
