"""The Synthesizer base: fit/sample/save/load vocabulary, validation of sampled rows, the model folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Self

import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file, save_file

from biosynth.core import MARKER, ConfigError, InputDataError, SampleFailure, read_marker, weights_sha256
from biosynth.tabular import Conditions, SampleOutcome, SamplingError, Synthesizer, TableMetadata


class ColumnSampler(Synthesizer):
    """Independent columns resampled from the training rows (a tiny but real learned generator)."""

    kind = "column_sampler_test"

    def __init__(self, break_every: int = 0) -> None:
        self.break_every = break_every  # make every k-th row invalid, to test the base's safety net

    def _fit(self, data: pd.DataFrame, metadata: TableMetadata) -> None:
        self.values = {c: data[c].tolist() for c in metadata.names}

    def _sample(self, n: int, conditions: Conditions, seed: int) -> pd.DataFrame:
        generator = np.random.default_rng(seed)
        rows = []
        for i in range(n):
            row = {c: v[int(generator.integers(len(v)))] for c, v in self.values.items()}
            row.update(conditions.fixed())
            if self.break_every and i % self.break_every == 0:
                row["age"] = 999
            rows.append(row)
        return pd.DataFrame(rows)

    def _save(self, folder: Path) -> None:
        save_file({"age": np.asarray(self.values["age"], dtype=np.int64)}, str(folder / "weights.safetensors"))
        (folder / "values.json").write_text(json.dumps({"sex": self.values["sex"]}))

    @classmethod
    def _load(cls, folder: Path, metadata: TableMetadata) -> Self:
        synth = cls()
        synth.values = {"age": load_file(str(folder / "weights.safetensors"))["age"].tolist(),
                        **json.loads((folder / "values.json").read_text())}
        return synth


def _data() -> pd.DataFrame:
    return pd.DataFrame({"age": [30, 45, 61, 70, 52, 38], "sex": ["F", "M", "F", "M", "F", "F"]})


def test_fit_sample_save_load_round_trip(tmp_path: Path) -> None:
    synth = ColumnSampler().fit(_data())
    assert synth.metadata.names == ("age", "sex")
    first = synth.sample(20, seed=4)
    assert len(first) == 20 and set(first["sex"]) <= {"F", "M"}
    folder = synth.save(tmp_path / "model")
    marker = read_marker(folder)
    assert marker["kind"] == "column_sampler_test" and marker["format_version"] == 1
    assert set(marker["files"]) == {"weights.safetensors", "values.json", "metadata.json"}
    loaded = ColumnSampler.load(folder)
    pd.testing.assert_frame_equal(loaded.sample(20, seed=4), first)


def test_conditions_are_parsed_checked_and_met() -> None:
    synth = ColumnSampler().fit(_data())
    rows = synth.sample(10, "sex = M", seed=1)
    assert set(rows["sex"]) == {"M"}
    with pytest.raises(ConfigError, match=r"'X' is an unseen category of column 'sex'"):
        synth.sample(3, {"sex": "X"})
    with pytest.raises(ConfigError, match=r"no column 'weight'"):
        synth.sample(3, "weight > 3")
    # rows the subclass returns that miss a range condition are failures, never returned rows
    outcome = synth.sample_outcome(30, "age > 60", seed=2)
    assert (outcome.rows["age"] > 60).all()
    assert len(outcome.rows) + len(outcome.failures) == 30 and outcome.failures
    assert all("condition not met: age > 60" in f.reason for f in outcome.failures)


def test_invalid_rows_are_counted_and_sample_raises() -> None:
    synth = ColumnSampler(break_every=3).fit(_data())
    outcome = synth.sample_outcome(9, seed=0)
    assert isinstance(outcome, SampleOutcome)
    assert len(outcome.rows) == 6 and [f.index for f in outcome.failures] == [0, 3, 6]
    assert all(isinstance(f, SampleFailure) for f in outcome.failures)  # core's one per-sample failure type
    assert "column 'age'" in outcome.failures[0].reason
    assert outcome.failure_reasons and sum(outcome.failure_reasons.values()) == 3
    with pytest.raises(SamplingError, match=r"6 valid rows of 9 requested \(3 failed"):
        synth.sample(9, seed=0)


def test_unfitted_and_bad_inputs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not fitted"):
        ColumnSampler().sample(3)
    metadata = ColumnSampler().fit(_data()).metadata
    with pytest.raises(InputDataError, match=r"column\(s\) \['bmi'\] that the metadata"):
        ColumnSampler().fit(_data().assign(bmi=1.0), metadata)
    narrowed = metadata.with_column(metadata.column("age").model_copy(update={"maximum": 50.0}))
    with pytest.raises(InputDataError, match=r"breaks its metadata in 3 place\(s\); first: row 2, column 'age'"):
        ColumnSampler().fit(_data(), narrowed)
    with pytest.raises(InputDataError, match=r"lacks column\(s\) \['sex'\]"):
        ColumnSampler().fit(_data()[["age"]], metadata)
    with pytest.raises(InputDataError, match=r"column 'empty' .* entirely missing"):
        ColumnSampler().fit(_data().assign(empty=None))
    with pytest.raises(ConfigError, match="non-negative"):
        ColumnSampler().fit(_data()).sample(-1)


def test_foreign_corrupted_and_unsafe_folders_are_refused(tmp_path: Path) -> None:
    folder = ColumnSampler().fit(_data()).save(tmp_path / "model")
    with pytest.raises(ConfigError, match="already exists and is not empty"):
        ColumnSampler().fit(_data()).save(folder)
    # another generator's folder
    other = json.loads((folder / MARKER).read_text())
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    for name in ("weights.safetensors", "values.json", "metadata.json"):
        (foreign / name).write_bytes((folder / name).read_bytes())
    (foreign / MARKER).write_text(json.dumps({**other, "kind": "halo"}))
    with pytest.raises(InputDataError, match=r"describes a model of kind 'halo', not 'column_sampler_test'"):
        ColumnSampler.load(foreign)
    # a corrupted file
    (folder / "values.json").write_text('{"sex": ["F"]}')
    with pytest.raises(InputDataError, match=r"values\.json' is corrupted"):
        ColumnSampler.load(folder)
    # no marker at all
    with pytest.raises(InputDataError, match=r"biosynth_model\.json is missing"):
        ColumnSampler.load(tmp_path)


def test_a_save_writing_other_files_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    class Pickler(ColumnSampler):
        kind = "pickler_test"

        def _save(self, folder: Path) -> None:
            (folder / "state.pkl").write_bytes(b"\x80\x04")

    with pytest.raises(RuntimeError, match=r"refusing to save 'state\.pkl'"):
        Pickler().fit(_data()).save(tmp_path / "model")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_saved_before_the_shared_marker_still_loads(tmp_path: Path) -> None:
    synth = ColumnSampler().fit(_data())
    folder = synth.save(tmp_path / "model")
    marker = json.loads((folder / MARKER).read_text())
    legacy = {k: v for k, v in marker.items() if k not in ("kind", "written_at")} | {"generator": "column_sampler_test"}
    (folder / MARKER).write_text(json.dumps(legacy))  # the marker as tabular wrote it before core's
    pd.testing.assert_frame_equal(ColumnSampler.load(folder).sample(5, seed=1), synth.sample(5, seed=1))


def test_overwrite_replaces_only_a_model_folder(tmp_path: Path) -> None:
    folder = ColumnSampler().fit(_data()).save(tmp_path / "model")
    refit = ColumnSampler().fit(_data().assign(age=[31, 46, 62, 71, 53, 39]))
    refit.save(folder, overwrite=True)
    assert ColumnSampler.load(folder).values["age"] == [31, 46, 62, 71, 53, 39]
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"holds no biosynth_model\.json"):
        refit.save(project, overwrite=True)
    assert [p.name for p in project.iterdir()] == ["notes.txt"] and (project / "notes.txt").read_text() == "mine"


def test_one_fingerprint_in_memory_saved_and_loaded(tmp_path: Path) -> None:
    synth = ColumnSampler().fit(_data())
    folder = synth.save(tmp_path / "model")
    assert synth.weights_sha256() == weights_sha256(folder) == ColumnSampler.load(folder).weights_sha256()
    assert ColumnSampler().fit(_data().assign(age=[31, 46, 62, 71, 53, 39])).weights_sha256() != weights_sha256(folder)
