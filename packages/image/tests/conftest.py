"""Shared fixtures: a tiny Stable Diffusion pipeline (random weights, built from configs, saved with safetensors)
and a LoRA adapter for it. No hub download: the tokenizer is made in memory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SIZE = 32  # pixels; the tests render 2 steps at this size


def _example_builders():
    """The builders examples/build_tiny_pipeline.py ships (the same tiny pipelines for the examples and the tests)."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "examples" / "build_tiny_pipeline.py"
    spec = importlib.util.spec_from_file_location("biosynth_image_example_builder", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_tiny_pipeline(folder: Path, *, seed: int = 0) -> Path:
    """A StableDiffusionPipeline of about 1.2M parameters, saved to `folder` (safetensors only)."""
    return _example_builders().build_tiny_pipeline(folder, seed=seed, size=SIZE)


def build_tiny_sdxl_pipeline(folder: Path, *, seed: int = 0) -> Path:
    """A StableDiffusionXLPipeline (two text encoders, `text_time` UNet conditioning), saved with safetensors."""
    return _example_builders().build_tiny_sdxl_pipeline(folder, seed=seed, size=SIZE)


def build_tiny_lora(pipeline_dir: Path, out: Path, *, seed: int = 1, rank: int = 4) -> Path:
    """A random LoRA on the tiny UNet's attention projections, saved as pytorch_lora_weights.safetensors
    (in the layout of the folder's pipeline class: SD 1.x or SDXL)."""
    import torch
    from diffusers import DiffusionPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    pipe = DiffusionPipeline.from_pretrained(pipeline_dir, local_files_only=True, use_safetensors=True)
    torch.manual_seed(seed)
    pipe.unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian",
                                     target_modules=["to_k", "to_q", "to_v", "to_out.0"]))
    with torch.no_grad():  # make the adapter change the output (B starts at zero)
        for name, param in pipe.unet.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.5)
    type(pipe).save_lora_weights(out, unet_lora_layers=get_peft_model_state_dict(pipe.unet),
                                              safe_serialization=True)
    return out


@pytest.fixture(scope="session")
def tiny_pipeline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("diffusers", reason="the `diffusers` extra is not installed")
    import torch

    torch.set_num_threads(1)
    return build_tiny_pipeline(tmp_path_factory.mktemp("tiny-sd"))


@pytest.fixture(scope="session")
def tiny_lora_dir(tiny_pipeline_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("peft", reason="the `lora` extra is not installed")
    return build_tiny_lora(tiny_pipeline_dir, tmp_path_factory.mktemp("tiny-lora"))


@pytest.fixture(scope="session")
def tiny_sdxl_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("diffusers", reason="the `diffusers` extra is not installed")
    import torch

    torch.set_num_threads(1)
    return build_tiny_sdxl_pipeline(tmp_path_factory.mktemp("tiny-sdxl"))


@pytest.fixture(scope="session")
def tiny_sdxl_lora_dir(tiny_sdxl_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("peft", reason="the `lora` extra is not installed")
    return build_tiny_lora(tiny_sdxl_dir, tmp_path_factory.mktemp("tiny-sdxl-lora"))
