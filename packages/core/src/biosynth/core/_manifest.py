"""manifest.json: the resolved recipe, counts, failures, input fingerprints and environment."""

from __future__ import annotations

import importlib.metadata as md
import platform
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from biosynth.core._inputs import InputFingerprint
from biosynth.core._provenance import ModelRef

MANIFEST_VERSION = 1


class FailureEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int
    reason: str
    attempts: int = 1


class RemovedEntry(BaseModel):
    """A sample removed from a step: by its `deduplicate:` block (the kept record it duplicates and how similar), or by
    its generator's own decision (e.g. a critic that drops a sample: the sample's id, its score, the sha256 of the
    rationale and the judge's model)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int
    reason: str
    duplicate_of: str | None = None
    similarity: float | None = None
    id: str | None = Field(None, description="the removed sample's id (a critic: the input record it judged)")
    score: float | None = None
    rationale_sha256: str | None = None
    judge: ModelRef | None = None


class StepSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    generator: str
    generator_version: str
    requested: int = 0
    produced: int = 0
    failed: int = 0
    failure_reasons: dict[str, int] = Field(default_factory=dict)
    failures: list[FailureEntry] = Field(default_factory=list)
    removed: int = 0
    removal_reasons: dict[str, int] = Field(default_factory=dict)
    removed_samples: list[RemovedEntry] = Field(default_factory=list)
    summary: dict[str, Any] | None = Field(None, description="the generator's own step summary (Generator.summarize)")
    modalities: dict[str, int] = Field(default_factory=dict)


class Environment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    python: str
    implementation: str
    platform: str
    torch: str | None
    biosynth: dict[str, str]
    packages: dict[str, str]

    @classmethod
    def capture(cls) -> Environment:
        packages = installed_distributions()
        biosynth = {k: v for k, v in packages.items() if k.lower().startswith("biosynth-")}
        return cls(
            python=platform.python_version(), implementation=sys.implementation.name,
            platform=platform.platform(), torch=packages.get("torch"), biosynth=biosynth, packages=packages,
        )


def installed_distributions() -> dict[str, str]:
    """Every installed distribution and its version, sorted by name (the one software-version capture)."""
    packages: dict[str, str] = {}
    for dist in md.distributions():
        name = dist.metadata["Name"]
        if name:
            packages[name] = dist.version
    return dict(sorted(packages.items(), key=lambda kv: kv[0].lower()))


def software_versions(names: Sequence[str]) -> dict[str, str]:
    """The versions of the distributions `names` ("not installed" for those that are not)."""
    installed = {k.lower().replace("_", "-"): v for k, v in installed_distributions().items()}
    return {name: installed.get(name.lower().replace("_", "-"), "not installed") for name in names}


class Manifest(BaseModel):
    """The dataset's description; `status` is 'running' until the run completes."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["biosynth-dataset"] = "biosynth-dataset"
    format_version: int = MANIFEST_VERSION
    status: Literal["running", "complete"] = "running"
    recipe_sha256: str
    recipe: dict[str, Any]
    seed: int
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    steps: dict[str, StepSummary] = Field(default_factory=dict)
    skipped_steps: dict[str, str] = Field(default_factory=dict, description="optional steps not run, and why")
    skipped_requirements: dict[str, str] = Field(default_factory=dict,
                                                 description="what each skipped step lacks: the distribution to install")
    inputs: list[InputFingerprint] = Field(default_factory=list)
    policy_decisions: list[dict[str, Any]] = Field(default_factory=list)
    environment: Environment
    records_file: str = "records.parquet"
    records_sha256: str | None = None
    media: dict[str, str] = Field(default_factory=dict, description="relative path -> sha256")
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")

    @property
    def requested(self) -> int:
        return sum(s.requested for s in self.steps.values())

    @property
    def produced(self) -> int:
        return sum(s.produced for s in self.steps.values())

    @property
    def failed(self) -> int:
        return sum(s.failed for s in self.steps.values())

    @property
    def removed(self) -> int:
        return sum(s.removed for s in self.steps.values())
