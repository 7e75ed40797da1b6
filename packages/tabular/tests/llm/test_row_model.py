"""`row_model(metadata)`: types, ranges, categories, nullability and constraints as a pydantic model."""

from __future__ import annotations

import pandas as pd
import pytest
from pydantic import ValidationError

from biosynth.tabular import detect_metadata, row_model
from biosynth.tabular._llm.row_model import validate_row


def _model():
    frame = pd.DataFrame({"age": [40, 70, None], "sex": ["F", "M", "F"], "sbp": [120.5, 150.0, 131.0],
                          "dbp": [80.0, 125.5, 85.0], "smoker": [True, False, True],
                          "seen": pd.to_datetime(["2021-01-01", "2021-06-01", "2021-12-31"])})
    return row_model(detect_metadata(frame, constraints=["sbp > dbp"]))


def test_valid_row_and_json_schema() -> None:
    model = _model()
    row = validate_row(model, {"age": 65, "sex": "M", "sbp": 140, "dbp": 90.0, "smoker": False, "seen": "2021-03-04"})
    assert row.values() == {"age": 65, "sex": "M", "sbp": 140.0, "dbp": 90.0, "smoker": False,
                            "seen": "2021-03-04T00:00:00"}
    schema = model.model_json_schema()
    assert schema["properties"]["sex"]["enum"] == ["F", "M"]
    assert schema["properties"]["sbp"]["minimum"] == 120.5 and schema["properties"]["sbp"]["maximum"] == 150.0
    assert schema["required"] == ["age", "sex", "sbp", "dbp", "smoker", "seen"]
    assert {"type": "null"} in schema["properties"]["age"]["anyOf"]  # missing in the data -> nullable
    assert validate_row(model, {"age": None, "sex": "F", "sbp": 130, "dbp": 85, "smoker": True,
                                "seen": "2021-05-05T10:00:00"}).values()["age"] is None


@pytest.mark.parametrize(("change", "column", "message"), [
    ({"age": "65"}, "age", "valid integer"),
    ({"age": 71}, "age", "less than or equal to 70"),
    ({"sex": "X"}, "sex", "'F' or 'M'"),
    ({"smoker": "yes"}, "smoker", "valid boolean"),
    ({"seen": "2019-01-01"}, "seen", "before the earliest allowed"),
    ({"sex": None}, "sex", "'F' or 'M'"),
])
def test_field_errors_name_the_column(change: dict[str, object], column: str, message: str) -> None:
    base = {"age": 65, "sex": "M", "sbp": 140.0, "dbp": 90.0, "smoker": False, "seen": "2021-03-04"}
    with pytest.raises(ValidationError) as info:
        validate_row(_model(), {**base, **change})
    [error] = info.value.errors()
    assert error["loc"] == (column,) and message in error["msg"]


def test_constraints_are_a_model_validator() -> None:
    with pytest.raises(ValidationError, match=r"sbp > dbp is violated \(sbp=121.0, dbp=124.0\)"):
        validate_row(_model(), {"age": 65, "sex": "M", "sbp": 121.0, "dbp": 124.0, "smoker": False, "seen": "2021-03-04"})
