"""Fréchet audio distance: Gaussians fitted to frame-level embeddings of real and synthetic clips, compared with the
Fréchet (2-Wasserstein) distance. The embedding is pluggable (`AudioEmbedder`); the default is Whisper tiny.en's
encoder, and the report names it: distances on different embeddings do not compare, nor do they compare with
published FAD on VGGish."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from biosynth.core import rng
from biosynth.eval._audio.common import MODALITY, check_clips
from biosynth.eval._audio.io import Clip
from biosynth.eval._audio.models import AudioEmbedder, WhisperEncoderEmbedder
from biosynth.eval._measure import NotApplicable, Outcome, bootstrap_counts, bootstrap_interval, check_bootstrap, run_metric
from biosynth.eval._result import Direction, Family, MetricResult
from biosynth.eval._text.fidelity import frechet


class _Moments:
    """Per-clip sums of frames and of their outer products, so that resampled clips' mean and covariance cost one
    weighted sum instead of a pass over every frame."""

    def __init__(self, frames: list[np.ndarray]) -> None:
        self.counts = np.array([len(f) for f in frames], dtype=np.float64)
        self.sums = np.stack([f.sum(axis=0) for f in frames])
        self.outer = np.stack([f.T @ f for f in frames])

    def gaussian(self, w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        w = np.ones(len(self.counts)) if w is None else w
        n = float(w @ self.counts)
        mu = w @ self.sums / n
        cov = (np.tensordot(w, self.outer, axes=1) - n * np.outer(mu, mu)) / (n - 1)
        return mu, cov


def frechet_audio_distance(real: Sequence[Clip], clips: Sequence[Clip], *, embedder: AudioEmbedder | None = None,
                           n_bootstrap: int = 200, level: float = 0.95, seed: int = 0) -> MetricResult:
    """`audio.frechet_distance` (lower: closer): every frame of every clip embedded (default: Whisper tiny.en encoder
    states, 384-d, 50 a second), one Gaussian a side; the interval resamples clips on both sides."""
    check_bootstrap(n_bootstrap, level)
    clips = check_clips(clips, "clips")
    real_clips = check_clips(real, "real")
    model = embedder or WhisperEncoderEmbedder()

    def compute() -> Outcome:
        if len(real_clips) < 2 or len(clips) < 2:
            raise NotApplicable(f"the Fréchet audio distance needs at least 2 clips a side (real {len(real_clips)}, "
                                f"synthetic {len(clips)})")
        x = _Moments([model.frames(c.samples()) for c in real_clips])
        y = _Moments([model.frames(c.samples()) for c in clips])
        with threadpool_limits(limits=1):  # small eigendecompositions: threads only cost on a shared machine
            value = frechet(*x.gaussian(), *y.gaussian())
            ci, notes = None, []
            if n_bootstrap:
                generator = rng(seed)
                reps = np.array([frechet(*x.gaussian(bootstrap_counts(generator, len(real_clips))),
                                         *y.gaussian(bootstrap_counts(generator, len(clips))))
                                 for _ in range(n_bootstrap)])
                ci, notes = bootstrap_interval(reps, value, level, "the Fréchet audio distance", bounds=(0.0, np.inf))
                if ci is not None:
                    ci = ci.model_copy(update={"method": f"basic bootstrap over clips of each side, B={n_bootstrap}"})
        dimension = x.sums.shape[1]
        warnings = [*notes]
        frames = (int(x.counts.sum()), int(y.counts.sum()))
        if min(frames) <= dimension:
            warnings.append(f"fewer frames ({min(frames)}) than embedding dimensions ({dimension}): singular "
                            "covariance, strongly biased; compare only at equal sizes")
        return Outcome(value=value, ci=ci, warnings=warnings, details={
            "embedding": model.name, "dimension": int(dimension), "frames_real": frames[0],
            "frames_synthetic": frames[1],
            "statistic": "||mu1-mu2||^2 + Tr(C1 + C2 - 2 (C1 C2)^1/2) via symmetric eigendecompositions (SciPy eigh; "
                         "torchmetrics' FID is tied to images, fadtk and frechet-audio-distance use SciPy's sqrtm)"})

    return run_metric(name="audio.frechet_distance", family=Family.FIDELITY, direction=Direction.LOWER, compute=compute,
                      modality=MODALITY, n_real=len(real_clips), n_synthetic=len(clips), seed=seed,
                      parameters={"n_bootstrap": n_bootstrap, "level": level, "embedding": model.name,
                                  "resampled": "clips"})
