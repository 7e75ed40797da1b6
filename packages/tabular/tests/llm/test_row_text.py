from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from biosynth.core import ConfigError
from biosynth.tabular import detect_metadata
from biosynth.tabular._llm.row_text import MISSING, RowCodec, format_units, parse_units


def _table() -> pd.DataFrame:
    return pd.DataFrame({
        "age": [34, 81, 57, 20],
        "bmi": [22.5, 31.25, None, 19.0],
        "delta": [-1.5, 0.25, 3.0, -0.05],
        "sex": ["F", "M", "F", "M"],
        "smoker": [True, False, False, True],
        "admitted": pd.to_datetime(["2020-01-01", "2020-03-05", "2021-12-31", "2020-01-02"]),
    })


def test_numbers_format_and_parse_canonically() -> None:
    assert format_units(1234, 2) == "12.34"
    assert format_units(-5, 2) == "-0.05"
    assert format_units(7, 0) == "7"
    assert parse_units("-0.05", 2) == -5
    for bad, decimals in (("012", 0), ("1.2", 2), ("-0.00", 2), ("1.", 2), (".5", 1), ("1e3", 0), ("--1", 0),
                          ("1.5", 0), ("-0", 0)):
        assert parse_units(bad, decimals) is None, bad


def test_zero_padded_numbers_have_one_width() -> None:
    assert format_units(1435, 1, 4) == "0143.5" and format_units(-5, 2, 2) == "-00.05" and format_units(7, 0, 3) == "007"
    assert parse_units("0143.5", 1, 4) == 1435 and parse_units("-00.05", 2, 2) == -5 and parse_units("007", 0, 3) == 7
    for bad, decimals, width in (("143.5", 1, 4), ("00143.5", 1, 4), ("-000", 0, 3), ("07", 0, 3), ("7", 0, 3)):
        assert parse_units(bad, decimals, width) is None, bad
    df = pd.DataFrame({"area": [143.5, 2501.0, 980.25], "delta": [-12.5, 3.0, 0.25], "n": [0, 7, 120]})
    codec = RowCodec.build(df, detect_metadata(df), fixed_width=True)
    assert [codec.column(c).width for c in ("area", "delta", "n")] == [4, 2, 3]
    assert codec.value_text("area", 143.5) == "0143.50" and codec.value_text("delta", -12.5) == "-12.50"
    assert codec.value_text("delta", 0.25) == "00.25" and codec.value_text("n", 7) == "007"
    for name in df.columns:
        for value in df[name]:
            assert codec.text_value(name, codec.value_text(name, value)) == value
    assert RowCodec.build(df, detect_metadata(df)).value_text("n", 7) == "7"  # no padding unless asked


def test_values_round_trip_through_text() -> None:
    df = _table()
    codec = RowCodec.build(df, detect_metadata(df))
    assert codec.column("bmi").decimals == 2 and codec.column("delta").decimals == 2
    assert codec.column("age").decimals == 0 and codec.column("bmi").missing
    for name in df.columns:
        for value in df[name]:
            text = codec.value_text(name, value)
            back = codec.text_value(name, text)
            if pd.isna(value):
                assert text == MISSING and back is None
            elif isinstance(back, dt.datetime):
                assert back == value.to_pydatetime()
            else:
                assert back == value
    assert codec.value_text("smoker", True) == "true"
    assert codec.value_text("admitted", pd.Timestamp("2020-01-02")) == "1"  # days since the earliest date


def test_row_text_parses_back() -> None:
    df = _table()
    codec = RowCodec.build(df, detect_metadata(df))
    values = {n: codec.value_text(n, df.iloc[1][n]) for n in df.columns}
    text = codec.row_text(values, ["sex", "age", "admitted", "bmi", "smoker", "delta"])
    assert text.startswith("sex is M, age is 81, ")
    assert codec.parse(text) == values
    with pytest.raises(ValueError, match="lacks"):
        codec.parse("sex is M")


def test_separators_in_names_and_free_text_are_refused() -> None:
    df = pd.DataFrame({"blood, type": ["A", "B"], "x": [1, 2]})
    with pytest.raises(ConfigError, match="blood, type"):
        RowCodec.build(df, detect_metadata(df))
    df = pd.DataFrame({"note": ["a long free text here", "another long free text"], "x": [1, 2]})
    with pytest.raises(ConfigError, match="'note' is free text"):
        RowCodec.build(df, detect_metadata(df))


def test_values_beyond_max_decimals_are_rounded_inside_the_range() -> None:
    df = pd.DataFrame({"x": [0.123456, 0.5, 0.987654]})
    codec = RowCodec.build(df, detect_metadata(df), max_decimals=3)
    col = codec.column("x")
    assert col.decimals == 3 and (col.low, col.high) == (124, 987)  # ceil(min), floor(max): inside [min, max]
    assert codec.value_text("x", 0.123456) == "0.124"
