"""What reviewers rate: criteria with an ordered (or nominal) scale, read from a JSON/YAML file or the default."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from biosynth.core import ConfigError, InputDataError, describe_validation_error

# the names of what a reviewer is shown (Label Studio objects, Argilla fields, task data): no criterion may take one
RESERVED = frozenset({"text", "image", "audio", "record_id", "step"})


class Criterion(BaseModel):
    """One question a reviewer answers per record, on a scale of integer `scores` (ordered low to high).

    With `labels` (one per score) reviewers pick a label (Label Studio Choices, Argilla LabelQuestion); without,
    they pick a number (Label Studio Rating, Argilla RatingQuestion). `ordinal=False` marks a nominal scale:
    agreement is then unweighted and no correlation with a judge is computed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$", description="identifier: an XML and Argilla name")
    question: str = Field(min_length=1)
    scores: tuple[int, ...] = (1, 2, 3, 4, 5)
    labels: tuple[str, ...] | None = None
    ordinal: bool = True

    @model_validator(mode="after")
    def _scale(self) -> Self:
        if self.name.lower() in RESERVED:
            raise ValueError(f"criterion name {self.name!r} is reserved for the record's fields {sorted(RESERVED)}")
        if len(self.scores) < 2 or len(set(self.scores)) != len(self.scores):
            raise ValueError(f"criterion {self.name!r}: scores must be at least two distinct integers, got {self.scores}")
        if self.ordinal and list(self.scores) != sorted(self.scores):
            raise ValueError(f"criterion {self.name!r}: an ordinal scale lists its scores low to high, got {self.scores}")
        if self.labels is not None:
            if len(self.labels) != len(self.scores):
                raise ValueError(f"criterion {self.name!r}: {len(self.labels)} labels for {len(self.scores)} scores")
            if len(set(self.labels)) != len(self.labels) or not all(label.strip() for label in self.labels):
                raise ValueError(f"criterion {self.name!r}: labels must be distinct and non-empty, got {self.labels}")
        elif not self.ordinal:
            raise ValueError(f"criterion {self.name!r}: a nominal scale needs labels")
        return self

    @property
    def widget(self) -> str:
        return "rating" if self.labels is None else "choices"

    def label_of(self, score: int) -> str:
        return self.labels[self.scores.index(score)] if self.labels is not None else str(score)

    def score_of_label(self, label: str) -> int | None:
        if self.labels is None or label not in self.labels:
            return None
        return self.scores[self.labels.index(label)]

    def nearest(self, value: float) -> int:
        """The scale's score closest to a (possibly fractional) judge score; ties go to the lower score."""
        return min(self.scores, key=lambda s: (abs(s - value), s))

    def describe_scale(self) -> str:
        if self.labels is None:
            return f"an integer among {list(self.scores)}"
        return "one of " + ", ".join(f"{label!r} ({score})" for label, score in zip(self.labels, self.scores, strict=True))


# Asclepius' 4-level rubric (Kweon et al. 2024) as the default review question for clinical notes; named as the
# judges' shipped rubric (`biosynth judge --rubric asclepius`), so that their scores meet the reviewers' here
DEFAULT_CRITERIA = (
    Criterion(name="asclepius", question="Overall quality of this clinical text for use in patient care: accurate, "
              "complete for its purpose, clinically coherent, nothing that could mislead a clinician",
              scores=(1, 2, 3, 4), labels=("Unacceptable", "Poor", "Satisfactory", "Excellent")),
)


class _CriteriaFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    criteria: tuple[Criterion, ...] = Field(min_length=1)


def load_criteria(path: str | Path | None) -> tuple[Criterion, ...]:
    """Criteria from a .json/.yaml file (`{"criteria": [...]}` or a bare list), from a judge rubric (the name of a
    shipped one, e.g. `asclepius`, or a rubric file with `name`, `criterion` and `levels`), or the default when
    `path` is None."""
    if path is None:
        return DEFAULT_CRITERIA
    path = Path(path)
    if not path.exists() and path.suffix == "" and path.name == str(path):
        return (_shipped_rubric(path.name),)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputDataError(f"--criteria file {str(path)!r} cannot be read: {err}") from None
    try:
        document = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise InputDataError(f"--criteria file {str(path)!r} is not valid {path.suffix.lstrip('.') or 'YAML'}: "
                             f"{err}") from None
    if isinstance(document, list):
        document = {"criteria": document}
    if isinstance(document, dict) and {"criterion", "levels"} <= document.keys():
        return (criterion_from_rubric(document, f"--criteria file {str(path)!r}"),)
    try:
        loaded = _CriteriaFile.model_validate(document)
    except ValidationError as err:
        raise ConfigError(describe_validation_error(err, what=f"--criteria file {str(path)!r}")) from None
    names = [c.name for c in loaded.criteria]
    if len(set(names)) != len(names):
        raise ConfigError(f"--criteria file {str(path)!r} names a criterion twice: {names}")
    return loaded.criteria


def criterion_from_rubric(rubric: dict, what: str) -> Criterion:
    """The review question for a judge rubric (`name`, `criterion`, `levels: [{value, label}]`): the same name and
    scale, so that the judge's scores and the reviewers' ratings meet."""
    try:
        levels = rubric["levels"]
        return Criterion(name=rubric["name"], question=rubric["criterion"],
                         scores=tuple(int(level["value"]) for level in levels),
                         labels=tuple(str(level["label"]) for level in levels))
    except (KeyError, TypeError, ValueError) as err:
        detail = describe_validation_error(err, what=what) if isinstance(err, ValidationError) else f"{what}: {err!r}"
        raise ConfigError(f"{detail} (a rubric needs name, criterion and levels of {{value, label}})") from None


def _shipped_rubric(name: str) -> Criterion:
    from biosynth.eval._judge.rubric import RUBRICS

    if name not in RUBRICS:
        raise ConfigError(f"--criteria {name!r} is neither a file nor a shipped rubric ({sorted(RUBRICS)})")
    return criterion_from_rubric(RUBRICS[name].model_dump(mode="json"), f"rubric {name!r}")
