"""The one table schema: biosynth and SDV-style metadata files, detection, clear errors naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from biosynth.core import (
    ColumnType,
    ConfigError,
    InputDataError,
    TableMetadata,
    detect_metadata,
    read_table_metadata,
)


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame({
        "patient_id": [101, 102, 103, 104, 105],
        "age": [34, 51, 67, 45, 29],
        "sex": ["F", "M", "F", "F", "M"],
        "systolic": [120.0, 135.5, 150.0, None, 118.0],
        "diastolic": [80.0, 85.0, 95.0, 70.0, 75.0],
        "smoker": [True, False, False, True, False],
        "note": ["seen for a routine check", "chest pain on exertion today", "follow up after the fall",
                 "asks about a new medication", "no complaints at this visit"],
    })


def test_detection_types_every_column_and_an_id_column_is_an_identifier(table: pd.DataFrame) -> None:
    meta = detect_metadata(table, constraints=["systolic > diastolic"])
    types = {c.name: c.type for c in meta.columns}
    assert types == {"patient_id": ColumnType.ID, "age": ColumnType.NUMERICAL, "sex": ColumnType.CATEGORICAL,
                     "systolic": ColumnType.NUMERICAL, "diastolic": ColumnType.NUMERICAL,
                     "smoker": ColumnType.BOOLEAN, "note": ColumnType.TEXT}
    assert meta.column("systolic").missing_fraction == 0.2 and meta.column("age").integer
    assert meta.column("sex").categories == ("F", "M")
    assert [str(c) for c in meta.constraints] == ["systolic > diastolic"]


def test_a_constraint_the_data_breaks_is_refused_naming_row_and_columns(table: pd.DataFrame) -> None:
    # the row missing systolic passes: 4 of 5 rows break it
    with pytest.raises(InputDataError, match=r"breaks its own constraint \(4 row\(s\)\); first: row 0, columns "
                                             r"'diastolic', 'systolic'"):
        detect_metadata(table, constraints=["diastolic > systolic"])


def test_a_saved_file_reads_back_equal(table: pd.DataFrame, tmp_path: Path) -> None:
    meta = detect_metadata(table)
    meta.save(tmp_path / "m.json")
    assert read_table_metadata(tmp_path / "m.json") == meta == TableMetadata.load(tmp_path / "m.json")


def test_sdv_metadata_keeps_its_types_and_reads_details_from_the_data(table: pd.DataFrame, tmp_path: Path) -> None:
    sdv = {"METADATA_SPEC_VERSION": "SINGLE_TABLE_V1", "primary_key": "patient_id",
           "columns": {"patient_id": {"sdtype": "id"}, "age": {"sdtype": "numerical"},
                       "sex": {"sdtype": "categorical"}, "systolic": {"sdtype": "numerical"},
                       "diastolic": {"sdtype": "numerical"}, "smoker": {"sdtype": "boolean"},
                       "note": {"sdtype": "pii"}}}
    (tmp_path / "sdv.json").write_text(json.dumps(sdv), encoding="utf-8")
    meta = read_table_metadata(tmp_path / "sdv.json", table)
    assert {c.name: c.type for c in meta.columns}["note"] is ColumnType.TEXT  # an sdtype biosynth lacks: free text
    assert meta.column("age").minimum == 29 and meta.column("age").maximum == 67
    assert meta.column("sex").categories == ("F", "M")
    # an integer column SDV calls categorical becomes categorical, its values the categories
    sdv["columns"]["age"] = {"sdtype": "categorical"}
    (tmp_path / "multi.json").write_text(json.dumps({"tables": {"patients": sdv}}), encoding="utf-8")
    multi = read_table_metadata(tmp_path / "multi.json", table)
    assert multi.table == "patients" and multi.column("age").categories == (29, 34, 45, 51, 67)
    with pytest.raises(ConfigError, match=r"SDV-style .* give the data with it"):
        read_table_metadata(tmp_path / "sdv.json")


@pytest.mark.parametrize("content, expected", [
    (None, "is not a file"),
    (b"\xff\xfe{", "is not UTF-8"),
    (b"{columns: [", "is not JSON"),
    (b"[1, 2]", "must hold a JSON object, got list"),
    (b'{"columns": [{"name": "age", "type": "numeric"}]}', "is not valid table metadata"),
    (b'{"columns": {"age": {"sdtype": "numerical"}, "weight": {"sdtype": "numerical"}}}', r"names column\(s\) \['weight'\]"),
])
def test_bad_metadata_files_are_named(table: pd.DataFrame, tmp_path: Path, content: bytes | None, expected: str) -> None:
    path = tmp_path / "meta.json"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(InputDataError, match=expected) as caught:
        read_table_metadata(path, table, what="--metadata file")
    assert "--metadata file" in str(caught.value) and "meta.json" in str(caught.value)
