from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from biosynth.core import ConfigError, Group, InputDataError, default_registry
from biosynth.core.testing import run_cli_watching
from biosynth.tabular import Halo
from biosynth.tabular._cli import app


def test_registered_as_biosynth_subcommand() -> None:
    assert default_registry().get(Group.CLI, "tabular") is app


@pytest.mark.slow
def test_fit_on_eunomia_then_sample_omop_tables(tmp_path: Path) -> None:
    runner = CliRunner()
    model = tmp_path / "model"
    fit = runner.invoke(app, ["fit-halo", "--omop-eunomia", "--out", str(model), "--limit-persons", "12",
                              "--epochs", "1", "--batch-size", "6", "--n-embd", "8", "--n-head", "2",
                              "--n-layer", "1", "--seed", "4", "--label-concept-id", "192671", "--threads", "1"])
    assert fit.exit_code == 0, fit.output
    assert "12 persons" in fit.output and "2 steps" in fit.output and "length calibration: end-logit offset" in fit.output
    assert "sampled median" in fit.output
    halo = Halo.load(model)
    assert halo.calibration is not None and halo.calibration.statistic == "median"
    assert halo.vocabulary.name == "OMOP" and set(halo.vocabulary.code_domains.values()) <= {
        "condition", "drug", "procedure"}
    tables = tmp_path / "omop"
    sample = runner.invoke(app, ["sample-halo", "--model", str(model), "--out", str(tables), "--count", "3",
                                 "--format", "csv", "--condition", "sex=FEMALE"])
    assert sample.exit_code == 0, sample.output
    person = pd.read_csv(tables / "person.csv")
    assert list(person["gender_concept_id"]) == [8532, 8532, 8532]
    assert (tables / "drug_exposure.csv").is_file() and (tables / "procedure_occurrence.csv").is_file()
    unknown, torch_loaded = _cli_reports_torch("sample-halo", "--model", str(model), "--out", str(tmp_path / "more"),
                                               "--condition", "shoe_size=44")
    assert unknown.returncode == 2 and "unknown static field 'shoe_size'" in unknown.stderr, unknown.stderr
    assert not torch_loaded and not (tmp_path / "more").exists()  # checked against the saved vocabulary first


def test_bad_input_exits_2_with_one_paragraph(tmp_path: Path) -> None:
    code = "from biosynth.core.cli import main; main()"
    result = subprocess.run([sys.executable, "-c", code, "tabular", "fit-halo", "--out", str(tmp_path / "m")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "error: give exactly one data source" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "m").exists()


def test_fit_halo_with_a_validation_share_prints_the_held_out_loss(tmp_path: Path) -> None:
    runner = CliRunner()
    common = ["fit-halo", "--omop-eunomia", "--limit-persons", "12", "--epochs", "1", "--batch-size", "3",
              "--n-embd", "8", "--n-head", "2", "--n-layer", "1", "--threads", "1", "--no-calibrate"]
    fit = runner.invoke(app, [*common, "--out", str(tmp_path / "m"), "--validation-share", "0.25",
                              "--fine-multiplier", "2"])
    assert fit.exit_code == 0, fit.output
    # 9 of 12 persons trained on in batches of 3: 3 steps, the held-out loss after the last
    assert "3 steps" in fit.output and "held-out cross-entropy by step: 3: 0." in fit.output
    loaded = Halo.load(tmp_path / "m")
    assert loaded.validation[0][0] == 3 and loaded.config.fine_width_multiplier == 2
    bad = _cli(*common, "--out", str(tmp_path / "bad"), "--validation-share", "0.7")
    assert bad.returncode == 2 and "validation_share" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "bad").exists()
    mode = _cli(*common, "--out", str(tmp_path / "mode"), "--length-statistic", "mode")
    assert mode.returncode == 2 and "length_statistic" in mode.stderr and "Traceback" not in mode.stderr
    assert not (tmp_path / "mode").exists()


def test_missing_model_is_a_user_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["sample-halo", "--model", str(tmp_path / "none"), "--out", str(tmp_path / "o")])
    assert isinstance(result.exception, InputDataError) and "HALO model folder" in str(result.exception)
    assert not (tmp_path / "o").exists()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    code = "from biosynth.core.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, "tabular", *args], capture_output=True, text=True, timeout=600)


def _cli_reports_torch(*args: str) -> tuple[subprocess.CompletedProcess[str], bool]:
    """Run `biosynth tabular ARGS` in a fresh process; also say whether torch was imported by the time it ended."""
    done, loaded = run_cli_watching(["tabular", *args])
    return done, "torch" in loaded


def test_fit_table_then_sample_table_writes_rows_and_provenance(tmp_path: Path) -> None:
    g = np.random.default_rng(0)
    data = pd.DataFrame({"age": g.integers(20, 90, 60), "sex": g.choice(["F", "M"], 60),
                         "bmi": np.round(g.normal(27, 4, 60), 1)})
    data.to_csv(tmp_path / "real.csv", index=False)
    model = tmp_path / "model"
    runner = CliRunner()
    fit = runner.invoke(app, ["fit-table", str(tmp_path / "real.csv"), "--out", str(model), "--max-steps", "6",
                              "--seed", "3", "--threads", "1"])
    assert fit.exit_code == 0, fit.output
    assert "60 rows, 3 columns, 6 steps" in fit.output and (model / "biosynth_model.json").is_file()
    out = tmp_path / "rows.csv"
    args = ["sample-table", "--model", str(model), "--out", str(out), "--count", "8", "--seed", "5",
            "--condition", "sex = F and age > 60", "--threads", "1"]
    sample = runner.invoke(app, args)
    assert sample.exit_code == 0, sample.output
    rows = pd.read_csv(out)
    assert len(rows) == 8 and list(rows.columns) == ["age", "sex", "bmi"]
    assert (rows["sex"] == "F").all() and (rows["age"] > 60).all() and rows["age"].max() <= data["age"].max()
    provenance = json.loads((tmp_path / "rows.csv.provenance.json").read_text())
    assert provenance["generator"] == "llm_finetuned" and provenance["seed"] == 5 and provenance["rows"] == 8
    assert len(provenance["weights_sha256"]) == 64 and provenance["conditions"] == "sex = F and age > 60"
    first = out.read_bytes()
    assert runner.invoke(app, args).exit_code == 0 and out.read_bytes() == first  # same seed, same rows
    unknown, torch_loaded = _cli_reports_torch("sample-table", "--model", str(model), "--out",
                                               str(tmp_path / "more.csv"), "--condition", "weight > 3")
    assert unknown.returncode == 2 and "weight" in unknown.stderr and "Traceback" not in unknown.stderr
    assert not torch_loaded, "the condition is checked against the model's metadata before torch loads"
    assert not (tmp_path / "more.csv").exists()


@pytest.mark.parametrize(("option", "field"), [(["--n-embd", "8", "--n-head", "3"], "n_head"),
                                                (["--validation-share", "0.7"], "validation_share"),
                                                (["--length-statistic", "mode"], "length_statistic")])
def test_fit_halo_refuses_bad_options_before_torch_loads(tmp_path: Path, option: list[str], field: str) -> None:
    done, torch_loaded = _cli_reports_torch("fit-halo", "--omop-eunomia", "--out", str(tmp_path / "m"), *option)
    assert done.returncode == 2 and field in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not torch_loaded, "HaloConfig and HaloTraining are checked before torch is imported"
    assert not (tmp_path / "m").exists()


def test_sample_table_refuses_bad_inputs_and_writes_nothing(tmp_path: Path) -> None:
    halo = tmp_path / "halo"
    (halo).mkdir()
    (halo / "biosynth_model.json").write_text('{"generator": "halo", "format_version": 1, "files": {}}')
    runner = CliRunner()
    wrong_kind = runner.invoke(app, ["sample-table", "--model", str(halo), "--out", str(tmp_path / "rows.csv")])
    assert isinstance(wrong_kind.exception, InputDataError)
    assert "holds a 'halo' model" in str(wrong_kind.exception) and "use sample-halo" in str(wrong_kind.exception)
    wrong_suffix = runner.invoke(app, ["sample-table", "--model", str(halo), "--out", str(tmp_path / "rows.xlsx")])
    assert isinstance(wrong_suffix.exception, ConfigError)
    assert "expected a .csv or .parquet file" in str(wrong_suffix.exception)
    missing = runner.invoke(app, ["fit-table", str(tmp_path / "none.csv"), "--out", str(tmp_path / "m")])
    assert isinstance(missing.exception, InputDataError) and "none.csv" in str(missing.exception)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["halo"]


def test_sample_halo_refuses_a_non_empty_out_before_loading_the_model(tmp_path: Path) -> None:
    out = tmp_path / "omop"
    out.mkdir()
    (out / "person.csv").write_text("mine\n")
    # the model does not exist: a refusal naming --out (not the model) shows nothing was loaded first
    result = _cli("sample-halo", "--model", str(tmp_path / "no-model"), "--out", str(out), "--count", "100000")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "'" + str(out) + "' already exists and is not empty" in result.stderr and "no-model" not in result.stderr
    assert [p.name for p in out.iterdir()] == ["person.csv"] and (out / "person.csv").read_text() == "mine\n"


def test_fit_table_overwrite_replaces_only_a_model_biosynth_saved(tmp_path: Path) -> None:
    g = np.random.default_rng(1)
    pd.DataFrame({"age": g.integers(20, 90, 30), "sex": g.choice(["F", "M"], 30)}).to_csv(tmp_path / "real.csv",
                                                                                            index=False)
    fit = ["fit-table", str(tmp_path / "real.csv"), "--max-steps", "2", "--threads", "1"]
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("mine")
    refused = _cli(*fit, "--out", str(project), "--overwrite")
    assert refused.returncode == 2 and "holds no biosynth_model.json" in refused.stderr, refused.stderr
    assert [p.name for p in project.iterdir()] == ["notes.txt"] and (project / "notes.txt").read_text() == "mine"
    model = tmp_path / "model"
    runner = CliRunner()
    assert runner.invoke(app, [*fit, "--out", str(model), "--seed", "1"]).exit_code == 0
    again = runner.invoke(app, [*fit, "--out", str(model), "--seed", "2"])
    assert isinstance(again.exception, ConfigError) and "--overwrite" in str(again.exception)
    first = (model / "biosynth_model.json").read_text()
    assert runner.invoke(app, [*fit, "--out", str(model), "--seed", "2", "--overwrite"]).exit_code == 0
    assert (model / "biosynth_model.json").read_text() != first
    assert json.loads((model / "finetuned.json").read_text())["config"]["seed"] == 2


def test_fit_table_reads_training_fields_from_a_file_and_options_override_them(tmp_path: Path) -> None:
    g = np.random.default_rng(2)
    pd.DataFrame({"age": g.integers(20, 90, 40), "sex": g.choice(["F", "M"], 40),
                  "risk": g.choice(["high", "low"], 40)}).to_csv(tmp_path / "real.csv", index=False)
    (tmp_path / "training.yaml").write_text("column_order: table\nlast_columns: [risk]\nbatch_size: 8\n"
                                            "validation_share: 0.25\nvalidation_every: 2\nmax_steps: 6\nseed: 3\n")
    fit = ["fit-table", str(tmp_path / "real.csv"), "--training", str(tmp_path / "training.yaml"), "--threads", "1"]
    result = CliRunner().invoke(app, [*fit, "--seed", "4", "--out", str(tmp_path / "model")])
    assert result.exit_code == 0, result.output
    state = json.loads((tmp_path / "model" / "finetuned.json").read_text())
    assert state["config"]["column_order"] == "table" and state["config"]["last_columns"] == ["risk"]
    assert state["config"]["batch_size"] == 8 and state["config"]["seed"] == 4  # the option wins over the file
    assert state["steps"] == 6 and state["validation"]["rows"] == 10
    assert [step for step, _ in state["validation"]["losses"]] == [2, 4, 6]
    assert f"weights kept from step {state['validation']['best_step']}" in result.output
    assert "on 10 rows held out of training" in result.output

    (tmp_path / "bad.yaml").write_text("column_order: sorted\n")
    bad = _cli("fit-table", str(tmp_path / "real.csv"), "--training", str(tmp_path / "bad.yaml"),
               "--out", str(tmp_path / "never"))
    assert bad.returncode == 2 and "column_order" in bad.stderr and "bad.yaml" in bad.stderr, bad.stderr
    assert "Traceback" not in bad.stderr and not (tmp_path / "never").exists()
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    listed = CliRunner().invoke(app, ["fit-table", str(tmp_path / "real.csv"), "--training",
                                      str(tmp_path / "list.yaml"), "--out", str(tmp_path / "never")])
    assert isinstance(listed.exception, ConfigError) and "must hold a mapping" in str(listed.exception)
    missing = CliRunner().invoke(app, ["fit-table", str(tmp_path / "real.csv"), "--training",
                                       str(tmp_path / "absent.yaml"), "--out", str(tmp_path / "never")])
    assert isinstance(missing.exception, InputDataError) and "absent.yaml" in str(missing.exception)


def test_fit_table_names_a_base_model_without_a_tokenizer_before_torch_loads(tmp_path: Path) -> None:
    pd.DataFrame({"age": [30, 40, 50], "sex": ["F", "M", "F"]}).to_csv(tmp_path / "real.csv", index=False)
    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text('{"model_type": "gpt2"}')
    done, torch_loaded = _cli_reports_torch("fit-table", str(tmp_path / "real.csv"), "--out", str(tmp_path / "m"),
                                            "--base-model", str(base), "--max-steps", "1")
    assert done.returncode == 2 and f"model folder {str(base)!r} has no tokenizer.json" in done.stderr, done.stderr
    assert not torch_loaded and not (tmp_path / "m").exists()


@pytest.mark.parametrize(("command", "extra"), [(["fit-halo", "--omop-eunomia"], "halo"),
                                                (["sample-halo", "--model", "m"], "halo"),
                                                (["fit-table", "data.csv"], "finetuned"),
                                                (["sample-table", "--model", "m"], "finetuned")])
def test_a_missing_extra_is_named_with_its_install_command(tmp_path: Path, command: list[str], extra: str) -> None:
    # torch made unimportable, as in an install without the extra (None in sys.modules stops the import)
    code = ("import sys\nsys.modules['torch'] = None\nfrom biosynth.core.cli import main\n"
            "sys.argv = ['biosynth', 'tabular', *sys.argv[1:]]\nmain()")
    done = subprocess.run([sys.executable, "-c", code, *command, "--out", str(tmp_path / "out.csv")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"needs torch, which biosynth-tabular's '{extra}' extra installs" in done.stderr
    assert f"pip install 'biosynth-tabular[{extra}]'" in done.stderr and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []
