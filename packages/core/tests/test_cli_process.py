from __future__ import annotations

from biosynth.core.testing import run_cli_watching


def test_run_cli_watching_reports_the_modules_the_cli_imported_and_keeps_its_exit_status() -> None:
    done, loaded = run_cli_watching(["--help"], watch=("typer", "no_such_module_xyz"), timeout=120)
    assert done.returncode == 0 and "Usage" in done.stdout
    assert loaded == {"typer"}  # the CLI runs on typer; a module nobody imports is not reported
    failed, _ = run_cli_watching(["validate", "no/such/recipe.yaml"], watch=("typer",), timeout=120)
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
