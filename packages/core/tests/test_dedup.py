"""Duplicate removal in a step: exact and near duplicates are removed, counted and named, reproducibly."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from biosynth.core import (
    DeduplicateConfig,
    Deduplicator,
    Modality,
    Provenance,
    RecipeError,
    Record,
    Runner,
    SyntheticDataset,
    TableRowPayload,
    TextPayload,
    parse_recipe,
)
from biosynth.core._progress import LogProgress

BASE = ("the patient was admitted with chest pain radiating to the left arm and was given aspirin in the "
        "emergency department before transfer to the cardiology ward for monitoring")
NEAR = BASE.replace("monitoring", "observation")  # 1 of 25 words differs
TEXTS = [BASE, "  THE patient was admitted WITH chest pain radiating to the left arm and was given aspirin in "
         "the emergency department before transfer to the cardiology ward for monitoring ", NEAR,
         "a completely different note about asthma follow up in clinic with inhaler technique reviewed",
         "the patient was admitted with chest pain"]


PROV = Provenance(generator="test", generator_version="0", seed=0)


def _record(i: int, text: str) -> Record:
    return Record(id=f"s-{i}", case_id=f"s-{i}", modality=Modality.TEXT, payload=TextPayload(text=text), provenance=PROV)


def _shingles(text: str, k: int = 3) -> set[str]:
    words = text.lower().split()
    return {" ".join(words[i:i + k]) for i in range(len(words) - k + 1)}


def _feed(config: DeduplicateConfig, texts: list[str]) -> list[object]:
    dedup = Deduplicator(config)
    verdicts = []
    for i, text in enumerate(texts):
        record = _record(i, text)
        verdict = dedup.check(record)
        if verdict is None:
            dedup.keep(record)
        verdicts.append(verdict)
    return verdicts


def test_exact_duplicates_ignore_case_and_whitespace_only() -> None:
    verdicts = _feed(DeduplicateConfig(), TEXTS)
    assert verdicts[0] is None and verdicts[2] is None and verdicts[3] is None and verdicts[4] is None
    assert verdicts[1].duplicate_of == "s-0" and verdicts[1].reason == "exact duplicate"  # type: ignore[union-attr]


def test_near_duplicates_use_the_exact_jaccard_against_the_threshold() -> None:
    jaccard = len(_shingles(BASE) & _shingles(NEAR)) / len(_shingles(BASE) | _shingles(NEAR))
    assert 0.8 < jaccard < 0.95  # hand check of the fixture: 20 shared of 24 shingles
    below = _feed(DeduplicateConfig(near_threshold=round(jaccard, 6) + 1e-3), TEXTS)
    assert below[2] is None
    at = _feed(DeduplicateConfig(near_threshold=0.8), TEXTS)
    assert at[2].duplicate_of == "s-0" and at[2].reason == "near duplicate"  # type: ignore[union-attr]
    assert at[2].similarity == pytest.approx(jaccard, abs=1e-6)  # type: ignore[union-attr]
    assert at[4] is None  # a prefix of the note shares few shingles with it


def _row(i: int, values: dict[str, object]) -> Record:
    return Record(id=f"t-{i}", case_id=f"t-{i}", modality=Modality.TABULAR, payload=TableRowPayload(values=values),
                  provenance=PROV)


def test_table_rows_are_compared_by_their_values() -> None:
    dedup = Deduplicator(DeduplicateConfig(near_threshold=0.5))
    a = _row(0, {"age": 40, "sex": "f"})
    b = _row(1, {"sex": "f", "age": 40})
    c = _row(2, {"sex": "f", "age": 41})
    dedup.keep(a)
    assert dedup.check(b).duplicate_of == "t-0"  # type: ignore[union-attr]
    assert dedup.check(c) is None


def test_images_sharing_a_caption_are_not_near_duplicates() -> None:
    """An image's text is the prompt it was drawn from, shared by many different images: only its file counts."""
    from biosynth.core import ImagePayload, MediaRef

    def image(i: int, sha: str) -> Record:
        media = MediaRef(path=f"media/x/{i}.png", sha256=sha, mime_type="image/png", bytes=10)
        return Record(id=f"i-{i}", case_id=f"i-{i}", modality=Modality.IMAGE, provenance=PROV,
                      payload=ImagePayload(media=media, width=8, height=8, caption="a frontal chest x-ray, cardiomegaly"))

    dedup = Deduplicator(DeduplicateConfig(near_threshold=0.5))
    first, other, copy = image(0, "a" * 64), image(1, "b" * 64), image(2, "a" * 64)
    assert first.text == "a frontal chest x-ray, cardiomegaly"
    dedup.keep(first)
    assert dedup.check(other) is None
    assert dedup.check(copy).duplicate_of == "i-0"  # type: ignore[union-attr]  # the same file is a copy


def _recipe(near: float | None = 0.8, batch_size: int = 3, crash_env: str | None = None):
    steps = [
        {"name": "notes", "generator": "sample_generators:Phrases", "count": 12, "batch_size": batch_size,
         "params": {"texts": TEXTS, "crash_at_env": crash_env},
         "deduplicate": {"near_threshold": near} if near else {}},
        {"name": "copies", "generator": "template", "from": "notes", "params": {"template": "copy: $text"}},
    ]
    return parse_recipe({"name": "dedup", "seed": 3, "steps": steps})


def test_a_step_removes_counts_and_names_duplicates_and_downstream_sees_only_kept(tmp_path: Path) -> None:
    manifest = Runner(_recipe(), tmp_path / "out", progress=LogProgress()).run()
    step = manifest.steps["notes"]
    # 12 samples cycle through 5 texts: kept are index 0 (BASE), 3 (asthma) and 4 (prefix); 1 is an exact
    # duplicate and 2 a near duplicate of 0; every later sample repeats one of those.
    assert (step.requested, step.produced, step.failed, step.removed) == (12, 3, 0, 9)
    assert step.removal_reasons == {"exact duplicate": 7, "near duplicate": 2}
    assert [(r.index, r.duplicate_of) for r in step.removed_samples[:3]] == [
        (1, "notes-000000"), (2, "notes-000000"), (5, "notes-000000")]
    assert manifest.removed == 9
    ds = SyntheticDataset(tmp_path / "out")
    assert [r.id for r in ds.records() if r.id.startswith("notes-")] == ["notes-000000", "notes-000003", "notes-000004"]
    assert manifest.steps["copies"].requested == 3


def test_exact_only_keeps_near_duplicates(tmp_path: Path) -> None:
    manifest = Runner(_recipe(near=None), tmp_path / "out", progress=LogProgress()).run()
    assert manifest.steps["notes"].removal_reasons == {"exact duplicate": 8}
    assert manifest.steps["notes"].produced == 4


def test_resumed_run_removes_the_same_samples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Runner(_recipe(crash_env="BIOSYNTH_TEST_CRASH"), tmp_path / "ref", progress=LogProgress()).run()
    monkeypatch.setenv("BIOSYNTH_TEST_CRASH", "7")
    with pytest.raises(RuntimeError, match="killed for the test"):
        Runner(_recipe(crash_env="BIOSYNTH_TEST_CRASH"), tmp_path / "out", progress=LogProgress()).run()
    monkeypatch.delenv("BIOSYNTH_TEST_CRASH")
    resumed = Runner(_recipe(crash_env="BIOSYNTH_TEST_CRASH"), tmp_path / "out", progress=LogProgress(),
                     resume=True).run()
    reference = SyntheticDataset(tmp_path / "ref").manifest.steps["notes"]
    assert resumed.steps["notes"].removed_samples == reference.removed_samples
    a = pq.read_table(tmp_path / "ref" / "records.parquet").drop_columns(["created_at"])
    b = pq.read_table(tmp_path / "out" / "records.parquet").drop_columns(["created_at"])
    assert a.equals(b)


def test_a_bad_deduplicate_block_names_the_field() -> None:
    with pytest.raises(RecipeError, match="near_threshold"):
        _recipe(near=1.5)


def test_take_uses_only_the_first_records_of_from(tmp_path: Path) -> None:
    data = _recipe(near=None).model_dump(by_alias=True)
    data["steps"][1]["take"] = 2
    manifest = Runner(parse_recipe(data), tmp_path / "out", progress=LogProgress()).run()
    copies = [r for r in SyntheticDataset(tmp_path / "out").records() if r.id.startswith("copies-")]
    assert manifest.steps["copies"].requested == 2
    assert [r.parents for r in copies] == [("notes-000000",), ("notes-000002",)]
    with pytest.raises(RecipeError, match="`take` only applies with `from`"):
        parse_recipe({"name": "x", "steps": [{"name": "a", "generator": "attributes", "count": 1, "take": 1}]})


def test_the_dataset_card_names_each_steps_removals_and_their_reasons(tmp_path: Path) -> None:
    from biosynth.core import export_dataset

    Runner(_recipe(), tmp_path / "out", progress=LogProgress()).run()
    card = export_dataset(tmp_path / "out", "card", tmp_path / "card", progress=LogProgress()).out / "DATASHEET.md"
    text = card.read_text()
    assert "removed 9 (deduplication or a generator's own filtering" in text
    assert "`notes` removed 9 (exact duplicate: 7, near duplicate: 2)" in text
