"""Text diversity: distinct-n, self-BLEU, mean pairwise embedding similarity, length distributions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from biosynth.core import ConfigError, rng
from biosynth.eval._measure import Outcome, check_bootstrap, run_metric
from biosynth.eval._result import Direction, Family, MetricResult
from biosynth.eval._tabular.columns import ColumnArrays
from biosynth.eval._tabular.fidelity import _column_outcome, _KSComplement
from biosynth.eval._text.common import (
    MODALITY,
    check_n,
    check_texts,
    mean_with_interval,
    ngrams,
    require,
    small_sample_warning,
    tokenize,
    weighted_interval,
)
from biosynth.eval._text.embeddings import Embedder, embed, embedder_name


def _distinct(texts: Sequence[str], n: int) -> tuple[float, int, int]:
    """distinct-n = distinct n-grams / all n-grams over the corpus (Li et al. 2016), with both counts."""
    grams = [g for text in texts for g in ngrams(tokenize(text), n)]
    if not grams:
        raise ValueError(f"no text has {n} or more tokens, so distinct-{n} is undefined")
    return len(set(grams)) / len(grams), len(set(grams)), len(grams)


def distinct_n(texts: Sequence[str], n: int = 2, *, real_texts: Sequence[str] | None = None) -> MetricResult:
    """distinct-n of the synthetic corpus: the share of its n-grams that are distinct (higher: more diverse).

    No interval: distinct-n is a property of the whole corpus, not a mean over texts. A bootstrap resample repeats
    texts, and repeated texts add only non-distinct n-grams, so its replicates are biased by construction (by about
    a third of the value) and a bootstrap interval would be wrong. It also falls as a corpus grows: compare corpora
    of equal size. The real corpus's distinct-n (when given) is in details.
    """
    check_n(n)
    texts = check_texts(texts, "texts")
    real = None if real_texts is None else check_texts(real_texts, "real_texts")

    def compute() -> Outcome:
        require(texts, "the synthetic corpus")
        value, n_distinct, n_total = _distinct(texts, n)
        details: dict[str, float | int] = {"n": n, "distinct_ngrams": n_distinct, "total_ngrams": n_total}
        notes = []
        if real:
            details["real_distinct"] = _distinct(real, n)[0]
            if len(real) != len(texts):
                notes.append(f"real ({len(real)}) and synthetic ({len(texts)}) corpora differ in size; distinct-n "
                             "falls with corpus size, so the real value in details is not directly comparable")
        return Outcome(value=value, warnings=notes, details=details)

    return run_metric(name=f"text.distinct_{n}", family=Family.DIVERSITY, direction=Direction.HIGHER, compute=compute,
                      modality=MODALITY, n_real=None if real is None else len(real), n_synthetic=len(texts),
                      parameters={"n": n, "tokenizer": "lower-cased \\w+ runs and single punctuation characters",
                                  "interval": "none: a corpus-level ratio (see the docstring)"})


def self_bleu(texts: Sequence[str], *, max_hypotheses: int = 200, max_references: int = 1000, n_bootstrap: int = 200,
              level: float = 0.95, seed: int = 0) -> MetricResult:
    """Self-BLEU (Zhu et al. 2018): each text scored by sacrebleu's sentence BLEU against the other texts as
    references, never against itself; the mean over texts in [0, 1] (lower: more diverse).

    BLEU against n references costs O(n) per text, so at most `max_hypotheses` texts are scored (a seeded sample) and
    each against at most `max_references` others (a seeded sample); both are recorded in the parameters.
    """
    check_bootstrap(n_bootstrap, level)
    if max_hypotheses < 1 or max_references < 1:
        raise ConfigError(f"max_hypotheses and max_references must be positive, got {max_hypotheses}, {max_references}")
    texts = check_texts(texts, "texts")

    def compute() -> Outcome:
        from sacrebleu.metrics import BLEU  # well-kept reference implementation (tokenizer 13a, exp smoothing)

        require(texts, "the synthetic corpus", 2)
        generator = rng(seed)
        n = len(texts)
        chosen = np.sort(generator.choice(n, size=min(n, max_hypotheses), replace=False))
        bleu = BLEU(effective_order=True)
        scores = np.empty(len(chosen))
        for k, i in enumerate(chosen):
            others = np.delete(np.arange(n), i)
            if len(others) > max_references:
                others = np.sort(generator.choice(others, size=max_references, replace=False))
            scores[k] = bleu.sentence_score(texts[i], [texts[j] for j in others]).score / 100.0
        outcome = mean_with_interval(scores, n_bootstrap=n_bootstrap, level=level, seed=seed, what="self-BLEU",
                                     bounds=(0.0, 1.0))
        outcome.details = {"n_scored": len(chosen), "per_text_quantiles": _quantiles(scores)}
        return outcome

    return run_metric(name="text.self_bleu", family=Family.DIVERSITY, direction=Direction.LOWER, compute=compute,
                      modality=MODALITY, n_real=None, n_synthetic=len(texts), seed=seed,
                      parameters={"max_hypotheses": max_hypotheses, "max_references": max_references,
                                  "implementation": "sacrebleu sentence BLEU, 13a tokenizer, exp smoothing, "
                                                    "effective order", "n_bootstrap": n_bootstrap, "level": level},
                      warnings=small_sample_warning(len(texts), "synthetic", "self-BLEU"))


def embedding_similarity(texts: Sequence[str], embedder: Embedder | None = None, *,
                         embeddings: np.ndarray | None = None, n_bootstrap: int = 200, level: float = 0.95,
                         seed: int = 0) -> MetricResult:
    """Mean cosine similarity over all pairs of distinct texts (i != j) in embedding space (lower: more diverse).

    `embeddings` (one row per text) skips the embedder. The bootstrap resamples texts; pairs of a text with its
    own copy in a resample are excluded, as the point estimate excludes i == j.
    """
    check_bootstrap(n_bootstrap, level)
    texts = check_texts(texts, "texts")

    def compute() -> Outcome:
        require(texts, "the synthetic corpus", 2)
        unit = _unit_rows(embed(texts, embedder, embeddings, "texts"))

        def statistic(w: np.ndarray) -> float:
            s = unit.T @ w
            pairs = w.sum() ** 2 - (w * w).sum()
            return float((s @ s - (w * w).sum()) / pairs) if pairs else np.nan

        value = statistic(np.ones(len(texts)))
        ci, notes = weighted_interval(statistic, len(texts), value, n_bootstrap=n_bootstrap, level=level, seed=seed,
                                      what="the mean pairwise similarity", bounds=(-1.0, 1.0))
        return Outcome(value=value, ci=ci, warnings=notes, details={"dimension": unit.shape[1]})

    return run_metric(name="text.embedding_similarity", family=Family.DIVERSITY, direction=Direction.LOWER,
                      compute=compute, modality=MODALITY, n_real=None, n_synthetic=len(texts), seed=seed,
                      parameters={"n_bootstrap": n_bootstrap, "level": level, "embedder": embedder_name(embedder, embeddings)})


def length_distribution(real_texts: Sequence[str], texts: Sequence[str], *, n_bootstrap: int = 200,
                        level: float = 0.95, seed: int = 0) -> MetricResult:
    """How alike the real and synthetic length distributions are: 1 - Kolmogorov-Smirnov D of the token counts and
    of the character counts (the tabular KSComplement), averaged; details hold both sides' quantiles."""
    check_bootstrap(n_bootstrap, level)
    real, synthetic = check_texts(real_texts, "real_texts"), check_texts(texts, "texts")

    def compute() -> Outcome:
        require(real, "the real corpus")
        require(synthetic, "the synthetic corpus")
        frames = [pd.DataFrame({"tokens": [len(tokenize(t)) for t in side], "characters": [len(t) for t in side]})
                  for side in (real, synthetic)]
        outcome = _column_outcome(_KSComplement(ColumnArrays(*frames), ["tokens", "characters"]), len(real),
                                  len(synthetic), n_bootstrap=n_bootstrap, level=level, seed=seed)
        outcome.details["real"] = {c: _quantiles(frames[0][c].to_numpy(float)) for c in ("tokens", "characters")}
        outcome.details["synthetic"] = {c: _quantiles(frames[1][c].to_numpy(float)) for c in ("tokens", "characters")}
        return outcome

    return run_metric(name="text.length_distribution", family=Family.DIVERSITY, direction=Direction.HIGHER,
                      compute=compute, modality=MODALITY, n_real=len(real), n_synthetic=len(synthetic), seed=seed,
                      parameters={"n_bootstrap": n_bootstrap, "level": level, "lengths": ["tokens", "characters"]})


def _quantiles(values: np.ndarray) -> dict[str, float]:
    q = np.quantile(values, [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0])
    return {"mean": float(values.mean()), **{k: float(v) for k, v in zip(
        ("min", "p10", "p25", "median", "p75", "p90", "max"), q, strict=True)}}


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError(f"{int((norms == 0).sum())} embedding(s) are all zeros; cosine similarity is undefined")
    return x / norms
