"""Label consistency: scores equal scikit-learn's, consistent labels agree, shuffled ones do not, reasons."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score

from biosynth.core import ConfigError
from biosynth.eval import evaluate_text, label_consistency
from biosynth.eval._text.labels import _confusion, _scores, classifier

TOPICS = ("hypertension", "asthma", "diabetes")


def labelled(make_corpus, n: int, seed: int) -> tuple[list[str], list[str]]:
    texts = make_corpus(n, seed, topics=TOPICS)
    return texts, [next(t for t in TOPICS if t in text) for text in texts]


def test_scores_equal_scikit_learn_with_weights() -> None:
    g = np.random.default_rng(0)
    y = g.integers(0, 4, 300)
    predicted = np.where(g.random(300) < 0.6, y, g.integers(0, 5, 300))  # class 4 only predicted
    weight = g.integers(0, 3, 300).astype(float)
    ours = _scores(_confusion(y, predicted, 5, weight))
    assert ours == pytest.approx([accuracy_score(y, predicted, sample_weight=weight),
                                  f1_score(y, predicted, average="macro", sample_weight=weight),
                                  cohen_kappa_score(y, predicted, sample_weight=weight)], abs=1e-12)


def test_consistent_labels_agree_and_shuffled_ones_do_not(make_corpus) -> None:
    real, real_labels = labelled(make_corpus, 120, 1)
    synthetic, synthetic_labels = labelled(make_corpus, 90, 2)
    result = label_consistency(real, real_labels, synthetic, synthetic_labels, seed=1)
    assert result.ok and result.value == pytest.approx(1.0) and result.details["classes"] == sorted(TOPICS)
    rows = {(r["arm"], r["score"]): r for r in result.details["scores"]}
    assert len(rows) == 6 and rows["synthetic_to_real", "accuracy"]["value"] > 0.95
    # the reference: the same pipeline fitted by hand on the real texts
    reference = classifier(1).fit(real, real_labels).predict(synthetic)
    assert rows["real_to_synthetic", "macro_f1"]["value"] == pytest.approx(
        f1_score(synthetic_labels, reference, average="macro"), abs=1e-12)
    shuffled = list(np.random.default_rng(3).permutation(synthetic_labels))
    noise = label_consistency(real, real_labels, synthetic, shuffled, seed=1)
    assert noise.ok and abs(noise.value) < 0.2 and noise.ci.low < 0 < noise.ci.high + 0.1


def test_it_says_why_it_cannot_run(make_corpus) -> None:
    real, real_labels = labelled(make_corpus, 60, 1)
    synthetic, synthetic_labels = labelled(make_corpus, 40, 2)
    none = label_consistency(real, real_labels, synthetic, None)
    assert none.status == "not_applicable" and "carry no labels" in none.error and none.value is None
    rare = label_consistency(real, real_labels, synthetic, [*synthetic_labels[:-2], "gout", "gout"])
    assert rare.status == "not_applicable" and "['gout']" in rare.error and "fewer than 5" in rare.error
    gaps = label_consistency(real, [*real_labels[:-1], None], synthetic, synthetic_labels)
    assert gaps.status == "not_applicable" and "1 of 60 real texts have no label" in gaps.error
    with pytest.raises(ConfigError, match="one label per text"):
        label_consistency(real, real_labels[:-1], synthetic, synthetic_labels)


def test_the_text_suite_adds_it_when_labels_are_given(make_corpus, tiny_embedder) -> None:
    real, real_labels = labelled(make_corpus, 40, 1)
    synthetic, _ = labelled(make_corpus, 30, 2)
    report = evaluate_text(real, synthetic, embedder=tiny_embedder, n_bootstrap=0, real_labels=real_labels)
    result = report.result("text.label_consistency")
    assert result.status == "not_applicable" and "synthetic texts carry no labels" in result.error
