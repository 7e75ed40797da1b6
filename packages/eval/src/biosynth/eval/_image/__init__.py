"""Image metrics: Fréchet distance and KID on a pluggable feature extractor, precision/recall and density/coverage,
diversity, per-class scores, memorisation against a holdout-calibrated threshold, and the report's thumbnails."""
