"""`biosynth image finetune`: LoRA on the tiny pipeline; the saved adapter reproduces the trained one's images,
a resumed run ends where an unbroken one does, the folder is a core model folder."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from biosynth.core import MARKER, ConfigError, InputDataError, check_model_folder, derive_seed, sha256_file

pytest.importorskip("diffusers", reason="the `diffusers` extra is not installed")
pytest.importorskip("peft", reason="the `lora` extra is not installed")

from typer.testing import CliRunner

from biosynth.image._cli import app
from biosynth.image._finetune.config import MODEL_FORMAT, MODEL_KIND, ImageFinetuneConfig, build_config
from biosynth.image._finetune.training import finetune

SIZE = 32


def _data(folder: Path, *, captions: bool = True) -> Path:
    """4 seeded 36x40 images: with metadata.jsonl captions, or in class sub-folders (effusion/, normal/)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    rows = []
    for i in range(4):
        name = f"img-{i}.png"
        target = folder / name if captions else folder / ("normal" if i % 2 else "effusion") / name
        target.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, size=(40, 36, 3), dtype=np.uint8)).save(target)
        rows.append({"file_name": name, "text": f"a chest x ray {i}"})
    if captions:
        (folder / "metadata.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return folder


def _config(data: Path, base: Path, out: Path, **more: object) -> ImageFinetuneConfig:
    values = {"rank": 2, "max_steps": 4, "batch_size": 2, "resolution": SIZE, "learning_rate": 1e-3,
              "validation_prompts": ("a chest x ray",), "validation_every": 2, "validation_steps": 2, "seed": 3,
              "random_flip": True, **more}
    return build_config(data=data, base=base, out=out, **values)


def test_trained_saved_and_loaded_adapter_gives_identical_images(tiny_pipeline_dir: Path, tmp_path: Path) -> None:
    import torch

    from biosynth.image import DiffusersPipeline

    out = finetune(_config(_data(tmp_path / "data"), tiny_pipeline_dir, tmp_path / "lora", train_text_encoder=True,
                           snr_gamma=5.0, noise_offset=0.05, gradient_accumulation=2, lr_scheduler="cosine"))
    marker = check_model_folder(out, MODEL_KIND, MODEL_FORMAT, allowed_suffixes=(".json", ".safetensors", ".md", ".png"))
    assert marker["steps"] == 4 and len(marker["loss"]["per_step"]) == 4
    assert marker["data"]["sha256"] == sha256_file(tmp_path / "data") and marker["data"]["examples"] == 4
    assert marker["base"]["sha256"] and marker["seed"] == 3
    assert (out / "README.md").read_text().startswith("# lora")
    assert [v["step"] for v in marker["validation"]] == [2, 4]
    validation = Image.open(out / "validation" / "step-000004-0.png")

    component = DiffusersPipeline(tiny_pipeline_dir)
    component.load_loras([("trained", out / "pytorch_lora_weights.safetensors", 1.0)])
    pipe = component.for_task("text_to_image")
    seed = derive_seed(3, "validation", 0)
    again = pipe("a chest x ray", num_inference_steps=2, height=SIZE, width=SIZE, output_type="pil",
                 generator=torch.Generator().manual_seed(seed)).images[0]
    assert again.tobytes() == validation.tobytes()
    plain = DiffusersPipeline(tiny_pipeline_dir).for_task("text_to_image")(
        "a chest x ray", num_inference_steps=2, height=SIZE, width=SIZE, output_type="pil",
        generator=torch.Generator().manual_seed(seed)).images[0]
    assert plain.tobytes() != validation.tobytes()


def test_resumed_run_ends_with_the_same_adapter(tiny_pipeline_dir: Path, tmp_path: Path) -> None:
    data = _data(tmp_path / "data")
    whole = finetune(_config(data, tiny_pipeline_dir, tmp_path / "whole"))
    first = _config(data, tiny_pipeline_dir, tmp_path / "part", checkpoint_every=2)
    finetune(first.model_copy(update={"max_steps": 2, "checkpoint_every": 1}))  # checkpoints at step 1 only
    (tmp_path / "part").rename(tmp_path / "part-short")
    resumed = finetune(first.model_copy(update={"resume": True}))
    a, b = (json.loads((f / "training.json").read_text()) for f in (whole, resumed))
    assert b["resumed_from"] == 1 and a["loss"]["per_step"] == b["loss"]["per_step"]
    assert sha256_file(whole / "pytorch_lora_weights.safetensors") == sha256_file(resumed / "pytorch_lora_weights.safetensors")


def test_class_folders_cli_and_overwrite_rule(tiny_pipeline_dir: Path, tmp_path: Path) -> None:
    data = _data(tmp_path / "classes", captions=False)
    out = tmp_path / "adapter"
    args = ["finetune", str(data), "--out", str(out), "--base", str(tiny_pipeline_dir), "--rank", "2", "--max-steps",
            "1", "--resolution", str(SIZE), "--class-prompt", "a chest x ray, $label", "--center-crop"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    training = json.loads((out / "training.json").read_text())
    assert training["data"]["source"] == "class-folders" and (out / MARKER).is_file()
    refused = CliRunner().invoke(app, args)
    assert isinstance(refused.exception, ConfigError) and "--overwrite" in str(refused.exception)
    assert CliRunner().invoke(app, [*args, "--overwrite"]).exit_code == 0
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="holds no"):
        finetune(_config(data, tiny_pipeline_dir, foreign, overwrite=True))
    assert (foreign / "keep.txt").read_text() == "mine"
    with pytest.raises(InputDataError, match="no training images"):
        finetune(_config(tmp_path / "foreign", tiny_pipeline_dir, tmp_path / "new"))


def test_adapter_folder_loads_as_a_lora_component_in_a_recipe_generator(tiny_pipeline_dir: Path, tmp_path: Path) -> None:
    from biosynth.core import SampleRequest, StepContext
    from biosynth.image import TextToImage

    out = finetune(_config(_data(tmp_path / "data"), tiny_pipeline_dir, tmp_path / "lora", validation_every=None,
                           validation_prompts=()))
    params = {"pipeline": str(tiny_pipeline_dir), "loras": [str(out)], "steps": 2, "width": SIZE, "height": SIZE,
              "prompt": {"template": "a chest x ray", "template_id": "cxr-plain/v1"}}
    pngs = []
    for name in ("a", "b"):
        [record] = TextToImage(params).generate([SampleRequest(0, 9)], StepContext(step="x", seed=1, root=tmp_path / name))
        pngs.append((tmp_path / name / record.payload.media.path).read_bytes())
    assert pngs[0] == pngs[1]
    assert Image.open(io.BytesIO(pngs[0])).size == (SIZE, SIZE)
    (out / "README.md").write_text("changed")  # a changed file in the adapter folder is refused
    with pytest.raises(InputDataError, match="sha256"):
        TextToImage(params).generate([SampleRequest(0, 9)], StepContext(step="x", seed=1, root=tmp_path / "c"))
