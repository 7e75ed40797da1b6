"""Recipes: named steps wired by `from:`, each naming a registered generator, its params and seed."""

from __future__ import annotations

import graphlib
import json
import re
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from biosynth.core._dedup import DeduplicateConfig
from biosynth.core._errors import RecipeError
from biosynth.core._hashing import sha256_json
from biosynth.core._seeding import derive_seed
from biosynth.core._validation import describe_validation_error

_STEP_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_SAMPLES = 100_000_000  # per step: a typo such as 10**15 is refused instead of filling the disk for days


class PolicyConfig(BaseModel):
    """A recipe's data-governance choices (see `biosynth.core.Policy`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allow_real_data_to_remote: tuple[str, ...] = Field(
        (), description="steps explicitly permitted to send real data to a remote model"
    )
    justification: str | None = Field(None, description="why the permission is granted (recorded)")

    @model_validator(mode="after")
    def _justified(self) -> Self:
        if self.allow_real_data_to_remote and not (self.justification or "").strip():
            raise ValueError(
                "allow_real_data_to_remote needs a justification (e.g. the data use agreement "
                "that permits it); it is recorded in the manifest"
            )
        return self


class Step(BaseModel):
    """One step of a recipe: `count` new samples, or `per_input` samples for each record of `from`."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str
    generator: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    count: int | None = Field(None, ge=1, le=MAX_SAMPLES)
    from_: str | None = Field(None, alias="from")
    per_input: int = Field(1, ge=1, le=MAX_SAMPLES)
    take: int | None = Field(None, ge=1, description="use only the first `take` records of `from` (in index order)")
    optional: bool = Field(False, description="skip this step (recorded in the manifest) when its generator is not "
                                              "installed, e.g. notes that need biosynth-text")
    seed: int | None = Field(None, ge=0)
    batch_size: int = Field(16, ge=1, le=100_000)
    deduplicate: DeduplicateConfig | None = Field(
        None, description="remove exact (and, with near_threshold, near-duplicate) records; removals are counted")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _STEP_NAME.match(value):
            raise ValueError("a step name is lower-case letters, digits and '_', starting with a letter")
        return value

    @model_validator(mode="after")
    def _count_or_from(self) -> Self:
        if (self.count is None) == (self.from_ is None):
            raise ValueError(
                f"step {self.name!r} needs exactly one of `count` (new samples) or `from` "
                "(samples derived from another step's records)"
            )
        if self.from_ is None and self.per_input != 1:
            raise ValueError(f"step {self.name!r}: `per_input` only applies with `from`")
        if self.from_ is None and self.take is not None:
            raise ValueError(f"step {self.name!r}: `take` only applies with `from`")
        return self


class Recipe(BaseModel):
    """A validated recipe. Steps run in dependency order; a step reads the records of its `from`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    description: str | None = None
    seed: int = Field(0, ge=0)
    policy: PolicyConfig = PolicyConfig()
    steps: tuple[Step, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _wiring(self) -> Self:
        names = [s.name for s in self.steps]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"step names must be unique; repeated: {duplicates}")
        for step in self.steps:
            if step.from_ is not None and step.from_ not in names:
                raise ValueError(
                    f"step {step.name!r} reads `from: {step.from_}`, but no step has that name "
                    f"(steps: {names})"
                )
        unknown = sorted(set(self.policy.allow_real_data_to_remote) - set(names))
        if unknown:
            raise ValueError(f"policy.allow_real_data_to_remote names unknown steps {unknown}")
        self.order()  # raises on a cycle
        return self

    def order(self) -> list[Step]:
        """Steps in dependency order (ties keep their order in the recipe)."""
        sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
        for step in self.steps:
            sorter.add(step.name, *([step.from_] if step.from_ else []))
        try:
            sorter.prepare()
        except graphlib.CycleError as err:
            cycle = " -> ".join(err.args[1])
            raise ValueError(f"steps form a cycle through `from`: {cycle}") from None
        by_name = {s.name: s for s in self.steps}
        position = {s.name: i for i, s in enumerate(self.steps)}
        ordered: list[Step] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready(), key=position.__getitem__)
            ordered.extend(by_name[n] for n in ready)
            sorter.done(*ready)
        return ordered

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    def step_seed(self, step: Step) -> int:
        return step.seed if step.seed is not None else derive_seed(self.seed, step.name)

    def with_seed(self, seed: int) -> Recipe:
        return self.model_copy(update={"seed": seed})

    def resolved(self) -> dict[str, Any]:
        """The recipe as stored in the manifest: every default filled, step seeds explicit."""
        data = self.model_dump(mode="json", by_alias=True)
        for step_data, step in zip(data["steps"], self.steps, strict=True):
            step_data["seed"] = self.step_seed(step)
        return data

    def fingerprint(self) -> str:
        return sha256_json(self.resolved())


def parse_recipe(data: Any, *, source: str = "recipe") -> Recipe:
    """Validate already-parsed recipe data, raising `RecipeError` with every field at fault."""
    if not isinstance(data, dict):
        raise RecipeError(f"{source}: expected a mapping with `name` and `steps` at the top, got {type(data).__name__}")
    try:
        return Recipe.model_validate(data)
    except ValidationError as err:
        names = {
            i: s.get("name") for i, s in enumerate(data.get("steps") or []) if isinstance(s, dict) and s.get("name")
        }
        raise RecipeError(describe_validation_error(err, what=source, step_names=names)) from None


def load_recipe(path: str | Path) -> Recipe:
    """Read a recipe from YAML (.yaml/.yml) or JSON (.json)."""
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"recipe file {str(path)!r} does not exist (expected a .yaml, .yml or .json file)")
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as err:
        raise RecipeError(f"recipe file {str(path)!r} cannot be read: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise RecipeError(f"recipe file {str(path)!r} is not UTF-8 text (byte {err.start} is {err.object[err.start]:#04x}); "
                          "save it as UTF-8 YAML or JSON") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        if isinstance(err, json.JSONDecodeError):
            where = f" at line {err.lineno}, column {err.colno}"
        problem = getattr(err, "problem", None) or getattr(err, "msg", None) or str(err)
        kind = "JSON" if path.suffix == ".json" else "YAML"
        raise RecipeError(f"recipe {str(path)!r} is not valid {kind}{where}: {problem}") from None
    return parse_recipe(data, source=f"recipe {str(path)!r}")
