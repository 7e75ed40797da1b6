from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from biosynth.core import DatasetError, PolicyError, Runner, SyntheticDataset, parse_recipe
from biosynth.core._journal import StepJournal
from biosynth.core._progress import LogProgress

NUMBERS = "sample_generators:Numbers"


def recipe(count: int = 10, batch_size: int = 4, seed: int = 5, **params: object):
    return parse_recipe({
        "name": "numbers", "seed": seed,
        "steps": [{"name": "nums", "generator": NUMBERS, "count": count, "batch_size": batch_size, "params": params}],
    })


def run(r, out: Path, **kw):
    return Runner(r, out, progress=LogProgress(), **kw).run()


def content(path: Path):
    return pq.read_table(path / "records.parquet").drop_columns(["created_at"])


def test_same_recipe_and_seed_give_identical_records(tmp_path: Path) -> None:
    run(recipe(), tmp_path / "a")
    run(recipe(), tmp_path / "b")
    run(recipe(seed=6), tmp_path / "c")
    assert content(tmp_path / "a").equals(content(tmp_path / "b"))
    assert not content(tmp_path / "a").equals(content(tmp_path / "c"))


def test_failures_are_counted_with_reasons_never_dropped(tmp_path: Path) -> None:
    manifest = run(recipe(count=10, fail_every=3), tmp_path / "out")
    step = manifest.steps["nums"]
    assert (step.requested, step.produced, step.failed) == (10, 6, 4)
    assert step.failure_reasons == {"index divisible by 3": 4}
    assert [f.index for f in step.failures] == [0, 3, 6, 9]
    ids = [r.id for r in SyntheticDataset(tmp_path / "out").records()]
    assert ids == [f"nums-{i:06d}" for i in (1, 2, 4, 5, 7, 8)]


def test_manifest_holds_resolved_recipe_environment_and_checksums(tmp_path: Path) -> None:
    run(recipe(), tmp_path / "out")
    data = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert data["status"] == "complete"
    assert data["recipe"]["steps"][0]["seed"] == recipe().step_seed(recipe().steps[0])
    assert data["environment"]["python"].count(".") == 2
    assert "biosynth-core" in data["environment"]["biosynth"]
    assert "pydantic" in {k.lower() for k in data["environment"]["packages"]}
    assert "torch" in data["environment"]
    ds = SyntheticDataset(tmp_path / "out")
    assert ds.verify() == []
    (tmp_path / "out" / "records.parquet").write_bytes(b"garbage")
    assert ds.verify() == ["records.parquet does not match its sha256"]


def test_resume_continues_from_committed_batches(tmp_path: Path) -> None:
    out = tmp_path / "out"
    full = tmp_path / "full"
    run(recipe(count=10, batch_size=3), full)
    r = recipe(count=10, batch_size=3)
    runner = Runner(r, out, progress=LogProgress())
    # Simulate a crash: commit the first two batches by hand, leave debris of a third.
    from biosynth.core._runner import plan

    planned = plan(r)
    entry = planned[0]
    manifest = runner._open_output(planned)
    assert manifest.status == "running"
    journal = StepJournal(out, "nums")
    from biosynth.core import SampleRequest, StepContext
    from biosynth.core._seeding import derive_seed

    ctx = StepContext(step="nums", seed=entry.seed, root=out)
    for start in (0, 3):
        outs = entry.generator.generate([SampleRequest(i, derive_seed(entry.seed, i)) for i in range(start, start + 3)], ctx)
        journal.commit(start, start + 3, list(zip(range(start, start + 3), outs, strict=True)), [])
    (journal.dir / "batch-000000006.parquet").write_bytes(b"half-written shard")
    (journal.dir / ".batch-000000009.json.abc.tmp").write_text("{")
    with pytest.raises(DatasetError, match="pass --resume"):
        run(r, out)
    manifest = run(r, out, resume=True)
    assert manifest.steps["nums"].produced == 10
    assert content(out).equals(content(full))
    assert not (out / ".work").exists()


def test_output_folder_with_another_dataset_is_refused(tmp_path: Path) -> None:
    run(recipe(), tmp_path / "out")
    before = (tmp_path / "out" / "records.parquet").read_bytes()
    with pytest.raises(DatasetError, match="holds a different dataset"):
        run(recipe(seed=99), tmp_path / "out", resume=True)
    assert (tmp_path / "out" / "records.parquet").read_bytes() == before
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("keep me")
    with pytest.raises(DatasetError, match="not empty and holds no biosynth dataset"):
        run(recipe(), tmp_path / "other")
    assert (tmp_path / "other" / "notes.txt").read_text() == "keep me"
    # a user's file that merely looks like an interrupted write's leftover is not biosynth's to delete
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / ".draft.tmp").write_text("keep me too")
    with pytest.raises(DatasetError, match="not empty and holds no biosynth dataset"):
        run(recipe(), tmp_path / "mine")
    assert (tmp_path / "mine" / ".draft.tmp").read_text() == "keep me too"


def test_media_files_are_hashed_and_orphans_removed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    orphan = out / "media" / "nums" / "nums-000099.pgm"
    # an orphan, as left by a batch that never committed
    r = recipe(count=5, with_media=True)
    runner = Runner(r, out, progress=LogProgress())
    from biosynth.core._runner import plan

    runner._open_output(plan(r))
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"orphan")
    manifest = runner.__class__(r, out, progress=LogProgress(), resume=True).run()
    assert sorted(manifest.media) == [f"media/nums/nums-{i:06d}.pgm" for i in range(5)]
    assert not orphan.exists()
    ds = SyntheticDataset(out)
    assert ds.verify() == []
    image = ds.records()[0].payload
    assert (out / image.media.path).read_bytes().startswith(b"P2 1 1 255")


def test_input_files_are_fingerprinted_and_policy_enforced(tmp_path: Path) -> None:
    examples = tmp_path / "examples.txt"
    examples.write_text("Real note: 67M with NSTEMI.")
    base = {"name": "p", "seed": 1, "steps": [{"name": "notes", "generator": "sample_generators:Prompted",
                                              "count": 2, "params": {"examples": "examples.txt"}}]}
    manifest = Runner(parse_recipe(base), tmp_path / "local", base_dir=tmp_path, progress=LogProgress()).run()
    [fp] = manifest.inputs
    assert fp.real and fp.parameter == "examples" and fp.bytes == examples.stat().st_size
    assert "67M with NSTEMI" not in (tmp_path / "local" / "manifest.json").read_text()
    [rec, _] = SyntheticDataset(tmp_path / "local").records()
    assert rec.provenance.prompt.redacted and rec.provenance.prompt.rendered is None

    remote = json.loads(json.dumps(base))
    remote["steps"][0]["params"]["model"] = {"backend": "fake", "params": {"remote": True}}
    with pytest.raises(PolicyError, match="would send real data to the remote language model 'fake'"):
        Runner(parse_recipe(remote), tmp_path / "remote", base_dir=tmp_path, progress=LogProgress()).run()
    assert not (tmp_path / "remote").exists()

    remote["policy"] = {"allow_real_data_to_remote": ["notes"], "justification": "DUA 2026-17 permits it"}
    manifest = Runner(parse_recipe(remote), tmp_path / "allowed", base_dir=tmp_path, progress=LogProgress()).run()
    assert manifest.policy_decisions[0]["justification"] == "DUA 2026-17 permits it"
    assert manifest.policy_decisions[0]["remote"] is True

    synthetic = json.loads(json.dumps(base))
    synthetic["steps"][0]["params"] = {"examples": {"path": "examples.txt", "real": False},
                                       "model": {"backend": "fake", "params": {"remote": True}}}
    manifest = Runner(parse_recipe(synthetic), tmp_path / "public", base_dir=tmp_path, progress=LogProgress()).run()
    rec = SyntheticDataset(tmp_path / "public").records()[0]
    assert rec.provenance.prompt.rendered.startswith("Examples:\nReal note")
    assert rec.provenance.model.remote


def test_backend_model_paths_resolve_against_the_recipe_folder(tmp_path: Path) -> None:
    from biosynth.core import BackendSpec

    (tmp_path / "models" / "tiny").mkdir(parents=True)
    context = {"base_dir": tmp_path}
    spec = BackendSpec.model_validate({"backend": "x", "params": {"model": "models/tiny", "gguf_file": "a.gguf"}},
                                      context=context)
    assert spec.params == {"model": str(tmp_path / "models" / "tiny"), "gguf_file": "a.gguf"}
    hub = BackendSpec.model_validate({"backend": "x", "params": {"model": "org/not-here"}}, context=context)
    assert hub.params["model"] == "org/not-here"  # not a local path: left for the backend (e.g. a hub id)
    plain = BackendSpec.model_validate({"backend": "x", "params": {"model": "models/tiny"}})
    assert plain.params["model"] == "models/tiny"


def test_a_generator_summary_lands_in_the_manifest(tmp_path: Path) -> None:
    r = parse_recipe({"name": "c", "seed": 2, "steps": [
        {"name": "nums", "generator": "sample_generators:CountedNumbers", "count": 9, "batch_size": 4,
         "params": {"fail_every": 4}}]})
    manifest = run(r, tmp_path / "out")
    records = SyntheticDataset(tmp_path / "out").records()
    assert manifest.steps["nums"].summary == {"even": sum(1 for x in records if x.labels["even"]), "records": 6}
    plain = run(recipe(), tmp_path / "plain")
    assert plain.steps["nums"].summary is None
