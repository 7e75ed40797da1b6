"""Shared seeded tables for the biosynth-eval tests."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def mixed_table(n: int, seed: int, *, shift: float = 0.0, missing: float = 0.08) -> pd.DataFrame:
    """Numerical, integer, categorical, boolean and datetime columns, correlated, with missing values."""
    g = np.random.default_rng(seed)
    age = g.normal(55 + shift * 10, 12, n)
    bmi = 0.3 * age + g.normal(10, 4, n)
    sbp = 90 + 0.6 * age + 0.8 * bmi + g.normal(0, 8, n)
    visits = g.poisson(3 + shift, n).astype(float)
    sex = g.choice(["F", "M"], n, p=[0.52 - shift * 0.2, 0.48 + shift * 0.2])
    stage = np.where(age + g.normal(0, 10, n) > 60, g.choice(["III", "IV"], n), g.choice(["I", "II"], n))
    smoker = g.random(n) < 0.25 + 0.2 * shift
    admitted = pd.Timestamp("2020-01-01") + pd.to_timedelta(g.integers(0, 3 * 365, n) + (age * 3).astype(int), unit="D")
    frame = pd.DataFrame({"age": age, "bmi": bmi, "sbp": sbp, "visits": visits, "sex": sex, "stage": stage,
                          "smoker": smoker, "admitted": admitted})
    for column in ("bmi", "sbp", "stage", "admitted", "sex"):
        holes = g.random(n) < missing
        frame.loc[holes, column] = None
    frame["stage"] = frame["stage"].astype(object)
    return frame


METADATA = {"columns": {"age": {"sdtype": "numerical"}, "bmi": {"sdtype": "numerical"},
                        "sbp": {"sdtype": "numerical"}, "visits": {"sdtype": "numerical"},
                        "sex": {"sdtype": "categorical"}, "stage": {"sdtype": "categorical"},
                        "smoker": {"sdtype": "boolean"}, "admitted": {"sdtype": "datetime"}}}


@pytest.fixture(scope="session")
def metadata() -> dict:
    return METADATA


@pytest.fixture(scope="session")
def real_table() -> pd.DataFrame:
    return mixed_table(1500, seed=1)


@pytest.fixture(scope="session")
def synthetic_table() -> pd.DataFrame:
    return mixed_table(1200, seed=2, shift=0.3, missing=0.12)


@pytest.fixture(scope="session")
def make_table():
    """`mixed_table(n, seed, shift=..., missing=...)` for tests that need more tables."""
    return mixed_table


class TinyEmbedder:
    """A deterministic bag-of-words embedder for the text tests: each token adds a fixed random vector (seeded by
    its CRC32), so texts sharing words lie close. Stands in for a sentence encoder; one test uses the real one."""

    name = "tiny-bag-of-words"

    def __init__(self, dimension: int = 16) -> None:
        self.dimension = dimension
        self.calls = 0

    def __call__(self, texts):
        import zlib

        self.calls += 1
        out = np.zeros((len(texts), self.dimension))
        for i, text in enumerate(texts):
            for token in text.lower().split():
                out[i] += np.random.default_rng(zlib.crc32(token.encode())).normal(size=self.dimension)
        return out + 1e-3


@pytest.fixture
def tiny_embedder() -> TinyEmbedder:
    return TinyEmbedder()


def clinical_corpus(n: int, seed: int, *, topics: tuple[str, ...] = ("hypertension", "asthma", "diabetes")) -> list[str]:
    """Short seeded clinical sentences without identifiers."""
    g = np.random.default_rng(seed)
    findings = ["stable", "improving", "worsening", "well controlled", "poorly controlled"]
    plans = ["continue current medication", "increase the dose", "refer to the specialist", "repeat labs in 3 months",
             "start physical therapy"]
    return [f"Follow-up for {g.choice(topics)}: symptoms {g.choice(findings)}; plan to {g.choice(plans)}. "
            f"Blood pressure {int(g.integers(100, 160))}/{int(g.integers(60, 95))} mmHg, pulse {int(g.integers(55, 100))}."
            for _ in range(n)]


@pytest.fixture(scope="session")
def make_corpus():
    return clinical_corpus
