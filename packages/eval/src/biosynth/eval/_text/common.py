"""Shared pieces of the text metrics: input checks, tokenisation, n-grams, per-text bootstrap intervals."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from biosynth.core import ConfigError, rng
from biosynth.eval._measure import SMALL_SAMPLE, Outcome, bootstrap_counts, bootstrap_interval

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)

MODALITY = "text"


def check_texts(texts: Any, role: str) -> list[str]:
    """A list of the strings in `texts` (a sequence or a pandas Series), or a ConfigError naming the argument; an
    empty sequence is allowed (the metrics report it as failed, with the reason)."""
    if hasattr(texts, "tolist") and not isinstance(texts, str):
        texts = texts.tolist()
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise ConfigError(f"{role} must be a sequence of strings (one text per item), got {type(texts).__name__}")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise ConfigError(f"{role} must hold only strings; item {bad[0]} is {type(texts[bad[0]]).__name__}")
    return list(texts)


def require(texts: Sequence[str], role: str, minimum: int = 1) -> None:
    """Raise ValueError (reported as a failed metric with this reason) when there are too few texts."""
    if len(texts) < minimum:
        raise ValueError(f"{role} holds {len(texts)} text(s); this metric needs at least {minimum}")


def tokenize(text: str) -> list[str]:
    """Lower-cased word and punctuation tokens (Unicode \\w runs; every other non-space character alone)."""
    return _TOKEN.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def check_n(n: int, name: str = "n") -> None:
    if not isinstance(n, int) or n < 1:
        raise ConfigError(f"{name} must be a positive integer, got {n!r}")


def small_sample_warning(n: int, role: str, what: str) -> list[str]:
    if n < SMALL_SAMPLE:
        return [f"small sample ({n} {role} texts): {what} is noisy below {SMALL_SAMPLE} texts; read the interval"]
    return []


def mean_with_interval(per_text: np.ndarray, *, n_bootstrap: int, level: float, seed: int, what: str,
                       bounds: tuple[float, float] = (-np.inf, np.inf)) -> Outcome:
    """The mean of per-text scores, with a basic bootstrap interval over texts (the shared convention)."""
    point = float(per_text.mean())
    ci, notes = None, []
    if n_bootstrap:
        generator = rng(seed)
        n = len(per_text)
        reps = np.array([bootstrap_counts(generator, n) @ per_text / n for _ in range(n_bootstrap)])
        ci, notes = bootstrap_interval(reps, point, level, what, bounds=bounds)
    return Outcome(value=point, ci=ci, warnings=notes)


def weighted_interval(statistic: Callable[[np.ndarray], float], n: int, point: float, *, n_bootstrap: int,
                      level: float, seed: int, what: str,
                      bounds: tuple[float, float] = (-np.inf, np.inf)) -> tuple[Any, list[str]]:
    """Basic bootstrap interval of `statistic(weights)` where weights are multinomial counts over `n` texts."""
    if not n_bootstrap:
        return None, []
    generator = rng(seed)
    reps = np.array([statistic(bootstrap_counts(generator, n)) for _ in range(n_bootstrap)])
    return bootstrap_interval(reps, point, level, what, bounds=bounds)


def two_sample_interval(statistic: Callable[[np.ndarray], float], n_x: int, n_y: int, point: float, *,
                        n_bootstrap: int, level: float, seed: int, what: str,
                        bounds: tuple[float, float] = (-np.inf, np.inf)) -> tuple[Any, list[str]]:
    """Basic bootstrap interval of a two-sample statistic: each side resampled on its own; the statistic gets the
    concatenated count vector (first n_x entries: the first side)."""
    if not n_bootstrap:
        return None, []
    generator = rng(seed)
    reps = np.array([statistic(np.concatenate([bootstrap_counts(generator, n_x), bootstrap_counts(generator, n_y)]))
                     for _ in range(n_bootstrap)])
    return bootstrap_interval(reps, point, level, what, bounds=bounds)
