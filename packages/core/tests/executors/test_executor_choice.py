"""`biosynth run --executor`: the choice is checked before anything runs, as a user error naming what is accepted
(the CLI prints a ConfigError and exits 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from biosynth.core._errors import ConfigError
from biosynth.core._executors import LocalExecutor, make_executor
from biosynth.core.cli._app import app

RECIPE = """
name: tiny
steps:
  - name: rows
    generator: attributes
    count: 2
    params: {attributes: {sex: [female, male]}}
"""


@pytest.mark.parametrize(("args", "message"), [
    (["--executor", "spark"], "--executor must be one of local, ray; got 'spark'"),
    (["--address", "auto"], "--address and --actors apply to --executor ray only"),
    (["--executor", "ray", "--actors", "0"], "--actors must be at least 1, got 0"),
])
def test_a_bad_executor_choice_is_a_user_error_before_anything_is_written(tmp_path: Path, args: list[str],
                                                                          message: str) -> None:
    (tmp_path / "r.yaml").write_text(RECIPE)
    result = CliRunner().invoke(app, ["run", str(tmp_path / "r.yaml"), "--out", str(tmp_path / "out"), *args])
    assert isinstance(result.exception, ConfigError)
    assert message in str(result.exception)
    assert not (tmp_path / "out").exists()


def test_the_local_executor_runs_by_default(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(RECIPE)
    result = CliRunner().invoke(app, ["run", str(tmp_path / "r.yaml"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "2 requested, 2 produced, 0 failed" in result.output
    assert isinstance(make_executor("local"), LocalExecutor)
