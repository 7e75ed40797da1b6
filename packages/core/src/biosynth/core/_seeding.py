"""Deterministic seeds: every sample's seed derives from the recipe seed, step name and index."""

from __future__ import annotations

import hashlib

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
