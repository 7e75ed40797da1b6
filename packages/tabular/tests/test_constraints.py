"""Metadata spec v2: constraints between columns, detection, old versions, and `check_rows`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from biosynth.core import ConfigError, InputDataError
from biosynth.tabular import FixedCombinations, Inequality, TableMetadata, check_rows, detect_metadata


def _vitals() -> pd.DataFrame:
    return pd.DataFrame({
        "systolic": [120.0, 135.5, 150.0, 110.0],
        "diastolic": [80.0, 85.0, 115.5, 70.0],
        "sex": ["female", "male", "female", "male"],
        "pregnant": ["no", "no", "yes", "no"],
        "admit_date": pd.to_datetime(["2020-01-01", "2020-02-01", "2020-03-01", "2020-04-01"]),
        "discharge_date": pd.to_datetime(["2020-01-03", "2020-02-01", "2020-03-09", "2020-04-02"]),
    })


def _metadata() -> TableMetadata:
    return detect_metadata(_vitals(), fixed_combinations=[["sex", "pregnant"]],
                           constraints=["systolic > diastolic", "admit_date <= discharge_date"])


def test_detects_constraints_and_round_trips(tmp_path: Path) -> None:
    meta = _metadata()
    assert meta.version == "2"
    fixed, *inequalities = meta.constraints
    assert isinstance(fixed, FixedCombinations) and fixed.columns == ("sex", "pregnant")
    assert set(fixed.combinations) == {("female", "no"), ("female", "yes"), ("male", "no")}
    assert [str(c) for c in inequalities] == ["systolic > diastolic", "admit_date <= discharge_date"]
    meta.save(tmp_path / "m.json")
    assert TableMetadata.load(tmp_path / "m.json") == meta


def test_version_1_documents_still_load(tmp_path: Path) -> None:
    old = detect_metadata(_vitals()).model_dump(mode="json")
    old["version"] = "1"
    del old["constraints"]
    (tmp_path / "v1.json").write_text(json.dumps(old))
    loaded = TableMetadata.load(tmp_path / "v1.json")
    assert loaded.version == "2" and loaded.constraints == () and loaded.names[0] == "systolic"
    (tmp_path / "v9.json").write_text(json.dumps({**old, "version": "9"}))
    with pytest.raises(InputDataError, match=r"version '9' is not supported"):
        TableMetadata.load(tmp_path / "v9.json")


def test_check_rows_names_row_and_column() -> None:
    meta = _metadata()
    rows = [
        {"systolic": 130.0, "diastolic": 80.0, "sex": "female", "pregnant": "yes",
         "admit_date": "2020-01-05", "discharge_date": "2020-01-06"},                       # valid
        {"systolic": 112.0, "diastolic": 114.0, "sex": "male", "pregnant": "yes",
         "admit_date": "2020-02-05", "discharge_date": "2020-02-01"},                        # 3 constraints broken
        {"systolic": "high", "diastolic": 80.0, "sex": "other", "pregnant": "no",
         "admit_date": "2020-02-05", "discharge_date": "2020-02-07"},                        # type + category
    ]
    found = check_rows(rows, meta)
    by_row = {i: [str(v) for v in found if v.row == i] for i in range(3)}
    assert by_row[0] == []
    assert any("columns 'sex', 'pregnant'" in v and "sex='male', pregnant='yes'" in v for v in by_row[1])
    assert any("columns 'systolic', 'diastolic': systolic > diastolic is violated" in v for v in by_row[1])
    assert any("admit_date <= discharge_date is violated" in v for v in by_row[1])
    assert len(by_row[1]) == 3
    assert {v.column for v in found if v.row == 2} == {"systolic", "sex"}
    assert check_rows(_vitals(), meta) == []


def test_check_rows_of_a_dataframe_with_missing_values() -> None:
    meta = detect_metadata(pd.DataFrame({"age": [40, None, 60], "sex": ["F", "M", None]}))
    frame = pd.DataFrame({"age": [50.0, None, 200.0], "sex": [None, "M", "F"]})
    [violation] = check_rows(frame, meta)
    assert (violation.row, violation.column) == (2, "age") and "less than or equal to 60" in violation.message
    strict = meta.with_column(meta.column("sex").model_copy(update={"missing_fraction": 0.0}))
    assert str(check_rows(frame, strict)[0]).startswith("row 0, column 'sex'")


def test_bad_constraints_are_refused_by_name() -> None:
    meta = detect_metadata(_vitals())
    with pytest.raises(ConfigError, match=r"unknown column\(s\) \['weight'\]"):
        meta.with_constraint("weight < systolic")
    with pytest.raises(ConfigError, match="needs two numerical or two datetime columns"):
        meta.with_constraint("systolic < admit_date")
    with pytest.raises(ConfigError, match=r"value\(s\) \['unknown'\] of column 'pregnant'"):
        meta.with_constraint(FixedCombinations(columns=("sex", "pregnant"), combinations=(("male", "unknown"),)))
    with pytest.raises(ValueError, match="is not an inequality"):
        Inequality.model_validate("systolic ~ diastolic")
    with pytest.raises(InputDataError, match=r"breaks its own constraint .* diastolic > systolic is violated"):
        detect_metadata(_vitals(), constraints=["diastolic > systolic"])
    with pytest.raises(ConfigError, match="no column 'smoker'"):
        detect_metadata(_vitals(), fixed_combinations=[["sex", "smoker"]])
