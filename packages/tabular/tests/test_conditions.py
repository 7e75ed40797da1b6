"""Condition specs: the string and the structured form, checked against the metadata."""

from __future__ import annotations

import pandas as pd
import pytest

from biosynth.core import ConfigError
from biosynth.tabular import Conditions, detect_metadata, parse_conditions


def _meta():
    return detect_metadata(pd.DataFrame({
        "age": [30, 70, 50], "diagnosis": ["asthma", "copd", "heart failure"], "bmi": [20.5, 30.0, 25.0],
        "smoker": [True, False, True], "admitted": pd.to_datetime(["2020-01-01", "2020-02-01", "2020-03-01"])}))


def test_string_and_structured_forms_agree() -> None:
    text = parse_conditions("diagnosis = asthma and age > 65", _meta())
    structured = parse_conditions({"diagnosis": "asthma", "age": {"gt": 65}}, _meta())
    assert text == structured and str(text) == "diagnosis = asthma and age > 65"
    assert text.fixed() == {"diagnosis": "asthma"}
    assert text.unmet({"diagnosis": "asthma", "age": 66}) == []
    assert text.unmet({"diagnosis": "copd", "age": 66}) == ["diagnosis = asthma (got copd)"]
    quoted = parse_conditions('diagnosis = "heart failure" and smoker = true and admitted >= 2020-01-15', _meta())
    assert quoted.to_mapping() == {"diagnosis": {"eq": "heart failure"}, "smoker": {"eq": True},
                                   "admitted": {"ge": "2020-01-15T00:00:00"}}
    assert parse_conditions({"diagnosis": {"in": ["asthma", "copd"]}}, _meta()).unmet({"diagnosis": "copd"}) == []
    assert parse_conditions(None) == Conditions() and not parse_conditions("")


@pytest.mark.parametrize(("spec", "message"), [
    ("weight > 60", r"has no column 'weight'"),
    ({"diagnosis": "flu"}, r"'flu' is an unseen category of column 'diagnosis'"),
    ("age > 80", r"no value of column 'age' meets it \(an empty range"),
    ("age > 65 and age < 60", r"an empty range"),
    ("age > 65 and age < 66", r"an empty range"),  # integer column: nothing strictly between
    ("diagnosis in (flu, cold)", r"'flu' is an unseen category"),
    ("diagnosis = asthma and diagnosis = copd", r"no value of column 'diagnosis' meets it"),
    ("diagnosis > asthma", r"only numerical and datetime columns can be compared"),
    ("age = old", r"column 'age' is numerical, got 'old'"),
    ("age ~ 4", r"cannot read condition 'age ~ 4'"),
    ({"age": {"greater": 4}}, r"unknown operator 'greater'"),
])
def test_bad_conditions_name_the_column(spec: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_conditions(spec, _meta())  # type: ignore[arg-type]
