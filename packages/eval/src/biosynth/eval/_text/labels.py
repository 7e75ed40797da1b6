"""Label consistency of a labelled synthetic text corpus: does a classifier trained on real texts give the synthetic
texts the labels they carry, and does one trained on the synthetic texts label the real texts correctly?"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from threadpoolctl import threadpool_limits

from biosynth.core import ConfigError, rng
from biosynth.eval._measure import (
    SMALL_SAMPLE,
    NotApplicable,
    Outcome,
    bootstrap_counts,
    bootstrap_interval,
    check_bootstrap,
    run_metric,
)
from biosynth.eval._result import Direction, Family, MetricResult
from biosynth.eval._text.common import MODALITY, check_texts

DIRECTIONS = ("real_to_synthetic", "synthetic_to_real")
SCORES = ("accuracy", "macro_f1", "cohen_kappa")
HEADLINE = ("real_to_synthetic", "cohen_kappa")


def classifier(seed: int = 0) -> Pipeline:
    """TF-IDF of word unigrams and bigrams (sublinear term frequency) + multinomial logistic regression."""
    return make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True),
                         LogisticRegression(max_iter=2000, random_state=seed))


def _labels(labels: Any, texts: list[str], role: str) -> list[str] | None:
    """Labels as strings, or None when there are none at all; a length mismatch is the caller's error."""
    if labels is None:
        return None
    if hasattr(labels, "tolist") and not isinstance(labels, str):
        labels = labels.tolist()
    if isinstance(labels, str) or not isinstance(labels, Sequence):
        raise ConfigError(f"{role} must be a sequence of labels (one per text), got {type(labels).__name__}")
    if len(labels) != len(texts):
        raise ConfigError(f"{role} holds {len(labels)} labels for {len(texts)} texts; give one label per text")
    return [None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in labels]  # type: ignore[misc]


def _scores(confusion: np.ndarray) -> list[float]:
    """Accuracy, macro-F1 (over the classes that occur) and Cohen's kappa from a (weighted) confusion matrix (rows: label,
    columns: prediction). Written out so the bootstrap needs one bincount per replicate; the tests check it equals
    scikit-learn's accuracy_score, f1_score(average='macro') and cohen_kappa_score."""
    total = confusion.sum()
    true_positive = np.diag(confusion)
    accuracy = true_positive.sum() / total
    denominator = confusion.sum(axis=0) + confusion.sum(axis=1)
    f1 = np.divide(2 * true_positive, denominator, out=np.zeros_like(true_positive, dtype=np.float64),
                   where=denominator > 0)
    expected = (confusion.sum(axis=0) @ confusion.sum(axis=1)) / total**2
    kappa = (accuracy - expected) / (1 - expected) if expected < 1 else np.nan
    return [float(accuracy), float(f1[denominator > 0].mean()), float(kappa)]


def _confusion(y: np.ndarray, predicted: np.ndarray, k: int, weight: np.ndarray | None) -> np.ndarray:
    return np.bincount(y * k + predicted, weights=weight, minlength=k * k).reshape(k, k)


def label_consistency(real_texts: Sequence[str], real_labels: Sequence[Any] | None, synthetic_texts: Sequence[str],
                      synthetic_labels: Sequence[Any] | None, *, min_per_class: int = 5, n_bootstrap: int = 200,
                      level: float = 0.95, seed: int = 0, threads: int | None = 1) -> MetricResult:
    """Agreement between labels and a classifier trained on the other corpus (`classifier`): trained on real texts it
    labels the synthetic texts (real_to_synthetic), trained on synthetic texts it labels the real ones
    (synthetic_to_real); accuracy, macro-F1 (over the classes among the labels or predictions, as scikit-learn) and
    Cohen's kappa each, with a basic bootstrap interval over the scored texts (the model is not refitted). Value:
    Cohen's kappa real_to_synthetic.

    'not_applicable' with the reason when either corpus has no labels, a text lacks its label, a training corpus has
    fewer than two classes, or a class has fewer than `min_per_class` texts in a training corpus.
    """
    check_bootstrap(n_bootstrap, level)
    if min_per_class < 1:
        raise ConfigError(f"min_per_class must be at least 1, got {min_per_class}")
    real, synthetic = check_texts(real_texts, "real_texts"), check_texts(synthetic_texts, "synthetic_texts")
    labels = {"real": _labels(real_labels, real, "real_labels"),
              "synthetic": _labels(synthetic_labels, synthetic, "synthetic_labels")}
    corpora = {"real": real, "synthetic": synthetic}

    def compute() -> Outcome:
        for role, values in labels.items():
            if values is None or not values:
                raise NotApplicable(f"the {role} texts carry no labels; label consistency needs one label per text on "
                                    "both sides")
            missing = sum(v is None for v in values)
            if missing:
                raise NotApplicable(f"{missing} of {len(values)} {role} texts have no label")
            counts = Counter(values)
            if len(counts) < 2:
                raise NotApplicable(f"the {role} texts hold a single class {sorted(counts)}; a classifier needs two")
            few = sorted(c for c, n in counts.items() if n < min_per_class)
            if few:
                raise NotApplicable(f"class(es) {few} have fewer than {min_per_class} {role} texts "
                                    f"({ {c: counts[c] for c in few} }); too few to train on")
        classes = sorted(set(labels["real"]) | set(labels["synthetic"]))  # type: ignore[arg-type]
        warnings: list[str] = []
        for trained, scored in (("real", "synthetic"), ("synthetic", "real")):
            unseen = sorted(set(labels[scored]) - set(labels[trained]))  # type: ignore[arg-type]
            if unseen:
                warnings.append(f"the {scored} texts hold class(es) {unseen} that the {trained} texts never show; a "
                                f"classifier trained on the {trained} texts cannot predict them")
        if min(len(real), len(synthetic)) < SMALL_SAMPLE:
            warnings.append(f"small sample: fewer than {SMALL_SAMPLE} texts on a side; the scores are noisy")
        predictions = {}
        with threadpool_limits(limits=threads):
            for direction in DIRECTIONS:
                trained, scored = direction.split("_to_")
                model = classifier(seed).fit(corpora[trained], labels[trained])
                index = {c: i for i, c in enumerate(classes)}
                predictions[direction] = (np.array([index[v] for v in labels[scored]]),  # type: ignore[union-attr]
                                          np.array([index[v] for v in model.predict(corpora[scored])]))

        rows: list[dict[str, Any]] = []
        headline_ci = None
        generator = rng(seed)
        for direction, (y, predicted) in predictions.items():
            k = len(classes)
            point = _scores(_confusion(y, predicted, k, None))
            reps = np.array([_scores(_confusion(y, predicted, k, bootstrap_counts(generator, len(y))))
                             for _ in range(n_bootstrap)]) if n_bootstrap else np.empty((0, len(SCORES)))
            for i, score in enumerate(SCORES):
                ci = None
                if n_bootstrap:
                    ci, notes = bootstrap_interval(reps[:, i], point[i], level, f"{direction} {score}",
                                                   bounds=(-1.0, 1.0))
                    if (direction, score) == HEADLINE:
                        headline_ci = ci
                        warnings += notes
                rows.append({"arm": direction, "model": "tfidf + logistic regression", "score": score,
                             "value": point[i], "ci": (ci.low, ci.high) if ci else None})
        value = float(next(r["value"] for r in rows if (r["arm"], r["score"]) == HEADLINE))
        return Outcome(value=value, ci=headline_ci, warnings=warnings, details={
            "value_is": "Cohen's kappa of a classifier trained on real texts, scored on the synthetic texts' labels",
            "classes": classes, "scores": rows, "n_real": len(real), "n_synthetic": len(synthetic),
            "bars": [[f"{r['arm']} {r['score']}", r["value"], r["ci"]] for r in rows if r["score"] != "cohen_kappa"]})

    return run_metric(name="text.label_consistency", family=Family.FIDELITY, direction=Direction.HIGHER,
                      compute=compute, modality=MODALITY, n_real=len(real), n_synthetic=len(synthetic), seed=seed,
                      parameters={"classifier": "TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True) + "
                                                "LogisticRegression(max_iter=2000)", "min_per_class": min_per_class,
                                  "n_bootstrap": n_bootstrap, "level": level, "directions": list(DIRECTIONS)})
