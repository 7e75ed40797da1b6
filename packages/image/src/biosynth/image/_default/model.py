"""The default model's folder as a component (kind `diffusion_pipeline`, backend `biosynth_ddpm`).

Folder: `unet/` (diffusers `UNet2DModel`: config.json + safetensors), `scheduler/` (the DDPM noise schedule),
`classes.json`, `training.json`, `README.md`, and biosynth's marker (`write_model_folder`; every file's sha256
is checked when it loads).
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from biosynth.core import Component, ComponentKind, ConfigError, ModelRef, check_model_folder, weights_sha256

BACKEND = "biosynth_ddpm"
MODEL_KIND = "image_ddpm"
MODEL_FORMAT = 1
SUFFIXES = (".json", ".safetensors", ".md")


def build_unet(resolution: int, channels: int, n_classes: int, width: int) -> Any:
    """A small class-conditional UNet: three levels (width, 2*width, 2*width), attention at the middle one."""
    from diffusers import UNet2DModel

    return UNet2DModel(
        sample_size=resolution, in_channels=channels, out_channels=channels, layers_per_block=1,
        block_out_channels=(width, 2 * width, 2 * width), norm_num_groups=min(8, width),
        down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D"), num_class_embeds=n_classes,
        attention_head_dim=min(8, width))


class DefaultDiffusionModel(Component):
    """`{kind: diffusion_pipeline, backend: biosynth_ddpm, params: {path: FOLDER}}` (a `train-default` folder)."""

    kind: ClassVar[ComponentKind] = ComponentKind.DIFFUSION_PIPELINE
    remote: ClassVar[bool | None] = False

    def __init__(self, path: str | Path, device: str = "cpu") -> None:
        self.path = Path(path)
        marker = check_model_folder(self.path, MODEL_KIND, MODEL_FORMAT, allowed_suffixes=SUFFIXES)
        self.classes: list[str] = json.loads((self.path / "classes.json").read_text(encoding="utf-8"))
        self.grayscale = bool(marker.get("grayscale", False))
        self.resolution = int(marker["resolution"])
        self.device = device
        self._model_ref = ModelRef(name=self.path.name, backend=BACKEND, revision=f"{MODEL_KIND}/{MODEL_FORMAT}",
                                   sha256=weights_sha256(self.path))

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> object:
        where = f"{ComponentKind.DIFFUSION_PIPELINE.value} {BACKEND!r}"
        if set(params) - {"path", "device"}:
            raise ConfigError(f"{where}: unknown parameters {sorted(set(params) - {'path', 'device'})}")
        if "path" not in params:
            raise ConfigError(f"{where}: give `path`, a folder written by `biosynth image train-default`")
        return check_model_folder(params["path"], MODEL_KIND, MODEL_FORMAT, allowed_suffixes=SUFFIXES)

    @property
    def model_ref(self) -> ModelRef:
        return self._model_ref

    @cached_property
    def unet(self) -> Any:
        from diffusers import UNet2DModel

        unet = UNet2DModel.from_pretrained(self.path / "unet", use_safetensors=True, local_files_only=True)
        return unet.to(self.device).eval()

    def sample(self, class_index: int, seed: int, steps: int) -> Any:
        """One image (a PIL image) of class `class_index` from DDIM (eta 0) with its own seeded generator."""
        import numpy as np
        import torch
        from diffusers import DDIMScheduler
        from PIL import Image

        scheduler = DDIMScheduler.from_pretrained(self.path / "scheduler", local_files_only=True)
        scheduler.set_timesteps(steps)
        generator = torch.Generator(device="cpu").manual_seed(seed)
        channels = 1 if self.grayscale else 3
        x = torch.randn((1, channels, self.resolution, self.resolution), generator=generator).to(self.device)
        labels = torch.tensor([class_index], device=self.device)
        with torch.no_grad():
            for t in scheduler.timesteps:
                eps = self.unet(x, t, class_labels=labels).sample
                x = scheduler.step(eps, t, x, generator=generator).prev_sample
        array = ((x[0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        return Image.fromarray(array[..., 0] if channels == 1 else np.ascontiguousarray(array),
                               mode="L" if channels == 1 else "RGB")
