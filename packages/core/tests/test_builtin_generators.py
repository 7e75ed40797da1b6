from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from test_contracts_builtin import _patient

from biosynth.core import ConfigError, SampleFailure, SampleRequest, StepContext
from biosynth.core._builtin_generators import AttributeSampler, TemplateText
from biosynth.core._seeding import derive_seed


def requests(n: int, inputs=None) -> list[SampleRequest]:
    return [SampleRequest(i, derive_seed(1, i), inputs[i % len(inputs)] if inputs else None) for i in range(n)]


def test_attribute_weights_and_ranges_hold(tmp_path: Path) -> None:
    gen = AttributeSampler({"attributes": {
        "dx": {"type": "categorical", "values": ["a", "b"], "weights": [0.9, 0.1]},
        "age": {"type": "integer", "low": 30, "high": 40},
        "bmi": {"type": "normal", "mean": 27, "sd": 5, "low": 15, "high": 30, "decimals": 1}}})
    recs = gen.generate(requests(2000), StepContext(step="s", seed=1, root=tmp_path))
    values = [r.payload.values for r in recs]
    share_a = Counter(v["dx"] for v in values)["a"] / len(values)
    assert 0.87 < share_a < 0.93
    assert {v["age"] for v in values} == set(range(30, 41))
    assert all(15 <= v["bmi"] <= 30 for v in values)


def test_adding_an_attribute_keeps_the_others(tmp_path: Path) -> None:
    a = AttributeSampler({"attributes": {"age": {"type": "integer", "low": 0, "high": 100}}})
    b = AttributeSampler({"attributes": {"age": {"type": "integer", "low": 0, "high": 100}, "sex": ["f", "m"]}})
    ctx = StepContext(step="s", seed=1, root=tmp_path)
    assert [r.payload.values["age"] for r in a.generate(requests(20), ctx)] == \
           [r.payload.values["age"] for r in b.generate(requests(20), ctx)]


def test_bad_attribute_specs_are_refused() -> None:
    with pytest.raises(ConfigError, match="2 weights for 3 values"):
        AttributeSampler({"attributes": {"x": {"type": "categorical", "values": [1, 2, 3], "weights": [1, 1]}}})
    with pytest.raises(ConfigError, match="below low"):
        AttributeSampler({"attributes": {"x": {"type": "integer", "low": 5, "high": 1}}})
    with pytest.raises(ConfigError, match="label_columns"):
        AttributeSampler({"attributes": {"x": ["a"]}, "label_columns": ["y"]})


def test_template_missing_field_is_a_recorded_failure(tmp_path: Path) -> None:
    gen = TemplateText({"template": "${age} ${smoker}"})
    [out] = gen.generate(requests(1, [_patient(0)]), StepContext(step="s", seed=1, root=tmp_path))
    assert isinstance(out, SampleFailure) and out.reason == "template fields missing from the input record: smoker"


def test_template_cannot_reach_attributes(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid placeholder"):
        TemplateText({"template": "${age.__class__}"})
    gen = TemplateText({"template": "{age.__class__} costs $$5 at ${age}"})
    [out] = gen.generate(requests(1, [_patient(0)]), StepContext(step="s", seed=1, root=tmp_path))
    assert out.text == "{age.__class__} costs $5 at 40"
