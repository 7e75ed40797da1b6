"""One metadata file, read by biosynth-tabular and biosynth-eval alike (core owns the schema).

A user detects the schema of a real table once (`biosynth tabular detect-metadata`), fits the row model
with it (`fit-table --metadata`), samples through a recipe, and evaluates with the same file
(`biosynth evaluate --metadata`); an SDV-style file works in both places too. The identifier column is
an identifier everywhere: never generated from a learned distribution, never KS-scored.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from biosynth.core import ColumnType, SyntheticDataset, TableMetadata

CLI = [sys.executable, "-c", "from biosynth.core.cli import main; main()"]


def biosynth(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=900, cwd=cwd)


def write_table(path: Path, rows: int, seed: int) -> None:
    draw = random.Random(seed)
    records = []
    for i in range(rows):
        systolic = draw.randint(105, 170)
        records.append({"patient_id": 5000 + seed * 1000 + i, "age": draw.randint(20, 90), "sex": draw.choice("FM"),
                        "systolic": systolic, "diastolic": systolic - draw.randint(25, 55),
                        "smoker": draw.choice(["yes", "no"])})
    pd.DataFrame(records).to_csv(path, index=False)


@pytest.mark.slow
def test_one_metadata_file_serves_fit_table_and_evaluate(tmp_path: Path) -> None:
    write_table(tmp_path / "train.csv", 80, seed=1)
    write_table(tmp_path / "holdout.csv", 40, seed=2)
    done = biosynth("tabular", "detect-metadata", "train.csv", "--out", "meta.json", "--constraint",
                    "systolic > diastolic", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    meta = TableMetadata.load(tmp_path / "meta.json")
    assert meta.column("patient_id").type is ColumnType.ID and meta.column("sex").type is ColumnType.CATEGORICAL

    done = biosynth("tabular", "fit-table", "train.csv", "--metadata", "meta.json", "--out", "model",
                    "--max-steps", "30", "--seed", "3", "--threads", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    (tmp_path / "recipe.yaml").write_text(
        "name: schema\nseed: 5\nsteps:\n  - name: patients\n    generator: llm_finetuned\n    count: 24\n"
        "    params: {model: model}\n", encoding="utf-8")
    done = biosynth("run", "recipe.yaml", "--out", "synthetic", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [r.payload.values for r in SyntheticDataset(tmp_path / "synthetic").records("patients")]
    assert len(rows) == 24
    assert all(r["systolic"] > r["diastolic"] and r["sex"] in ("F", "M") for r in rows)  # the file's constraint held

    sdv = {"columns": {"patient_id": {"sdtype": "id"}, "age": {"sdtype": "numerical"},
                       "sex": {"sdtype": "categorical"}, "systolic": {"sdtype": "numerical"},
                       "diastolic": {"sdtype": "numerical"}, "smoker": {"sdtype": "categorical"}}}
    (tmp_path / "sdv.json").write_text(json.dumps(sdv), encoding="utf-8")
    for name in ("meta.json", "sdv.json"):
        done = biosynth("evaluate", "synthetic", "--real", "train.csv", "--holdout", "holdout.csv", "--metadata", name,
                        "--target", "smoker", "--bootstrap", "0", "--out", f"report-{name}", cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        report = json.loads((tmp_path / f"report-{name}" / "report.json").read_text())
        shapes = next(r for r in report["results"] if r["name"] == "column_shapes")
        scored = json.dumps(shapes["details"])
        assert "age" in scored and "systolic" in scored
        assert "patient_id" not in scored  # an identifier is never KS-scored

    (tmp_path / "meta-folder").mkdir()
    done = biosynth("evaluate", "synthetic", "--real", "train.csv", "--metadata", "meta-folder", "--out", "r",
                    cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--metadata file 'meta-folder' is not a file" in done.stderr and not (tmp_path / "r").exists()

    # the SDV-style file also fits the row model (its ranges and categories come from the data)
    done = biosynth("tabular", "fit-table", "train.csv", "--metadata", "sdv.json", "--out", "model-sdv",
                    "--max-steps", "2", "--threads", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]


def test_a_metadata_folder_is_a_clear_error_before_any_work(tmp_path: Path) -> None:
    write_table(tmp_path / "train.csv", 10, seed=1)
    (tmp_path / "meta").mkdir()
    done = biosynth("tabular", "fit-table", "train.csv", "--metadata", "meta", "--out", "m", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--metadata file 'meta' is not a file" in done.stderr
    assert not (tmp_path / "m").exists()
