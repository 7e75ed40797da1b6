"""`biosynth evaluate` on image records: read and check every input first, then return the evaluation to run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from biosynth.core import ConfigError, SyntheticDataset
from biosynth.eval._image.io import ImageSet, read_real_images, record_label_names, synthetic_images
from biosynth.eval._report import EvaluationReport


def image_plan(dataset: SyntheticDataset, step: str | None, *, real: Path, holdout: Path | None, label: str | None,
               features: Path | None, seed: int, n_bootstrap: int) -> Callable[[], EvaluationReport]:
    """Synthetic images (checked against their sha256), the --real and --holdout folders and the --image-features
    path are read or checked here, before any metric runs."""
    from biosynth.eval._dataset_io import provenance_checklist, sample_cards

    unlabelled = synthetic_images(dataset, step)
    real_images = read_real_images(real, "--real")
    holdout_images = read_real_images(holdout, "--holdout") if holdout is not None else None
    if features is not None and not features.exists():
        raise ConfigError(f"--image-features {str(features)!r} does not exist; expected a transformers vision model "
                          "folder (config.json, safetensors, preprocessor_config.json) or an EfficientNet-Lite0 "
                          "weights file")
    names = record_label_names(unlabelled)
    if label is not None and label not in names:
        raise ConfigError(f"--label {label!r} is not a label of every synthetic image record; their labels: {names}")
    chosen = label if label is not None else _matching_label(unlabelled, names, real_images)
    synthetic = unlabelled if chosen is None else replace(
        unlabelled, labels=[None if r.labels.get(chosen) is None else str(r.labels[chosen]) for r in unlabelled.records])
    captions = [r.payload.caption or "" for r in synthetic.records]  # type: ignore[union-attr]
    cards = sample_cards(synthetic.records, captions, count=len(synthetic.records))
    checklist = provenance_checklist(dataset, synthetic.records)

    def images() -> EvaluationReport:
        from biosynth.eval._image.suite import evaluate_images

        return evaluate_images(real_images, synthetic, holdout_images, seed, features, n_bootstrap=n_bootstrap,
                               label=chosen, provenance=checklist, sample_cards=cards)
    return images


def _matching_label(synthetic: ImageSet, names: list[str], real: ImageSet) -> str | None:
    """The one record label whose values are all class sub-folders of --real (None when none or several are)."""
    classes = {c for c in real.labels if c is not None}
    if not classes:
        return None
    fits = [name for name in names if {str(r.labels[name]) for r in synthetic.records} <= classes]
    return fits[0] if len(fits) == 1 else None
