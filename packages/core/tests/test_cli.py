"""The `biosynth` CLI as users run it: one subprocess per command, bad input -> exit 2, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BIOSYNTH = [sys.executable, "-c", "from biosynth.core.cli import main; main()"]

GOOD = """
name: cli
seed: 3
steps:
  - name: patients
    generator: attributes
    count: 6
    params:
      attributes: {age: {type: integer, low: 20, high: 80}, sex: [female, male]}
  - name: notes
    generator: template
    from: patients
    params: {template: "${age}-year-old ${sex}."}
"""


def cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BIOSYNTH, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def assert_user_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


@pytest.mark.slow
def test_run_inspect_validate_plugins(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    (tmp_path / "r.yaml").write_text(GOOD)
    validated = cli("validate", "r.yaml", env=subprocess_env, cwd=tmp_path)
    assert validated.returncode == 0 and "recipe 'cli' is valid: 2 steps" in validated.stdout
    ran = cli("run", "r.yaml", "--out", "out", env=subprocess_env, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "12 requested, 12 produced, 0 failed" in ran.stdout
    assert "step patients: 6/6 done" in ran.stderr  # plain log lines when not on a terminal
    info = json.loads(cli("inspect", "out", "--json", env=subprocess_env, cwd=tmp_path).stdout)
    assert info["steps"]["notes"]["produced"] == 6 and info["problems"] == []
    assert info["provenance"]["strategies"] == {"attribute-sampling": 6, "template": 6}
    text = cli("inspect", "out", env=subprocess_env, cwd=tmp_path).stdout
    assert "notes (template" in text and "status complete" in text
    plugins = cli("plugins", env=subprocess_env, cwd=tmp_path).stdout
    assert "biosynth-core" in plugins and "attributes" in plugins
    reseeded = cli("run", "r.yaml", "--out", "out2", "--seed", "4", env=subprocess_env, cwd=tmp_path)
    assert reseeded.returncode == 0
    assert json.loads((tmp_path / "out2" / "manifest.json").read_text())["seed"] == 4


@pytest.mark.parametrize(("recipe", "fragments"), [
    ("name: x\nsteps: [\n", ["is not valid YAML at line", "r.yaml"]),
    ("name: x\nsteps:\n  - {name: a, generator: no_such_gen, count: 1}\n",
     ["unknown generator 'no_such_gen'; installed: ", "attributes", "template"]),
    ("name: x\nsteps:\n  - {name: a, generator: template, from: ghost, params: {template: x}}\n",
     ["reads `from: ghost`, but no step has that name"]),
    ("name: x\nsteps:\n  - {name: a, generator: template, from: b, params: {template: x}}\n"
     "  - {name: b, generator: template, from: a, params: {template: x}}\n", ["steps form a cycle through `from`"]),
    ("name: x\nsteps:\n  - {name: a, generator: attributes, count: -3, params: {attributes: {x: [1]}}}\n",
     ["steps[0] (a).count: Input should be greater than or equal to 1 (got -3)"]),
    ("name: x\nsteps:\n  - {name: a, generator: 'sample_generators:Prompted', count: 1, params: {examples: missing.jsonl}}\n",
     ["input file", "missing.jsonl", "(parameter `steps.a.params.examples`) does not exist"]),
    ("name: x\nsteps:\n  - {name: a, generator: attributes, count: 1, params: {attributes: {x: [1]}, colour: red}}\n",
     ["step 'a' (generator 'attributes') params is invalid: colour: Extra inputs are not permitted"]),
])
@pytest.mark.parametrize("command", ["run", "validate"])
def test_bad_recipes_exit_2_with_a_clear_message(tmp_path: Path, subprocess_env: dict[str, str], recipe: str,
                                                 fragments: list[str], command: str) -> None:
    (tmp_path / "r.yaml").write_text(recipe)
    args = ["run", "r.yaml", "--out", "out"] if command == "run" else ["validate", "r.yaml"]
    assert_user_error(cli(*args, env=subprocess_env, cwd=tmp_path), *fragments)
    assert not (tmp_path / "out").exists()


def test_output_folder_holding_a_different_dataset(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    (tmp_path / "r.yaml").write_text(GOOD)
    assert cli("run", "r.yaml", "--out", "out", env=subprocess_env, cwd=tmp_path).returncode == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    (tmp_path / "r.yaml").write_text(GOOD.replace("count: 6", "count: 7"))
    assert_user_error(cli("run", "r.yaml", "--out", "out", "--resume", env=subprocess_env, cwd=tmp_path),
                      "holds a different dataset (recipe 'cli', seed 3")
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before


def test_missing_recipe_and_dataset(tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    assert_user_error(cli("run", "nope.yaml", "--out", "o", env=subprocess_env, cwd=tmp_path),
                      "recipe file 'nope.yaml' does not exist")
    assert_user_error(cli("inspect", "nowhere", env=subprocess_env, cwd=tmp_path),
                      "'nowhere' is not a biosynth dataset: manifest.json is missing")


@pytest.mark.parametrize("command", ["run", "validate"])
def test_a_recipe_that_is_not_utf8_is_named(tmp_path: Path, subprocess_env: dict[str, str], command: str) -> None:
    (tmp_path / "r.yaml").write_bytes(b"\xff\xfen\x00a\x00m\x00e\x00")  # UTF-16, as some editors save
    args = ["run", "r.yaml", "--out", "out"] if command == "run" else ["validate", "r.yaml"]
    assert_user_error(cli(*args, env=subprocess_env, cwd=tmp_path), "recipe file 'r.yaml' is not UTF-8 text (byte 0 is 0xff)")
    assert not (tmp_path / "out").exists()


def test_inspect_names_a_truncated_records_file_and_its_hash_mismatch(tmp_path: Path,
                                                                      subprocess_env: dict[str, str]) -> None:
    (tmp_path / "r.yaml").write_text(GOOD)
    assert cli("run", "r.yaml", "--out", "out", env=subprocess_env, cwd=tmp_path).returncode == 0
    records = tmp_path / "out" / "records.parquet"
    records.write_bytes(records.read_bytes()[: records.stat().st_size // 2])
    truncated = records.read_bytes()
    assert_user_error(cli("inspect", "out", env=subprocess_env, cwd=tmp_path),
                      "records.parquet' cannot be read as Parquet (records.parquet does not match its sha256)")
    assert records.read_bytes() == truncated
