"""`biosynth text finetune`: the command, its registration, and user errors (exit 2, one paragraph)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from biosynth.core import Group, default_registry, sha256_file
from biosynth.core.testing import run_cli_watching
from biosynth.text._cli import app

ROWS = [{"note": "she denies fever chills or cough"}, {"note": "plan follow up in two weeks with labs"}]


def _data(tmp_path: Path) -> Path:
    path = tmp_path / "notes.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n", encoding="utf-8")
    return path


def test_registered_as_biosynth_subcommand() -> None:
    assert default_registry().get(Group.CLI, "text") is app


def test_finetune_command_writes_a_model_folder(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    result = CliRunner().invoke(app, ["finetune", str(_data(tmp_path)), "--out", str(out), "--base-model",
                                      str(tiny_model_dir), "--text-column", "note", "--max-steps", "3",
                                      "--batch-size", "2", "--seed", "2", "--threads", "1"])
    assert result.exit_code == 0, result.output
    record = json.loads((out / "biosynth_model.json").read_text(encoding="utf-8"))
    assert record["kind"] == "finetuned_lm" and record["steps"] == 3
    assert record["mode"] == "domain-adaptive" and record["threads"] == 1
    assert f"weights sha256 {sha256_file(out / 'model.safetensors')}" in result.output
    assert "2 examples, 3 steps" in result.output


def _biosynth(*args: str) -> subprocess.CompletedProcess[str]:
    code = "from biosynth.core.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)


def test_user_errors_exit_2_with_one_paragraph(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    result = _biosynth("text", "finetune", str(_data(tmp_path)), "--out", str(out), "--base-model",
                       str(tiny_model_dir), "--max-steps", "1")  # the corpus has `note`, not `text`
    assert result.returncode == 2, result.stderr
    assert "error: training data" in result.stderr and "no field 'text'" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()
    bad_option = _biosynth("text", "finetune", str(_data(tmp_path)), "--out", str(out), "--dtype", "float16")
    assert bad_option.returncode == 2 and "error: fine-tuning options: dtype" in bad_option.stderr


def test_overwrite_replaces_only_a_folder_biosynth_wrote(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Issue 14: `--overwrite` on a folder without biosynth's marker is refused (exit 2), and nothing changes."""
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.txt").write_text("years of work", encoding="utf-8")
    args = ["text", "finetune", str(_data(tmp_path)), "--out", str(out), "--base-model", str(tiny_model_dir),
            "--text-column", "note", "--max-steps", "1", "--overwrite"]
    result = _biosynth(*args)
    assert result.returncode == 2, result.stderr
    assert "refusing to overwrite" in result.stderr and "holds no biosynth_model.json" in result.stderr
    assert "Traceback" not in result.stderr
    assert [p.name for p in out.iterdir()] == ["thesis.txt"]
    assert (out / "thesis.txt").read_text(encoding="utf-8") == "years of work"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_truncated_base_model_is_named_before_torch_loads(tiny_model_dir: Path, tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    for file in tiny_model_dir.iterdir():
        data = file.read_bytes()
        (base / file.name).write_bytes(data[:2000] if file.suffix == ".safetensors" else data)
    out = tmp_path / "model"
    result, loaded = run_cli_watching(["text", "finetune", str(_data(tmp_path)), "--out", str(out), "--base-model",
                                       str(base), "--text-column", "note", "--max-steps", "1"], timeout=300)
    assert result.returncode == 2, result.stderr
    assert f"model folder {str(base)!r} could not be loaded (SafetensorError" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()
    assert "torch" not in loaded  # the header is read without torch and transformers
