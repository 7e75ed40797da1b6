"""Rubrics: a criterion, evaluation steps and a score form, versioned like prompt templates and hashed into results.

A shipped rubric's text changes only with a new version in its id (`judge/<name>/v<N>`); a user's own rubric (a
YAML or JSON file with the same fields) gets its own id and sha256, so that scores made with different rubrics
are never mixed up.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from biosynth.core import ConfigError, describe_validation_error
from biosynth.core._hashing import sha256_json
from biosynth.core._templates import TEMPLATE_ID


class ScoreLevel(BaseModel):
    """One point of the score form: its number, its name and what earns it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: int = Field(ge=0, le=9, description="a single digit, so that the score is one token for G-Eval")
    label: str = Field(min_length=1)
    description: str = Field(min_length=1)


class Rubric(BaseModel):
    """What a judge grades: the criterion, the steps it follows, the levels of the score form, and whether the
    judged text is compared with a reference (the source record it was made from, or a reference answer)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="`judge/<name>/v<N>`; change the text only together with the version")
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,40}$", description="the metric's name in reports: judge.<name>")
    criterion: str = Field(min_length=1, description="what is judged, in one or two sentences")
    steps: tuple[str, ...] = Field(min_length=1, description="the evaluation steps the judge is told to follow")
    levels: tuple[ScoreLevel, ...] = Field(min_length=2)
    reference: str | None = Field(None, description="the name of what the text is compared with (e.g. 'source "
                                                    "record'); None: the text is judged on its own")
    reference_required: bool = Field(False, description="refuse to grade a text without its reference")
    subject: str = Field("clinical text", description="what is judged, when the record does not say (e.g. a note)")

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not TEMPLATE_ID.match(self.id) or not self.id.startswith("judge/"):
            raise ValueError(f"rubric id {self.id!r} must read `judge/<name>/v<N>` (lower case)")
        values = [level.value for level in self.levels]
        if values != sorted(set(values)):
            raise ValueError(f"rubric {self.id!r}: score levels must be distinct and ascending, got {values}")
        if self.reference_required and self.reference is None:
            raise ValueError(f"rubric {self.id!r}: reference_required needs `reference` (what the text is compared with)")
        return self

    @property
    def sha256(self) -> str:
        """The hash of everything the judge is told (recorded with every score)."""
        return sha256_json(self.model_dump(mode="json"))

    @property
    def values(self) -> tuple[int, ...]:
        return tuple(level.value for level in self.levels)

    @property
    def lowest(self) -> int:
        return self.levels[0].value

    @property
    def highest(self) -> int:
        return self.levels[-1].value

    def describe(self) -> dict[str, Any]:
        """What results record about the rubric."""
        return {"id": self.id, "sha256": self.sha256, "scale": [self.lowest, self.highest],
                "levels": {level.value: level.label for level in self.levels}}


ASCLEPIUS = Rubric(
    id="judge/asclepius/v1", name="asclepius", subject="clinical note",
    criterion="The overall quality of the clinical text for use in patient care: accurate, complete for its purpose, "
              "clinically coherent, and free of content that could mislead a clinician. Four levels after the "
              "Asclepius evaluation (Kweon et al., 2024): Unacceptable, Poor, Satisfactory, Excellent.",
    steps=("Read the text and identify its purpose (e.g. a discharge summary, a progress note, an answer).",
           "Check the clinical content: are the findings, diagnoses, medications and plans plausible and consistent "
           "with each other?",
           "Check whether anything needed for the purpose is missing, and whether anything is wrong or harmful.",
           "Choose the level whose description fits the text best."),
    levels=(ScoreLevel(value=1, label="Unacceptable", description="clinically wrong, incoherent or harmful; unusable"),
            ScoreLevel(value=2, label="Poor", description="usable only in part: important errors or omissions"),
            ScoreLevel(value=3, label="Satisfactory", description="correct and usable, with minor omissions or "
                                                                  "awkwardness"),
            ScoreLevel(value=4, label="Excellent", description="correct, complete for its purpose, clear and "
                                                               "clinically coherent")),
)

FACTUAL_CONSISTENCY = Rubric(
    id="judge/factual_consistency/v1", name="factual_consistency", subject="clinical text",
    reference="source record", reference_required=True,
    criterion="Factual consistency with the source record the text was made from: every statement in the text is "
              "supported by the source record, and nothing contradicts it (after SummEval's consistency and "
              "G-Eval).",
    steps=("Read the source record carefully and note its facts (findings, diagnoses, values, medications, dates).",
           "Read the text and list its factual statements.",
           "For each statement, check whether the source record supports it, contradicts it, or does not mention it.",
           "Penalise contradictions most, then unsupported (hallucinated) statements.",
           "Choose the score whose description fits."),
    levels=(ScoreLevel(value=1, label="Contradictory", description="contradicts the source record in important facts"),
            ScoreLevel(value=2, label="Mostly unsupported", description="several unsupported or contradicting "
                                                                        "statements"),
            ScoreLevel(value=3, label="Partly supported", description="one important or a few minor unsupported "
                                                                      "statements, no contradiction"),
            ScoreLevel(value=4, label="Mostly supported", description="only minor details are not in the source"),
            ScoreLevel(value=5, label="Fully consistent", description="every statement is supported by the source "
                                                                      "record")),
)

DIALOGUE = Rubric(
    id="judge/dialogue/v1", name="dialogue", subject="clinical dialogue",
    criterion="The quality of a doctor-patient dialogue: natural turn-taking, each speaker in role, clinically "
              "sound questions and advice, and a coherent encounter from opening to plan.",
    steps=("Read the whole dialogue and identify the speakers and their roles.",
           "Check that each turn follows from the previous ones and that speakers stay in their roles.",
           "Check the clinical content: history taking, explanations and plan are plausible and safe.",
           "Check that the encounter is coherent and reaches a close (a plan, advice or follow-up).",
           "Choose the score whose description fits."),
    levels=(ScoreLevel(value=1, label="Very poor", description="incoherent, out of role, or clinically unsafe"),
            ScoreLevel(value=2, label="Poor", description="stilted or repetitive, with clinical errors"),
            ScoreLevel(value=3, label="Fair", description="coherent, but unnatural in places or clinically thin"),
            ScoreLevel(value=4, label="Good", description="natural and clinically sound, with small flaws"),
            ScoreLevel(value=5, label="Excellent", description="natural, in role, clinically sound and complete")),
)

RUBRICS: dict[str, Rubric] = {r.name: r for r in (ASCLEPIUS, FACTUAL_CONSISTENCY, DIALOGUE)}


def load_rubric(name_or_path: str | Path, what: str = "--rubric") -> Rubric:
    """A shipped rubric by name (`asclepius`, `factual_consistency`, `dialogue`), or a YAML/JSON rubric file."""
    if isinstance(name_or_path, str) and name_or_path in RUBRICS:
        return RUBRICS[name_or_path]
    path = Path(name_or_path)
    if not path.is_file():
        raise ConfigError(f"{what} {str(name_or_path)!r} is neither a shipped rubric ({', '.join(sorted(RUBRICS))}) nor "
                          "a rubric file (.yaml/.json with id, name, criterion, steps, levels)")
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as err:
        raise ConfigError(f"{what} file {str(path)!r} cannot be read as {'JSON' if path.suffix == '.json' else 'YAML'} "
                          f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from None
    try:
        return Rubric.model_validate(data)
    except ValidationError as err:
        raise ConfigError(describe_validation_error(err, what=f"{what} file {str(path)!r}")) from None
