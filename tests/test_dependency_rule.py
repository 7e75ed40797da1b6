"""The architecture's dependency rule: core imports no sibling; siblings meet only through core."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "text", "tabular", "image", "audio", "eval")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)  # `from biosynth import text`
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module":
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
    return found


def biosynth_siblings(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "biosynth" and len(parts) > 1 and parts[1] in PACKAGES:
        return parts[1]
    return None


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_only_itself_and_core(package: str) -> None:
    allowed = {package, "core"}
    offenders = []
    for folder in ("src", "tests"):
        for path in sorted((ROOT / "packages" / package / folder).rglob("*.py")):
            for module in imported_modules(path):
                sibling = biosynth_siblings(module)
                if sibling is not None and sibling not in allowed:
                    offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []


@pytest.mark.parametrize("package", PACKAGES)
def test_package_declares_no_sibling_dependency(package: str) -> None:
    project = tomllib.loads((ROOT / "packages" / package / "pyproject.toml").read_text())["project"]
    assert project["name"] == f"biosynth-{package}"
    declared = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        declared += extra
    names = {d.split(">")[0].split("=")[0].split("[")[0].split("<")[0].strip().lower() for d in declared}
    siblings = {f"biosynth-{p}" for p in PACKAGES} - {f"biosynth-{package}"}
    expected_core = set() if package == "core" else {"biosynth-core"}
    assert names & siblings == expected_core


def test_biosynth_is_a_namespace_package_everywhere() -> None:
    for package in PACKAGES:
        src = ROOT / "packages" / package / "src" / "biosynth"
        assert not (src / "__init__.py").exists(), f"{src}/__init__.py breaks the namespace"
        assert (src / package / "__init__.py").exists()
        assert (src / package / "py.typed").exists()


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from biosynth.text import x\nimport biosynth.audio._tts\nfrom biosynth import eval\n"
                   "importlib.import_module('biosynth.image.pipe')\n")
    assert {biosynth_siblings(m) for m in imported_modules(bad)} - {None} == {"text", "audio", "eval", "image"}
