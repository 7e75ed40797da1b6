"""The models `biosynth-image` uses, as core components.

- `DiffusersPipeline` (kind `diffusion_pipeline`, backend `diffusers`): a Stable Diffusion folder as written by
  diffusers' `save_pretrained` (SD 1.x/2.x or SDXL layout; `model_index.json` names the pipeline class). It loads
  with `use_safetensors=True, local_files_only=True` and never runs code from the folder.
- `LoraAdapter` (kind `lora_adapter`, backend `safetensors`): a LoRA saved as safetensors (a file, or a folder
  holding `pytorch_lora_weights.safetensors`).

Both run on this machine and report a `ModelRef` fingerprinted by core's `weights_sha256`. torch and diffusers
are imported when a component is built, not when this module is imported.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from biosynth.core import (
    Component,
    ComponentKind,
    ConfigError,
    ModelRef,
    check_model_folder,
    is_model_folder,
    weights_sha256,
)

PIPELINE_BACKEND = "diffusers"
LORA_BACKEND = "safetensors"
LORA_FILE = "pytorch_lora_weights.safetensors"

# The pipeline classes a folder may name; each task gets its own pipeline over the same modules (`from_pipe`).
SUPPORTED_PIPELINES = frozenset({
    "StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline", "StableDiffusionInpaintPipeline",
    "StableDiffusionXLPipeline", "StableDiffusionXLImg2ImgPipeline", "StableDiffusionXLInpaintPipeline",
})
_LIBRARIES = frozenset({"diffusers", "transformers"})
_PICKLES = (".bin", ".ckpt", ".pt", ".pth", ".pkl")


def pipeline_class_name(path: Path, where: str) -> str:
    """The pipeline class `model_index.json` names, after refusing anything that would run or unpickle code."""
    index = path / "model_index.json"
    if not index.is_file():
        raise ConfigError(f"{where}: {str(path)!r} is not a diffusers pipeline folder (no model_index.json)")
    try:
        config = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(f"{where}: {index} is not readable JSON ({err})") from None
    name = str(config.get("_class_name", ""))
    if name not in SUPPORTED_PIPELINES:
        raise ConfigError(f"{where}: pipeline class {name!r} is not supported; expected one of "
                          f"{sorted(SUPPORTED_PIPELINES)} (no custom pipeline code is run)")
    for key, value in config.items():
        if key.startswith("_") or not isinstance(value, list) or value == [None, None]:
            continue  # settings (e.g. requires_safety_checker) and absent components
        if not (len(value) == 2 and value[0] in _LIBRARIES):
            raise ConfigError(f"{where}: component {key!r} comes from {value!r}; only diffusers and transformers "
                              "classes are loaded (trust_remote_code is never used)")
    pickled = sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.suffix in _PICKLES)
    if pickled:
        raise ConfigError(f"{where}: the folder holds pickled weights {pickled[:3]}; only safetensors are loaded "
                          "(convert them, or remove them)")
    return name


def _folder(params: dict[str, Any], where: str) -> Path:
    value = params.get("path")
    if not isinstance(value, (str, Path)) or not str(value):
        raise ConfigError(f"{where}: give `path`, the pipeline folder")
    path = Path(value)
    if not path.is_dir():
        raise ConfigError(f"{where}: {str(path)!r} is not a folder")
    return path


class DiffusersPipeline(Component):
    """A diffusers Stable Diffusion folder: `{kind: diffusion_pipeline, backend: diffusers, params: {path: DIR}}`.

    Optional params: `name` (recorded instead of the folder's name), `license`, `dtype` (`float32` default,
    `float16`/`bfloat16` on a GPU), `device` (`cpu` default, e.g. `cuda`).
    """

    kind: ClassVar[ComponentKind] = ComponentKind.DIFFUSION_PIPELINE
    remote: ClassVar[bool | None] = False

    def __init__(self, path: str | Path, name: str | None = None, license: str | None = None,
                 dtype: str = "float32", device: str = "cpu") -> None:
        where = f"{self.kind.value} {PIPELINE_BACKEND!r}"
        self.path = _folder({"path": path}, where)
        self.class_name = pipeline_class_name(self.path, where)
        self.device, self.dtype_name = device, dtype
        self._model_ref = ModelRef(name=name or self.path.name, backend=PIPELINE_BACKEND, revision=self.class_name,
                                   sha256=weights_sha256(self.path), license=license)
        self._tasks: dict[tuple[str, str | None], Any] = {}

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> object:
        where = f"{ComponentKind.DIFFUSION_PIPELINE.value} {PIPELINE_BACKEND!r}"
        unknown = set(params) - {"path", "name", "license", "dtype", "device"}
        if unknown:
            raise ConfigError(f"{where}: unknown parameters {sorted(unknown)}")
        if params.get("dtype", "float32") not in ("float32", "float16", "bfloat16"):
            raise ConfigError(f"{where}: dtype must be float32, float16 or bfloat16")
        return pipeline_class_name(_folder(params, where), where)

    @property
    def model_ref(self) -> ModelRef:
        return self._model_ref

    @cached_property
    def base(self) -> Any:
        """The pipeline as the folder declares it, loaded from safetensors only."""
        import torch
        from diffusers import DiffusionPipeline

        dtype = {} if self.dtype_name == "float32" else {"torch_dtype": getattr(torch, self.dtype_name)}
        pipe = DiffusionPipeline.from_pretrained(self.path, local_files_only=True, use_safetensors=True, **dtype)
        pipe.set_progress_bar_config(disable=True)
        return pipe.to(self.device)

    def for_task(self, task: str, scheduler: str | None = None) -> Any:
        """The pipeline for `task` (`text_to_image`, `image_to_image`, `inpaint`) over the same modules,
        with its own scheduler (a name from `SCHEDULERS`; None keeps the folder's)."""
        key = (task, scheduler)
        if key not in self._tasks:
            from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image

            from biosynth.image._schedulers import make_scheduler

            auto = {"text_to_image": AutoPipelineForText2Image, "image_to_image": AutoPipelineForImage2Image,
                    "inpaint": AutoPipelineForInpainting}[task]
            extra = {} if scheduler is None else {"scheduler": make_scheduler(scheduler, self.base.scheduler.config)}
            pipe = auto.from_pipe(self.base, **extra)
            pipe.set_progress_bar_config(disable=True)
            self._tasks[key] = pipe
        return self._tasks[key]

    def load_loras(self, adapters: list[tuple[str, Path, float]]) -> None:
        """Load LoRA adapters `(name, file, scale)` into the pipeline's modules and activate them together."""
        if not adapters:
            return
        for name, file, _ in adapters:
            self.base.load_lora_weights(str(file.parent), weight_name=file.name, adapter_name=name,
                                        use_safetensors=True, local_files_only=True)
        self.base.set_adapters([a[0] for a in adapters], adapter_weights=[a[2] for a in adapters])


def lora_file(path: str | Path, where: str) -> Path:
    """The safetensors file of a LoRA given as a file or as a folder holding `pytorch_lora_weights.safetensors`."""
    path = Path(path)
    file = path / LORA_FILE if path.is_dir() else path
    if file.suffix != ".safetensors":
        raise ConfigError(f"{where}: {str(path)!r} is not a .safetensors file; LoRA adapters load from safetensors only")
    if not file.is_file():
        raise ConfigError(f"{where}: {str(file)!r} does not exist")
    return file


class LoraAdapter(Component):
    """A LoRA adapter: `{kind: lora_adapter, backend: safetensors, params: {path: FILE_OR_DIR, scale: 1.0}}`."""

    kind: ClassVar[ComponentKind] = ComponentKind.LORA_ADAPTER
    remote: ClassVar[bool | None] = False

    def __init__(self, path: str | Path, scale: float = 1.0, name: str | None = None, license: str | None = None) -> None:
        if Path(path).is_dir() and is_model_folder(path):  # written by `biosynth image finetune`: check every hash
            from biosynth.image._finetune.config import MODEL_FORMAT, MODEL_KIND

            check_model_folder(path, MODEL_KIND, MODEL_FORMAT, allowed_suffixes=(".json", ".safetensors", ".md", ".png"))
        self.file = lora_file(path, f"{self.kind.value} {LORA_BACKEND!r}")
        self.scale = float(scale)
        self._model_ref = ModelRef(name=name or Path(path).name, backend=LORA_BACKEND, sha256=weights_sha256(self.file),
                                   license=license)

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> object:
        where = f"{ComponentKind.LORA_ADAPTER.value} {LORA_BACKEND!r}"
        unknown = set(params) - {"path", "scale", "name", "license"}
        if unknown:
            raise ConfigError(f"{where}: unknown parameters {sorted(unknown)}")
        if "path" not in params:
            raise ConfigError(f"{where}: give `path`, the adapter's .safetensors file or folder")
        return lora_file(params["path"], where)

    @property
    def model_ref(self) -> ModelRef:
        return self._model_ref
