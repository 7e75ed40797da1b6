"""`llm_prompted` with core's schema-aware fake backend: validation, retries, failures, conditions, policy."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from biosynth.core import (
    ConfigError,
    InputDataError,
    PolicyError,
    Recipe,
    Record,
    Runner,
    SampleFailure,
    SampleRequest,
    StepContext,
    Strategy,
    SyntheticDataset,
    TableRowPayload,
    achieved_distribution,
)
from biosynth.core.testing import GeneratorContract
from biosynth.tabular import check_rows, detect_metadata
from biosynth.tabular._llm.prompted import LlmPrompted, parse_rows


def _real_table() -> pd.DataFrame:
    return pd.DataFrame({
        "patient_id": [f"p{i}" for i in range(8)],
        "age": [34, 71, 58, 66, 80, 45, 69, 52],
        "sex": ["female", "male", "female", "male", "female", "male", "female", "female"],
        "diagnosis": ["asthma", "copd", "asthma", "diabetes", "copd", "asthma", "asthma", "diabetes"],
        "systolic": [118.0, 145.5, 130.0, 150.0, 160.0, 121.0, 139.0, 127.5],
        "diastolic": [76.0, 88.0, 82.5, 91.0, 125.0, 79.0, 85.0, 80.0],
    })


@pytest.fixture()
def data_files(tmp_path: Path) -> tuple[Path, Path]:
    csv = tmp_path / "patients.csv"
    _real_table().to_csv(csv, index=False)
    metadata = detect_metadata(_real_table(), table="patients", constraints=["systolic > diastolic"])
    meta_path = tmp_path / "patients.meta.json"
    metadata.save(meta_path)
    return csv, meta_path


def _run(params: dict[str, Any], n: int, root: Path, *, seed: int = 5) -> list[Record | SampleFailure]:
    generator = LlmPrompted(params)
    ctx = StepContext(step="rows", seed=seed, root=root)
    return generator.generate([SampleRequest(index=i, seed=1000 + i) for i in range(n)], ctx)


def _answer(*rows: dict[str, Any]) -> str:
    return "Sure! ```json\n" + json.dumps({"rows": list(rows)}) + "\n```"


GOOD = {"age": 70, "sex": "female", "diagnosis": "asthma", "systolic": 140.0, "diastolic": 80.0}


class TestLlmPrompted(GeneratorContract):
    generator_name = "llm_prompted"
    n_samples = 6

    @pytest.fixture(autouse=True)
    def _files(self, data_files: tuple[Path, Path]) -> None:
        self.csv, self.meta = data_files

    def make_params(self) -> dict[str, Any]:
        return {"backend": {"backend": "fake"}, "few_shot": {"path": str(self.csv), "real": False},
                "metadata": {"path": str(self.meta), "real": False}, "rows_per_call": 4, "n_few_shot": 2}

    def test_rows_are_valid_and_carry_provenance(self, tmp_path: Path) -> None:
        outcomes = _run(self.make_params(), 12, tmp_path)
        records = [o for o in outcomes if isinstance(o, Record)]
        failures = [o for o in outcomes if isinstance(o, SampleFailure)]
        assert len(records) + len(failures) == 12 and records
        metadata = detect_metadata(_real_table(), table="patients", constraints=["systolic > diastolic"])
        rows = [r.payload.values for r in records if isinstance(r.payload, TableRowPayload)]
        assert check_rows(rows, metadata) == []
        assert all(r.payload.values["patient_id"] == r.id for r in records)  # ids are ours, never the model's
        first = records[0].provenance
        assert first.strategy == (Strategy.FEW_SHOT,) and len(first.few_shot_ids) == 2
        assert all(i.startswith("patients.csv#") for i in first.few_shot_ids)
        assert first.model is not None and first.model.backend == "fake"
        assert first.prompt is not None and first.prompt.rendered is not None
        assert "systolic > diastolic" in first.prompt.rendered
        assert "patient_id" not in first.prompt.rendered and not re.search(r'"p\d"', first.prompt.rendered)
        assert first.validation.value == "passed" and first.extra["call"]["rows_asked"] == 4
        # independent uniform draws break `systolic > diastolic` now and then: retried, then counted
        for failure in failures:
            assert "systolic > diastolic is violated" in failure.reason and failure.attempts == 3


def test_a_block_split_across_batches_is_asked_for_once(data_files: tuple[Path, Path], tmp_path: Path) -> None:
    _, meta = data_files
    generator = LlmPrompted({"backend": {"backend": "fake"}, "metadata": {"path": str(meta), "real": False},
                             "rows_per_call": 4})
    ctx = StepContext(step="rows", seed=5, root=tmp_path)
    generator.setup(ctx)
    sent: list[list[int | None]] = []
    model_generate = generator.model.generate

    def counting(requests: Any) -> Any:
        sent[-1].extend(r.seed for r in requests)
        return model_generate(requests)

    generator.model.generate = counting  # type: ignore[method-assign]
    requests = [SampleRequest(index=i, seed=1000 + i) for i in range(6)]
    outcomes: list[Record | SampleFailure] = []
    for batch in (requests[:1], requests[1:3], requests[3:]):
        sent.append([])
        outcomes += generator.generate(batch, ctx)
    assert [o.index if isinstance(o, SampleFailure) else o.id for o in outcomes] == [
        f"rows-{i:06d}" if isinstance(o, Record) else i for i, o in enumerate(outcomes)]
    assert sent[1] == []  # rows 1 and 2 were made with row 0's block: no second call
    seeds = [s for batch in sent for s in batch]
    assert len(seeds) == len(set(seeds))  # no call (block and attempt) was made twice
    calls = [o.provenance.extra["call"] for o in outcomes if isinstance(o, Record)]
    assert {(c["first_index"], c["rows_asked"]) for c in calls} <= {(0, 4), (4, 4)}  # the last block asks for 4 rows
    whole = LlmPrompted(generator.params).generate(requests, StepContext(step="rows", seed=5, root=tmp_path))
    assert [o.payload for o in whole if isinstance(o, Record)] == [o.payload for o in outcomes if isinstance(o, Record)]


def test_invalid_rows_are_retried_with_the_error_in_the_prompt(data_files: tuple[Path, Path], tmp_path: Path) -> None:
    _, meta = data_files
    answers = [_answer({**GOOD, "age": 200}, GOOD), _answer({**GOOD, "sex": "male"})]
    params = {"backend": {"backend": "fake", "params": {"responses": answers}},
              "metadata": {"path": str(meta), "real": False}, "rows_per_call": 2, "use_json_schema": False}
    first, second = _run(params, 2, tmp_path)
    assert isinstance(first, Record) and isinstance(second, Record)
    assert first.payload.values["age"] == 70 and first.provenance.attempts == 1  # type: ignore[union-attr]
    assert second.payload.values["sex"] == "male" and second.provenance.attempts == 2  # type: ignore[union-attr]
    rendered = second.provenance.prompt.rendered  # type: ignore[union-attr]
    assert "row 1: column 'age': Input should be less than or equal to 80" in rendered
    assert "[assistant]" in rendered and "1 more row(s) are needed" in rendered  # only the missing row is asked for
    assert second.provenance.strategy == (Strategy.ZERO_SHOT,)


def test_rows_never_valid_are_counted_failures_in_the_manifest(data_files: tuple[Path, Path], tmp_path: Path) -> None:
    _, meta = data_files
    bad = _answer({**GOOD, "diagnosis": "flu"}, {**GOOD, "systolic": 120.0, "diastolic": 124.0})
    recipe = Recipe.model_validate({"name": "bad", "seed": 1, "steps": [{
        "name": "rows", "generator": "llm_prompted", "count": 4,
        "params": {"backend": {"backend": "fake", "params": {"responses": [bad, "no json at all"]}},
                   "metadata": {"path": str(meta), "real": False}, "rows_per_call": 2, "max_attempts": 2,
                   "use_json_schema": False}}]})
    manifest = Runner(recipe, tmp_path / "out").run()
    summary = manifest.steps["rows"]
    assert (summary.requested, summary.produced, summary.failed) == (4, 0, 4)
    invalid, unparsed = sorted(summary.failure_reasons, key=len, reverse=True)
    assert all(r.startswith("no valid row after 2 attempt(s): ") for r in (invalid, unparsed))
    assert "row 1: column 'diagnosis': Input should be 'asthma', 'copd' or 'diabetes' (got 'flu')" in invalid
    assert "row 2: columns 'systolic', 'diastolic': systolic > diastolic is violated" in invalid
    assert "no JSON object with a list of rows" in unparsed
    assert sorted(summary.failure_reasons.values()) == [2, 2]
    assert all(f.attempts == 2 for f in summary.failures)


def test_conditions_reach_prompt_schema_and_validation(data_files: tuple[Path, Path], tmp_path: Path) -> None:
    csv, meta = data_files
    params = {"backend": {"backend": "fake"}, "metadata": {"path": str(meta), "real": False},
              "few_shot": {"path": str(csv), "real": False}, "n_few_shot": 1, "rows_per_call": 5,
              "conditions": "diagnosis = asthma and age > 65"}
    records = [o for o in _run(params, 10, tmp_path) if isinstance(o, Record)]
    assert records
    for record in records:
        values = record.payload.values  # type: ignore[union-attr]
        assert values["diagnosis"] == "asthma" and values["age"] > 65
        assert record.provenance.extra["conditions"] == "diagnosis = asthma and age > 65"
        assert "Write 5 new rows where diagnosis = asthma and age > 65" in record.provenance.prompt.rendered  # type: ignore[union-attr]
        # the few-shot example is drawn among real rows meeting the conditions
        assert record.provenance.few_shot_ids[0] in {"patients.csv#6"}
    # the structured form is the same condition; a model ignoring it gets its rows refused
    ignoring = {**params, "conditions": {"diagnosis": "asthma", "age": {"gt": 65}}, "use_json_schema": False,
                "backend": {"backend": "fake", "params": {"responses": [_answer({**GOOD, "age": 60})]}},
                "max_attempts": 1, "rows_per_call": 1}
    [failure] = _run(ignoring, 1, tmp_path)
    assert isinstance(failure, SampleFailure) and "condition not met: age > 65 (got 60)" in failure.reason


@pytest.mark.parametrize(("change", "error", "message"), [
    ({"conditions": "weight > 3"}, ConfigError, r"no column 'weight'"),
    ({"conditions": {"diagnosis": "flu"}}, ConfigError, r"'flu' is an unseen category of column 'diagnosis'"),
    ({"conditions": "age > 80"}, ConfigError, r"empty range"),
    ({"target": {"column": "sex", "distribution": {"other": 1.0}}}, ConfigError, r"'other' is an unseen category"),
    ({"target": {"column": "age"}}, ConfigError, r"needs a categorical or boolean column"),
    ({"label_columns": ["weight"]}, ConfigError, r"no column 'weight'"),
    ({"conditions": "patient_id = p1"}, ConfigError, r"column 'patient_id' is an ID column"),
])
def test_bad_parameters_name_the_column(data_files: tuple[Path, Path], tmp_path: Path, change: dict[str, Any],
                                        error: type[Exception], message: str) -> None:
    _, meta = data_files
    generator = LlmPrompted({"backend": {"backend": "fake"}, "metadata": str(meta), **change})
    with pytest.raises(error, match=message):
        generator.setup(StepContext(step="rows", seed=1, root=tmp_path))


def test_bad_input_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="give `metadata`"):
        LlmPrompted({"backend": {"backend": "fake"}})
    one_row = tmp_path / "one.csv"
    _real_table().head(1).to_csv(one_row, index=False)
    with pytest.raises(InputDataError, match=r"1 row\(s\)"):
        LlmPrompted({"backend": {"backend": "fake"}, "few_shot": str(one_row)}).setup(
            StepContext(step="rows", seed=1, root=tmp_path))
    mixed = tmp_path / "mixed.csv"
    _real_table().assign(age=["34", "x", 58, 66, 80, 45, 69, 52]).to_json(mixed.with_suffix(".json"), orient="records")
    with pytest.raises(InputDataError, match=r"column 'age' .* mixes kinds of values"):
        LlmPrompted({"backend": {"backend": "fake"}, "few_shot": str(mixed.with_suffix(".json"))}).setup(
            StepContext(step="rows", seed=1, root=tmp_path))


def test_real_few_shot_rows_never_reach_a_remote_backend(data_files: tuple[Path, Path], tmp_path: Path) -> None:
    csv, _ = data_files
    step = {"name": "rows", "generator": "llm_prompted", "count": 2,
            "params": {"backend": {"backend": "fake", "params": {"remote": True}}, "few_shot": str(csv)}}
    refused = (r"step 'rows' would send real data to the remote language model 'fake' \(a component that runs "
               r"remotely or does not declare where it runs\)")
    with pytest.raises(PolicyError, match=refused):
        Runner(Recipe.model_validate({"name": "p", "seed": 1, "steps": [step]}), tmp_path / "out").run()
    assert not (tmp_path / "out" / "records.parquet").exists()
    # outside the runner too: the generator marks its context real before asking for the backend
    with pytest.raises(PolicyError):
        LlmPrompted(step["params"]).setup(StepContext(step="rows", seed=1, root=tmp_path))


def test_local_backend_with_real_rows_redacts_prompts(data_files: tuple[Path, Path], tmp_path: Path) -> None:
    csv, _ = data_files
    recipe = Recipe.model_validate({"name": "r", "seed": 2, "steps": [{
        "name": "rows", "generator": "llm_prompted", "count": 3,
        "params": {"backend": {"backend": "fake"}, "few_shot": str(csv), "rows_per_call": 3}}]})
    manifest = Runner(recipe, tmp_path / "out").run()
    assert manifest.inputs[0].real is True
    records = SyntheticDataset(tmp_path / "out").records("rows")
    assert records and all(r.provenance.prompt is not None and r.provenance.prompt.redacted for r in records)
    assert all(r.provenance.prompt.rendered is None for r in records)  # type: ignore[union-attr]
    assert all(r.provenance.few_shot_ids for r in records)


def test_balanced_target_is_met_and_reported(data_files: tuple[Path, Path], tmp_path: Path) -> None:
    _, meta = data_files
    recipe = Recipe.model_validate({"name": "b", "seed": 9, "steps": [{
        "name": "rows", "generator": "llm_prompted", "count": 12, "batch_size": 5,
        "params": {"backend": {"backend": "fake"}, "metadata": {"path": str(meta), "real": False},
                   "rows_per_call": 4, "max_attempts": 5,
                   "target": {"column": "sex", "distribution": {"female": 0.25, "male": 0.75}}}}]})
    manifest = Runner(recipe, tmp_path / "out").run()
    report = achieved_distribution(tmp_path / "out", "sex")
    produced = manifest.steps["rows"].produced
    assert report.total == produced and report.target == {"female": 0.25, "male": 0.75}
    assert produced == 12  # constrained decoding (the fake follows the narrowed schema) + 5 attempts
    assert report.counts == {"female": 3, "male": 9} and report.max_abs_error == 0.0
    records = SyntheticDataset(tmp_path / "out").records("rows")
    assert all(r.payload.values["sex"] == r.provenance.extra["balance"]["value"] for r in records)  # type: ignore[union-attr]


def test_a_row_copying_a_real_example_is_refused(data_files: tuple[Path, Path], tmp_path: Path) -> None:
    csv, meta = data_files
    example = {"age": 69, "sex": "female", "diagnosis": "asthma", "systolic": 139.0, "diastolic": 85.0}  # row 6
    params = {"backend": {"backend": "fake", "params": {"responses": [_answer(example), _answer({**example, "age": 68})]}},
              "metadata": {"path": str(meta), "real": False}, "few_shot": {"path": str(csv), "real": False},
              "conditions": "diagnosis = asthma and age > 65", "n_few_shot": 1, "rows_per_call": 1,
              "use_json_schema": False}
    [record] = _run(params, 1, tmp_path)
    assert isinstance(record, Record) and record.provenance.few_shot_ids == ("patients.csv#6",)
    assert record.payload.values["age"] == 68 and record.provenance.attempts == 2  # type: ignore[union-attr]
    assert "the row copies example patients.csv#6" in record.provenance.prompt.rendered  # type: ignore[union-attr]


def test_cli_exits_2_naming_the_column_and_writes_no_records(data_files: tuple[Path, Path], tmp_path: Path) -> None:
    _, meta = data_files
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({"name": "bad", "seed": 1, "steps": [{
        "name": "rows", "generator": "llm_prompted", "count": 2,
        "params": {"backend": {"backend": "fake"}, "metadata": str(meta), "conditions": "diagnosis = flu"}}]}))
    done = subprocess.run([sys.executable, "-c", "from biosynth.core.cli import main; main()", "run", str(recipe),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "'flu' is an unseen category of column 'diagnosis'" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out" / "records.parquet").exists()


def test_parse_rows_tolerates_text_around_json() -> None:
    assert parse_rows('Here: {"rows": [{"a": 1}, {"a": 2}]} done') == ([{"a": 1}, {"a": 2}], None)
    assert parse_rows('[{"a": 1}]') == ([{"a": 1}], None)
    assert parse_rows('{"a": 0} ```json\n{"rows": [{"a": 3}]}\n```') == ([{"a": 3}], None)  # fenced block first
    assert parse_rows("nothing")[1] is not None
