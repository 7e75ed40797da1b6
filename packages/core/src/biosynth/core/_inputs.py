"""Input files named by recipes: resolved against the recipe's folder, checked, fingerprinted."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from biosynth.core._errors import InputDataError
from biosynth.core._hashing import sha256_file


class InputFile(BaseModel):
    """A file (or folder) a generator reads. `real=True` (the default) puts it under the Policy.

    In a recipe it may be written as a plain path string, or as `{path: ..., real: false}` for data
    known to be synthetic or public.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: Path
    real: bool = Field(True, description="holds real (patient) data; governed by the Policy")

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        if isinstance(value, (str, Path)):
            return {"path": value}
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

    @classmethod
    def of(cls, step: str, parameter: str, file: InputFile) -> InputFingerprint:
        path = file.path
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
        return cls(step=step, parameter=parameter, path=str(path), sha256=sha256_file(path), bytes=size, real=file.real)


def find_input_files(params: BaseModel, prefix: str = "") -> list[tuple[str, InputFile]]:
    """Every InputFile inside a params model (nested models, lists and dicts included)."""
    found: list[tuple[str, InputFile]] = []

    def visit(value: Any, where: str) -> None:
        if isinstance(value, InputFile):
            found.append((where, value))
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                visit(getattr(value, name), f"{where}.{name}" if where else name)
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                visit(item, f"{where}[{i}]")
        elif isinstance(value, dict):
            for key, item in value.items():
                visit(item, f"{where}.{key}")

    visit(params, prefix)
    return found
