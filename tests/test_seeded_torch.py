"""seeded_torch (core; torch is imported only when it is called): a training block with a seeded, forked generator
and deterministic kernels, restored after. Here in the workspace tests because core does not depend on torch."""

from __future__ import annotations

import pytest
import torch

from biosynth.core import seeded_torch


def test_seeded_block_repeats_and_leaves_the_global_state_as_it_was() -> None:
    torch.manual_seed(123)
    outside_before = torch.get_rng_state()
    with seeded_torch(7):
        assert torch.are_deterministic_algorithms_enabled()
        first = torch.rand(4)
    with seeded_torch(7):
        second = torch.rand(4)
    assert torch.equal(first, second)
    assert torch.equal(torch.get_rng_state(), outside_before)  # the caller's stream is untouched
    assert not torch.are_deterministic_algorithms_enabled()


def test_an_earlier_deterministic_setting_is_restored() -> None:
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        with seeded_torch(1):
            assert not torch.is_deterministic_algorithms_warn_only_enabled()  # strict inside
        assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
    finally:
        torch.use_deterministic_algorithms(False)


def test_a_failing_block_still_restores() -> None:
    with pytest.raises(RuntimeError, match="boom"), seeded_torch(3):
        raise RuntimeError("boom")
    assert not torch.are_deterministic_algorithms_enabled()
