from __future__ import annotations

import pytest

from biosynth.tabular import halo_fidelity
from biosynth.tabular._fidelity import code_statistics

REAL = [[["a", "b"], ["b"]], [["a"], ["c"], ["a", "c"]], [["b", "c"]]]


def test_statistics_follow_the_reference_definitions() -> None:
    stats = code_statistics(REAL)
    assert stats["code_prevalence_per_patient"] == {"a": 2 / 3, "b": 2 / 3, "c": 2 / 3}
    assert stats["code_prevalence_per_visit"] == {"a": 3 / 6, "b": 3 / 6, "c": 3 / 6}
    assert stats["within_visit_pairs_per_visit"] == {("a", "b"): 1 / 6, ("a", "c"): 1 / 6, ("b", "c"): 1 / 6}
    # 3 consecutive pairs of visits: (ab -> b), (a -> c), (c -> ac)
    assert stats["consecutive_visit_pairs_per_visit"] == {
        ("a", "b"): 1 / 3, ("b", "b"): 1 / 3, ("a", "c"): 1 / 3, ("c", "a"): 1 / 3, ("c", "c"): 1 / 3}
    assert stats["consecutive_visit_pairs_per_patient"][("c", "c")] == 1 / 3


def test_identical_data_scores_one_and_other_data_less() -> None:
    same = halo_fidelity(REAL, REAL)
    assert all(v == pytest.approx(1.0) for v in same.r2.values() if v is not None)
    other = halo_fidelity(REAL, [[["a"]], [["a"], ["a"]], [["d", "a"]]])
    assert other.r2["code_prevalence_per_visit"] is not None and other.r2["code_prevalence_per_visit"] < 0.5


def test_empty_side_is_an_error() -> None:
    with pytest.raises(ValueError, match="patients on both sides"):
        halo_fidelity(REAL, [])
