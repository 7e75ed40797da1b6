"""A `from:` step's inputs are streamed from the journal in index order, skipping what a resumed run has done."""

from __future__ import annotations

from pathlib import Path

from biosynth.core._builtin_generators import AttributeSampler
from biosynth.core._executors import Batch, StepInputs, batches, run_batch
from biosynth.core._generator import SampleRequest, StepContext
from biosynth.core._journal import StepJournal
from biosynth.core._seeding import derive_seed


def journal_of(root: Path, sizes: list[int]) -> list[str]:
    """Commit batches of the given sizes (a failure in the middle one) and return the kept records' ids in order."""
    generator = AttributeSampler({"attributes": {"sex": ["female", "male"]}})
    ctx = StepContext(step="patients", seed=4, root=root)
    journal = StepJournal(root, "patients")
    start, kept, commits = 0, [], []
    for size in sizes:
        result = run_batch(generator, Batch(start, start + size, [SampleRequest(i, i) for i in range(start, start + size)]),
                           ctx)
        commits.append((start, start + size, result))
        start += size
    for begin, end, result in reversed(commits):  # committed out of order, as Ray's results may come
        records = [pair for pair in result.record_list() if pair[0] != 4]  # sample 4 "failed"
        journal.commit(begin, end, records, [], [])
    for _, _, result in commits:
        kept += [r.id for i, r in result.record_list() if i != 4]
    return kept


def test_inputs_are_streamed_in_index_order_and_skipped_on_resume(tmp_path: Path) -> None:
    ids = journal_of(tmp_path, [3, 3, 4])  # 9 records kept: positions 0..8
    assert StepInputs(tmp_path, "patients", take=None).count == 9
    inputs = StepInputs(tmp_path, "patients", take=None)
    assert [r.id for r in inputs.take(0, 1)] == ids[0:2]
    assert [r.id for r in inputs.take(1, 3)] == ids[1:4]  # a batch may share its first input with the last one
    assert [r.id for r in inputs.take(6, 8)] == ids[6:9]  # positions 4..5 belonged to batches done before
    assert StepInputs(tmp_path, "patients", take=5).count == 5


def test_batches_carry_the_seeds_and_inputs_of_their_samples(tmp_path: Path) -> None:
    ids = journal_of(tmp_path, [3, 3, 4])
    # 9 inputs, 2 samples each: 18 samples in batches of 4; the batches starting at 4 and 12 are committed already
    made = list(batches(seed=7, requested=18, batch_size=4, per_input=2, done={4, 12},
                        inputs=StepInputs(tmp_path, "patients", take=None)))
    assert [(b.start, b.stop) for b in made] == [(0, 4), (8, 12), (16, 18)]
    last = made[-1].requests
    assert [r.index for r in last] == [16, 17] and {r.input.id for r in last} == {ids[8]}
    assert [r.input.id for r in made[1].requests] == [ids[4], ids[4], ids[5], ids[5]]
    assert [r.seed for r in made[0].requests] == [derive_seed(7, i) for i in range(4)]
