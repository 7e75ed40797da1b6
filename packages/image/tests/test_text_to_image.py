"""`text_to_image` on a tiny pipeline: core's generator contract, PNG provenance, byte-identical repeats, LoRA."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from biosynth.core import (
    ConfigError,
    Modality,
    Provenance,
    Record,
    SampleRequest,
    StepContext,
    TextPayload,
    weights_sha256,
)
from biosynth.core.testing import GeneratorContract
from biosynth.image import PROVENANCE_KEY, TextToImage, read_png_provenance

pytest.importorskip("diffusers", reason="the `diffusers` extra is not installed")

SIZE = 32  # as the tiny pipeline in conftest.py


def _finding(i: int) -> Record:
    return Record(id=f"findings-{i:06d}", case_id=f"case-{i}", modality=Modality.TEXT,
                  payload=TextPayload(text=f"chest x ray with a small left pleural effusion number {i}"),
                  labels={"finding": "effusion" if i % 2 else "normal"},
                  provenance=Provenance(generator="template_text", generator_version="0", seed=i))


def _params(folder: Path, **more: Any) -> dict[str, Any]:
    return {"pipeline": str(folder), "steps": 2, "width": SIZE, "height": SIZE, "guidance": 3.0, **more}


class TestTextToImageContract(GeneratorContract):
    generator_name = "text_to_image"
    writes_media = True
    n_samples = 4

    @pytest.fixture(autouse=True)
    def _folder(self, tiny_pipeline_dir: Path) -> None:
        self._folder_path = tiny_pipeline_dir

    def make_params(self) -> dict[str, Any]:
        return _params(self._folder_path, scheduler="euler_a", negative_prompt="blurry",
                       prompt={"attributes": {"view": ["PA", "AP", "lateral"], "age": {"type": "integer", "low": 20,
                                                                                         "high": 90}},
                               "template": "a chest x ray, $view view, patient aged $age", "template_id": "cxr/v1"})


class TestTextToImageFromRecordsContract(GeneratorContract):
    """Prompts written by a language model (the fake backend) from parent text records."""

    generator_name = "text_to_image"
    writes_media = True
    n_samples = 3

    @pytest.fixture(autouse=True)
    def _folder(self, tiny_pipeline_dir: Path) -> None:
        self._folder_path = tiny_pipeline_dir

    def make_params(self) -> dict[str, Any]:
        return _params(self._folder_path, prompt={"writer": {"backend": "fake"}, "image_type": "chest X-ray"})

    def make_inputs(self) -> list[Record]:
        return [_finding(i) for i in range(2)]


def _generate(params: dict[str, Any], requests: list[SampleRequest], root: Path) -> tuple[list[Any], StepContext]:
    ctx = StepContext(step="xray", seed=1, root=root)
    return TextToImage(params).generate(requests, ctx), ctx


def test_png_carries_the_provenance_and_the_record_matches(tiny_pipeline_dir: Path, tmp_path: Path) -> None:
    params = _params(tiny_pipeline_dir, scheduler="dpm++", grayscale=True,
                     prompt={"template": "a chest x ray showing $finding. $text", "template_id": "cxr-finding/v1"})
    [record], _ = _generate(params, [SampleRequest(0, 42, _finding(3))], tmp_path)
    assert isinstance(record, Record) and record.modality is Modality.IMAGE
    payload = record.payload
    path = tmp_path / payload.media.path
    assert payload.media.path == "media/xray/xray-000000.png" and payload.media.mime_type == "image/png"
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (SIZE, SIZE) and image.mode == "L"
        assert PROVENANCE_KEY in image.text
    embedded = read_png_provenance(path.read_bytes())
    assert embedded["record_id"] == record.id and embedded["parents"] == ["findings-000003"]
    assert embedded["provenance"] == record.provenance.model_dump(mode="json", exclude={"created_at"})
    prov = record.provenance
    assert prov.model is not None and prov.model.backend == "diffusers"
    assert prov.model.sha256 == weights_sha256(tiny_pipeline_dir) and prov.model.revision == "StableDiffusionPipeline"
    assert prov.prompt is not None and prov.prompt.template_id == "cxr-finding/v1"
    assert prov.prompt.rendered == ("a chest x ray showing effusion. chest x ray with a small left pleural effusion "
                                    "number 3")
    assert payload.caption == prov.prompt.rendered
    assert prov.extra["scheduler"] == "dpm++" and prov.extra["scheduler_class"] == "DPMSolverMultistepScheduler"
    assert prov.extra["steps"] == 2 and prov.extra["loras"] == []
    assert record.labels == {"finding": "effusion"} and record.parents == ("findings-000003",)


def test_same_seed_gives_byte_identical_pngs_and_another_seed_does_not(tiny_pipeline_dir: Path, tmp_path: Path) -> None:
    params = _params(tiny_pipeline_dir, prompt={"template": "a chest x ray", "template_id": "cxr-plain/v1"})
    runs = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        [record], _ = _generate(params, [SampleRequest(0, seed)], tmp_path / name)
        runs.append((tmp_path / name / record.payload.media.path).read_bytes())
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    pixels = [Image.open(io.BytesIO(data)).tobytes() for data in runs]
    assert pixels[0] != pixels[2]


def test_lora_changes_the_image_and_its_hash_is_recorded(tiny_pipeline_dir: Path, tiny_lora_dir: Path,
                                                         tmp_path: Path) -> None:
    params = _params(tiny_pipeline_dir, prompt={"template": "a chest x ray", "template_id": "cxr-plain/v1"})
    [plain], _ = _generate(params, [SampleRequest(0, 5)], tmp_path / "plain")
    [adapted], _ = _generate({**params, "loras": [{"kind": "lora_adapter", "backend": "safetensors",
                                                   "params": {"path": str(tiny_lora_dir), "scale": 0.8}}]},
                             [SampleRequest(0, 5)], tmp_path / "lora")
    [lora] = adapted.provenance.extra["loras"]
    assert lora["sha256"] == weights_sha256(tiny_lora_dir / "pytorch_lora_weights.safetensors")
    assert lora["scale"] == 0.8 and lora["backend"] == "safetensors"
    assert adapted.payload.media.sha256 != plain.payload.media.sha256


def test_writer_is_recorded_as_the_prompts_author(tiny_pipeline_dir: Path, tmp_path: Path) -> None:
    params = _params(tiny_pipeline_dir, prompt={"writer": {"backend": "fake", "params": {
        "responses": ["Frontal chest radiograph, small left effusion\nextra line"]}}})
    [record], _ = _generate(params, [SampleRequest(0, 3, _finding(1))], tmp_path)
    prov = record.provenance
    assert prov.prompt.rendered == "Frontal chest radiograph, small left effusion"
    assert prov.prompt.template_id == "image/prompt-writer/v1"
    writer = prov.extra["prompt_writer"]
    assert writer["model"]["backend"] == "fake"
    assert "small left pleural effusion number 1" in writer["prompt"]["rendered"]
    assert writer["input_template"]["template_id"] == "image/prompt/v1"


def test_unsafe_or_wrong_folders_are_refused(tiny_pipeline_dir: Path, tmp_path: Path) -> None:
    from biosynth.image import DiffusersPipeline

    with pytest.raises(ConfigError, match=r"model_index\.json"):
        DiffusersPipeline.check_params({"path": str(tmp_path)})
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model_index.json").write_text('{"_class_name": "MyPipeline"}')
    with pytest.raises(ConfigError, match="not supported"):
        DiffusersPipeline.check_params({"path": str(bad)})
    (bad / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline", "unet": ["my_code", "UNet"]}')
    with pytest.raises(ConfigError, match="trust_remote_code"):
        DiffusersPipeline.check_params({"path": str(bad)})
    (bad / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    (bad / "weights.bin").write_bytes(b"x")
    with pytest.raises(ConfigError, match="pickled"):
        DiffusersPipeline.check_params({"path": str(bad)})
    with pytest.raises(ConfigError, match="safetensors"):
        TextToImage(_params(tiny_pipeline_dir, loras=[str(tmp_path / "x.bin")])).generate(
            [SampleRequest(0, 1)], StepContext(step="s", seed=1, root=tmp_path))
    with pytest.raises(ConfigError, match="template_id"):
        TextToImage(_params(tiny_pipeline_dir, prompt={"template": "x"}))
    with pytest.raises(ConfigError, match="scheduler"):
        TextToImage(_params(tiny_pipeline_dir, scheduler="no-such"))
