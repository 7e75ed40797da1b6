"""Shared fixtures: a tiny synthetic visit dataset and a tiny seeded HALO trained on it."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from biosynth.core import Visit, VisitSequencePayload


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """Tiny models run fastest on one thread, most of all on a shared CPU (measured: ~20x in sampling)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


TINY_CONFIG = {"n_embd": 8, "n_layer": 1, "n_head": 2, "dropout": 0.0}


def tiny_patients(n: int = 40, seed: int = 0) -> list[VisitSequencePayload]:
    """Patients whose visits alternate {1001} and {2002, 3003}; women also get 4004 in every visit."""
    r = random.Random(seed)
    patients = []
    for _ in range(n):
        sex = r.choice(["FEMALE", "MALE"])
        visits = []
        for j in range(r.randint(1, 6)):
            codes = ["1001"] if j % 2 == 0 else ["2002", "3003"]
            if sex == "FEMALE":
                codes.append("4004")
            visits.append(Visit(codes=tuple(codes), days_since_previous=None if j == 0 else r.choice([3, 40, 400])))
        patients.append(VisitSequencePayload(static={"sex": sex, "birth_decade": r.choice(["1950s", "1960s"]),
                                                     "age_band": "0-9"}, visits=tuple(visits), vocabulary="OMOP"))
    return patients


TINY_DOMAINS = {"1001": "condition", "2002": "drug", "3003": "procedure", "4004": "condition"}


@pytest.fixture(scope="session")
def tiny_halo():
    from biosynth.tabular import Halo, HaloConfig, HaloTraining

    return Halo.fit(tiny_patients(), config=HaloConfig(**TINY_CONFIG),
                    training=HaloTraining(epochs=20, batch_size=8, learning_rate=1e-2, seed=3),
                    vocabulary_name="OMOP", code_domains=TINY_DOMAINS)


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_halo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_halo.save(tmp_path_factory.mktemp("halo") / "model")


@pytest.fixture(scope="session")
def make_patients():
    return tiny_patients


@pytest.fixture(scope="session")
def tiny_config() -> dict[str, object]:
    return dict(TINY_CONFIG)


@pytest.fixture(scope="session")
def tiny_domains() -> dict[str, str]:
    return dict(TINY_DOMAINS)
