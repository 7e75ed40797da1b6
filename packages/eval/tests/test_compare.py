"""Several generators side by side (issue 20): the comparison marks the best value per metric and the
significantly worse ones, on constructed data where the answer is known."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from biosynth.core import ConfigError
from biosynth.eval import evaluate_tabular
from biosynth.eval._compare import compare, comparison_labels


def _noise(n: int, seed: int) -> pd.DataFrame:
    g = np.random.default_rng(seed)
    return pd.DataFrame({"age": g.uniform(0, 200, n), "bmi": g.uniform(0, 100, n), "sbp": g.uniform(0, 300, n),
                         "visits": g.integers(0, 40, n).astype(float), "sex": g.choice(["F", "M", "X"], n),
                         "stage": g.choice(["I", "II", "III", "IV", "V"], n), "smoker": g.random(n) < 0.9,
                         "admitted": pd.Timestamp("1990-01-01") + pd.to_timedelta(g.integers(0, 9000, n), unit="D")})


@pytest.fixture(scope="module")
def compared(real_table, metadata):
    train, holdout = real_table.iloc[:900].reset_index(drop=True), real_table.iloc[900:].reset_index(drop=True)
    copy = train.sample(400, random_state=1).reset_index(drop=True)
    reports = [evaluate_tabular(train, synthetic, holdout, metadata, seed=3, n_bootstrap=40, target="stage")
               for synthetic in (_noise(400, 7), copy)]
    return compare(reports, ["noise", "copy of real"])


@pytest.mark.slow
def test_the_copy_is_best_on_fidelity_and_utility_and_the_noise_significantly_worse(compared) -> None:
    noise, copy = compared.rows
    for metric in ("column_shapes", "column_pair_trends", "utility_tstr", "range_coverage"):
        assert copy.cells[metric].best and not noise.cells[metric].best, metric
        assert noise.cells[metric].significantly_worse, metric
    # detection: lower is better; a copy of real rows is the hardest to tell apart
    assert copy.cells["detection_auc"].best and noise.cells["detection_auc"].significantly_worse
    # privacy turns it round: the noise keeps its distance from the training rows, the copy does not
    assert noise.cells["dcr"].best and copy.cells["dcr"].significantly_worse
    assert compared.directions["detection_auc"] == "lower_is_better"


def test_the_json_holds_the_single_reports_and_the_html_marks_the_best(compared, tmp_path) -> None:
    path = compared.write(tmp_path / "cmp")
    data = json.loads(path.read_text())
    assert data["kind"] == "biosynth-comparison" and len(data["reports"]) == 2
    assert data["labels"] == ["noise", "copy of real"]
    page = (tmp_path / "cmp" / "report.html").read_text()
    row = page[page.index("<tr><th>copy of real</th>"):]
    assert "class='best'" in row.split("</tr>")[0]
    assert page.count("<details>") == 2 and "Verdicts" in page
    compared.write(tmp_path / "cmp")  # an earlier comparison is biosynth's own: replaced


def test_reports_on_different_real_data_are_refused(real_table, synthetic_table, metadata) -> None:
    a = evaluate_tabular(real_table.iloc[:500], synthetic_table.iloc[:300], metadata=metadata, n_bootstrap=0)
    b = evaluate_tabular(real_table.iloc[:600], synthetic_table.iloc[:300], metadata=metadata, n_bootstrap=0)
    with pytest.raises(ConfigError, match="was not evaluated like"):
        compare([a, b], ["a", "b"])
    with pytest.raises(ConfigError, match="labels must differ"):
        compare([a, a], ["x", "x"])


def test_labels_come_from_each_dataset_provenance() -> None:
    checklist = [{"item": "generator name and version", "value": ["llm_finetuned 0.1.0"]},
                 {"item": "model name and version", "value": ["gpt2-rows@abc (llm_finetuned)"]}]
    labels = comparison_labels([{"checklist": checklist}, {"checklist": checklist}, None], ["run1", "run2", "sdv"])
    assert labels == ["llm_finetuned 0.1.0 · gpt2-rows@abc (run1)", "llm_finetuned 0.1.0 · gpt2-rows@abc (run2)", "sdv"]


def test_cli_compares_several_datasets_against_the_same_real_data(tmp_path) -> None:
    import os
    import subprocess
    import sys

    from biosynth.core import parse_recipe, run_recipe

    def dataset(name: str, spread: float) -> str:
        recipe = parse_recipe({"name": name, "seed": 7, "steps": [{
            "name": "patients", "generator": "attributes", "count": 150, "params": {"table": "patients", "attributes": {
                "age": {"type": "integer", "low": 18, "high": 95}, "sex": ["female", "male"],
                "systolic_bp": {"type": "normal", "mean": 132, "sd": spread, "low": 80, "high": 220, "decimals": 0}}}}]})
        run_recipe(recipe, tmp_path / name)
        return str(tmp_path / name)

    close, wide = dataset("close", 18), dataset("wide", 60)
    g = np.random.default_rng(0)
    real = pd.DataFrame({"age": g.integers(18, 96, 200), "sex": g.choice(["female", "male"], 200),
                         "systolic_bp": np.round(np.clip(g.normal(132, 18, 200), 80, 220))})
    real.iloc[:150].to_csv(tmp_path / "real.csv", index=False)
    real.iloc[150:].to_csv(tmp_path / "holdout.csv", index=False)
    cli = [sys.executable, "-c", "from biosynth.core.cli import main; main()"]
    done = subprocess.run([*cli, "evaluate", close, wide, "--real", str(tmp_path / "real.csv"), "--holdout",
                           str(tmp_path / "holdout.csv"), "--out", str(tmp_path / "cmp"), "--bootstrap", "20",
                           "--step", "patients"], capture_output=True, text=True, env={**os.environ, "CI": "1"})
    assert done.returncode == 0, done.stderr
    data = json.loads((tmp_path / "cmp" / "report.json").read_text())
    assert data["kind"] == "biosynth-comparison" and len(data["reports"]) == 2
    assert all(label.startswith("attributes ") for label in data["labels"])  # read from each dataset's provenance
    assert [r["provenance"]["recipe"]["name"] for r in data["reports"]] == ["close", "wide"]
    shapes = {row["label"]: row["cells"]["column_shapes"] for row in data["rows"]}
    assert shapes[data["labels"][0]]["best"] and not shapes[data["labels"][1]]["best"]  # the right spread wins
    page = (tmp_path / "cmp" / "report.html").read_text()
    assert "<h3>Models</h3>" not in page and "sha256" in page  # no model used; the recipe hash is shown
    again = subprocess.run([*cli, "evaluate", close, close, "--real", str(tmp_path / "real.csv"), "--out",
                            str(tmp_path / "twice")], capture_output=True, text=True)
    assert again.returncode == 2 and "named twice" in again.stderr and not (tmp_path / "twice").exists()
