"""Deterministic seeds: every sample's seed derives from the recipe seed, step name and index."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

_MAX_SEED = 2**31 - 1  # fits every framework's seed argument (numpy, torch, llama.cpp)


def derive_seed(base: int, *keys: object) -> int:
    """A seed in [0, 2**31-1] derived from `base` and `keys`; stable across runs and platforms."""
    material = ":".join([str(int(base)), *(str(k) for k in keys)])
    return int.from_bytes(hashlib.sha256(material.encode()).digest()[:8], "big") % _MAX_SEED


def rng(seed: int) -> np.random.Generator:
    """A numpy Generator (PCG64) for `seed`."""
    return np.random.default_rng(seed)


def attempt_seed(seed: int, attempt: int) -> int:
    """The seed of a sample's attempt (0-based): the sample's own seed first, then ones derived from it."""
    return seed if attempt == 0 else derive_seed(seed, "attempt", attempt)


@contextmanager
def seeded_torch(seed: int) -> Iterator[None]:
    """A training block that repeats: torch's global generator forked and seeded with `seed`, and deterministic
    kernels on, both restored after.

    Deterministic kernels matter on the CPU too: with several threads, the backward pass of an indexing or
    embedding lookup sums gradients in thread order, so two trainings with one seed differ in their last bits
    and, after a few hundred steps, in the rows they sample. An operation with no deterministic kernel raises
    instead of silently varying. (torch is imported here, so core itself does not need it.)
    """
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # what deterministic cuBLAS needs on a GPU
    enabled, warn_only = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(enabled, warn_only=warn_only)
