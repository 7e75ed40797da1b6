"""Image fidelity and diversity metrics: FID and KID equal torchmetrics' own computation on the images, the k-NN
measures, per-class scores, feature and MS-SSIM diversity, and a feature extractor that fails."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from biosynth.core import Group, InputDataError, Registry
from biosynth.eval import Direction, Family, MetricResult
from biosynth.eval._image.features import TransformersFeatures, extract, to_tensor
from biosynth.eval._image.io import ImageSet
from biosynth.eval._image.metrics import (
    feature_diversity,
    frechet_distance_images,
    kernel_distance_images,
    per_class_fidelity,
    precision_recall_density_coverage,
)
from biosynth.eval._image.pixels import ms_ssim_diversity, ms_ssim_settings
from biosynth.eval._image.suite import evaluate_images
from biosynth.eval._verdicts import verdicts


class SmallFeatures(torch.nn.Module):
    """A user's own extractor: a fixed seeded convolution, average-pooled (what any torch module may provide)."""

    name = "seeded conv"

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features
        generator = torch.Generator().manual_seed(7)
        self.conv = torch.nn.Conv2d(3, num_features, 5, stride=2)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=generator) * 0.05)
            self.conv.bias.zero_()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(images.float() / 255.0)).mean(dim=(2, 3))


@pytest.mark.parametrize(("num_features", "per_side"), [(16, 24), (64, 20)])
def test_fid_and_kid_equal_torchmetrics_run_on_the_images(splits, num_features: int, per_side: int) -> None:
    """biosynth extracts once, rotates onto the features' span when n < d, and bootstraps; the values must equal
    torchmetrics' metrics fed the images through the same extractor (|delta| <= 1e-6)."""
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    module = SmallFeatures(num_features)
    real, synthetic = splits["train"].images[:per_side], splits["other"].images[-per_side:]
    x, y = extract(module, real), extract(module, synthetic)
    described = {"features": module.name}
    ours = frechet_distance_images(x, y, features=described, n_bootstrap=20, seed=3)
    reference = FrechetInceptionDistance(feature=module)
    reference.update(to_tensor(real), real=True)
    reference.update(to_tensor(synthetic), real=False)
    assert ours.ok and ours.value == pytest.approx(float(reference.compute()), abs=1e-6)
    assert ours.details["projected_to_span"] is (2 * per_side < num_features)
    assert ours.ci is not None and ours.ci.low <= ours.value <= ours.ci.high
    assert any("below 500 a side" in w for w in ours.warnings)

    kid = kernel_distance_images(x, y, features=described, n_bootstrap=20, seed=3)
    reference_kid = KernelInceptionDistance(feature=module, subsets=1, subset_size=per_side)
    reference_kid.update(to_tensor(real), real=True)
    reference_kid.update(to_tensor(synthetic), real=False)
    assert kid.ok and kid.value == pytest.approx(float(reference_kid.compute()[0]), abs=1e-6)


def test_full_rank_features_take_torchmetrics_value_and_symmetric_replicates() -> None:
    """With more images than dimensions there is no rotation; above 256 dimensions the interval's replicates use
    the symmetric eigendecomposition, which agrees with torchmetrics' value."""
    from biosynth.eval._image.fidelity import symmetric_fid

    g = np.random.default_rng(0)
    x, y = g.normal(size=(130, 257)), g.normal(size=(130, 257)) + 0.05
    result = frechet_distance_images(x, y, features={"features": "normal"}, n_bootstrap=20, seed=0)
    assert result.ok and result.details["projected_to_span"] is False
    assert symmetric_fid(x, y) == pytest.approx(result.value, rel=1e-7)  # the value: torchmetrics' fid(x, y)
    assert result.ci is not None and any("symmetric eigendecomposition" in w for w in result.warnings)


def test_a_shifted_set_scores_worse_than_a_fresh_sample_of_the_same_images(splits, lite, lite_features) -> None:
    x, same = lite_features["train"], lite_features["other"][::2]  # equal sizes: FID depends on n
    darker = extract(lite, [255 - image for image in splits["other"].images[::2]])  # negatives: off the real manifold
    described = {"features": lite.name}
    near = frechet_distance_images(x, same, features=described, n_bootstrap=0)
    far = frechet_distance_images(x, darker, features=described, n_bootstrap=0)
    assert near.value < far.value and "EfficientNet-Lite0" in near.parameters["features"]
    near_prdc = {r.name: r.value for r in precision_recall_density_coverage(x, same, features=described)}
    far_prdc = {r.name: r.value for r in precision_recall_density_coverage(x, darker, features=described)}
    # with 60 real images the k-NN balls are wide and precision saturates (measured: 0.8 for both); density, the
    # measure Naeem et al. built for that, and coverage do separate the negatives
    assert near_prdc["image.density"] > far_prdc["image.density"]
    assert near_prdc["image.coverage"] > far_prdc["image.coverage"]
    one_class = extract(lite, [image for image, label in zip(splits["other"].images, splits["other"].labels, strict=True)
                               if label == "retina"])
    collapsed = {r.name: r.value for r in precision_recall_density_coverage(x, one_class, features=described)}
    # mode collapse: the images stay on the real manifold (precision) but cover a third of it (recall, coverage)
    assert collapsed["image.precision"] >= near_prdc["image.precision"]
    assert collapsed["image.recall"] < near_prdc["image.recall"] and collapsed["image.coverage"] < near_prdc["image.coverage"]
    copies = {r.name: r.value for r in precision_recall_density_coverage(x, x.copy(), features=described)}
    assert copies["image.precision"] == copies["image.recall"] == copies["image.coverage"] == 1.0


def test_per_class_scores_and_a_class_too_small_to_score(splits) -> None:
    module = SmallFeatures(8)
    x = extract(module, splits["train"].images)
    synthetic = splits["other"]
    keep = [i for i, c in enumerate(synthetic.labels) if c != "cell"] + [synthetic.labels.index("cell")]
    y = extract(module, [synthetic.images[i] for i in keep])
    fid, kid = per_class_fidelity(x, splits["train"].labels, y, [synthetic.labels[i] for i in keep],
                                  features={"features": "seeded conv"}, label="tissue")
    assert fid.ok and kid.ok and fid.details["mean_over"] == ["ihc", "retina"]
    rows = {row["class"]: row for row in fid.details["classes"]}
    assert rows["cell"]["n_synthetic"] == 1 and "fid" not in rows["cell"]
    assert fid.value == pytest.approx(np.mean([rows["ihc"]["fid"], rows["retina"]["fid"]]))
    assert any("['cell']" in w for w in fid.warnings)
    none = per_class_fidelity(x, splits["train"].labels, y, ["x"] * len(y), features={}, label="tissue")[0]
    assert none.status == "not_applicable" and "no class is shared" in str(none.error)


def test_diversity_falls_to_its_floor_for_a_collapsed_set(splits) -> None:
    module = SmallFeatures(8)
    real = splits["train"].images[::5]
    varied_images = splits["other"].images[::3]
    collapsed = [splits["other"].images[0]] * 6
    spread = feature_diversity(extract(module, real), extract(module, varied_images), features={})
    flat = feature_diversity(extract(module, real), extract(module, collapsed), features={})
    assert flat.value == 0.0 < spread.value and spread.details["real_mean_pairwise_distance"] > 0
    alike = ms_ssim_diversity(real, collapsed, seed=0)
    varied = ms_ssim_diversity(real, varied_images, seed=0)
    assert alike.value == pytest.approx(1.0, abs=1e-5) and varied.value < 0.9
    assert varied.parameters["scales"] == 4 and varied.parameters["kernel_size"] == 3  # 32 px: 4 scales fit
    assert any("4 of MS-SSIM's 5 scales" in w for w in varied.warnings)
    assert ms_ssim_settings(256)["scales"] == 5 and ms_ssim_settings(256)["kernel_size"] == 11
    assert sum(ms_ssim_settings(32)["betas"]) == pytest.approx(1.0)


def test_a_failing_extractor_is_reported_and_the_pixel_metrics_still_run(splits) -> None:
    class Broken(torch.nn.Module):
        num_features = 4

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("out of memory")

    real, synthetic = splits["train"], splits["other"]
    real = ImageSet(real.images[::4], real.names[::4], real.labels[::4])
    synthetic = ImageSet(synthetic.images[:6], synthetic.names[:6], synthetic.labels[:6])
    def mean_intensity(*, real, synthetic, seed, n_bootstrap, level) -> MetricResult:  # an `image.*` plugin
        return MetricResult(name="image.mean_intensity", family=Family.FIDELITY, modality="image",
                            direction=Direction.HIGHER, value=float(np.mean([s.mean() for s in synthetic])))

    registry = Registry(discover=False)
    registry.register(Group.METRICS, "image.mean_intensity", mean_intensity)
    report = evaluate_images(real, synthetic, seed=0, extractor=Broken(), n_bootstrap=0, registry=registry)
    assert report.result("image.mean_intensity").value == pytest.approx(np.mean([s.mean() for s in synthetic.images]))
    failed = report.result("image.features")
    assert failed.status == "failed" and "out of memory" in str(failed.error) and "FID" in str(failed.error)
    assert report.result("image.ms_ssim").ok
    assert "image.fid" not in [r.name for r in report.results]


def test_a_transformers_model_folder_as_the_features(tmp_path, splits) -> None:
    """A local DINOv2-style folder (RadDino's layout: safetensors + BitImageProcessor), built tiny here."""
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    Dinov2Model(Dinov2Config(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                             image_size=32, patch_size=8)).save_pretrained(tmp_path / "dino")
    BitImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(tmp_path / "dino")
    features = TransformersFeatures(tmp_path / "dino")
    x = extract(features, splits["train"].images[:6])
    assert x.shape == (6, 32) and features.sha256 and "Dinov2Model" in features.name
    assert not np.allclose(x[0], x[1])
    (tmp_path / "dino" / "model.safetensors").unlink()
    with pytest.raises(InputDataError, match=r"no \.safetensors"):
        TransformersFeatures(tmp_path / "dino")


def test_the_suite_names_its_features_and_draws_thumbnails(splits) -> None:
    synthetic = ImageSet(splits["other"].images[:9], splits["other"].names[:9], [None] * 9)
    extractor = SmallFeatures(8)
    report = evaluate_images(splits["train"], synthetic, splits["holdout"], seed=1, extractor=extractor, n_bootstrap=0)
    names = [r.name for r in report.results]
    assert names[:2] == ["image.fid", "image.kid"] and "image.fid_per_class" in names  # real has classes
    assert report.result("image.fid_per_class").status == "not_applicable"  # the synthetic images have none
    assert report.software["features"] == "seeded conv" and report.software["num_features"] == "8"
    assert report.result("image.near_copies").ok and report.n_holdout == 24
    ceiling = report.references["image_fid_ceiling"]
    assert ceiling["status"] == "computed" and (ceiling["n"], ceiling["n_reference"]) == (9, 27)
    [fidelity] = [v for v in verdicts(report.results, report.references, "image") if v.family == "fidelity"]
    assert "held-apart real images score" in fidelity.sentence and "seeded conv" in fidelity.sentence
    negatives = ImageSet([255 - image for image in synthetic.images], synthetic.names, [None] * 9)
    worse = evaluate_images(splits["train"], negatives, seed=1, extractor=extractor, n_bootstrap=0)
    [poor] = [v for v in verdicts(worse.results, worse.references, "image") if v.family == "fidelity"]
    assert poor.tone == "poor" and worse.references["image_fid_ceiling"]["fid_synthetic"]["mean"] > 2 * ceiling[
        "fid_real"]["mean"]
    # held-apart real images that repeat each other (FID 0): no ratio against 0, the sentence says why
    repeated = {**report.references, "image_fid_ceiling": {**ceiling, "fid_real": {**ceiling["fid_real"], "mean": 0.0}}}
    [no_reference] = [v for v in verdicts(report.results, repeated, "image") if v.family == "fidelity"]
    assert no_reference.tone == "caution" and "no reference" in no_reference.sentence
    assert "inf" not in no_reference.sentence and "x)" not in no_reference.sentence
    gallery = report.figures["image_gallery"]  # type: ignore[index]
    assert len(gallery["synthetic"]) == 8 and {item["labels"]["class"] for item in gallery["real"]} == {
        "retina", "ihc", "cell"}
