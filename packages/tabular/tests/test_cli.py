from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from biosynth.core import Group, InputDataError, default_registry
from biosynth.tabular import Halo
from biosynth.tabular._cli import app


def test_registered_as_biosynth_subcommand() -> None:
    assert default_registry().get(Group.CLI, "tabular") is app


def test_fit_on_eunomia_then_sample_omop_tables(tmp_path: Path) -> None:
    runner = CliRunner()
    model = tmp_path / "model"
    fit = runner.invoke(app, ["fit-halo", "--omop-eunomia", "--out", str(model), "--limit-persons", "12",
                              "--epochs", "1", "--batch-size", "6", "--n-embd", "8", "--n-head", "2",
                              "--n-layer", "1", "--seed", "4", "--label-concept-id", "192671", "--threads", "1"])
    assert fit.exit_code == 0, fit.output
    assert "12 persons" in fit.output and "2 steps" in fit.output
    halo = Halo.load(model)
    assert halo.vocabulary.name == "OMOP" and set(halo.vocabulary.code_domains.values()) <= {
        "condition", "drug", "procedure"}
    tables = tmp_path / "omop"
    sample = runner.invoke(app, ["sample-halo", "--model", str(model), "--out", str(tables), "--count", "3",
                                 "--format", "csv", "--condition", "sex=FEMALE"])
    assert sample.exit_code == 0, sample.output
    person = pd.read_csv(tables / "person.csv")
    assert list(person["gender_concept_id"]) == [8532, 8532, 8532]
    assert (tables / "drug_exposure.csv").is_file() and (tables / "procedure_occurrence.csv").is_file()


def test_bad_input_exits_2_with_one_paragraph(tmp_path: Path) -> None:
    code = "from biosynth.core.cli import main; main()"
    result = subprocess.run([sys.executable, "-c", code, "tabular", "fit-halo", "--out", str(tmp_path / "m")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "error: give exactly one data source" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "m").exists()


def test_missing_model_is_a_user_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["sample-halo", "--model", str(tmp_path / "none"), "--out", str(tmp_path / "o")])
    assert isinstance(result.exception, InputDataError) and "HALO model folder" in str(result.exception)
    assert not (tmp_path / "o").exists()
