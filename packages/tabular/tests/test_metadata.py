from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from biosynth.core import ConfigError, InputDataError
from biosynth.tabular import ColumnSpec, ColumnType, TableMetadata, detect_metadata


def _table() -> pd.DataFrame:
    return pd.DataFrame({
        "patient_id": [1, 2, 3, 4],
        "age": [34.5, 61.0, None, 80.25],
        "visits": [1, 3, 2, 7],
        "sex": ["F", "M", "F", "F"],
        "smoker": [True, False, False, True],
        "admitted": pd.to_datetime(["2020-01-01", "2021-06-30", "2019-03-15", "2022-12-31"]),
        "note": ["pain in the left knee after a fall", "no complaints at all today", None,
                 "shortness of breath on exertion noted"],
    })


def test_detects_types_ranges_categories_and_missingness() -> None:
    meta = detect_metadata(_table(), table="patients", max_categories=3)
    assert meta.version == "2" and meta.table == "patients"
    types = {c.name: c.type for c in meta.columns}
    assert types == {"patient_id": ColumnType.ID, "age": ColumnType.NUMERICAL, "visits": ColumnType.NUMERICAL,
                     "sex": ColumnType.CATEGORICAL, "smoker": ColumnType.BOOLEAN, "admitted": ColumnType.DATETIME,
                     "note": ColumnType.TEXT}
    age = meta.column("age")
    assert (age.minimum, age.maximum, age.integer, age.missing_fraction) == (34.5, 80.25, False, 0.25)
    assert meta.column("visits").integer is True
    assert meta.column("sex").categories == ("F", "M")
    assert meta.column("admitted").earliest == dt.datetime(2019, 3, 15)
    assert meta.column("admitted").latest == dt.datetime(2022, 12, 31)


def test_round_trips_through_json_and_is_editable(tmp_path) -> None:
    meta = detect_metadata(_table(), max_categories=3)
    edited = meta.with_column(ColumnSpec(name="sex", type=ColumnType.CATEGORICAL, categories=("F", "M", "X")))
    edited.save(tmp_path / "meta.json")
    loaded = TableMetadata.load(tmp_path / "meta.json")
    assert loaded == edited and loaded.column("sex").categories == ("F", "M", "X")
    with pytest.raises(ConfigError, match="no column 'weight'"):
        loaded.column("weight")


def test_mixed_type_column_is_named() -> None:
    frame = pd.DataFrame({"ok": [1, 2, 3], "dose": [5, "high", 7]})
    with pytest.raises(InputDataError, match=r"column 'dose'.*mixes kinds of values \(number, string"):
        detect_metadata(frame)


def test_all_missing_column_is_named() -> None:
    frame = pd.DataFrame({"ok": [1, 2], "empty": [None, None]})
    with pytest.raises(InputDataError, match=r"column 'empty' .* entirely missing"):
        detect_metadata(frame)


def test_one_row_table_is_refused() -> None:
    with pytest.raises(InputDataError, match=r"1 row\(s\) \(first column 'age'\)"):
        detect_metadata(pd.DataFrame({"age": [40]}))


def test_inconsistent_spec_is_refused() -> None:
    with pytest.raises(ValueError, match=r"maximum 1\.0 is below minimum 2\.0"):
        ColumnSpec(name="x", type=ColumnType.NUMERICAL, minimum=2, maximum=1)
    with pytest.raises(ValueError, match="categories apply to categorical"):
        ColumnSpec(name="x", type=ColumnType.NUMERICAL, categories=("a",))
