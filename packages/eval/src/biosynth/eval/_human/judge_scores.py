"""LLM-judge scores as review inputs: shown to reviewers as Label Studio predictions / Argilla suggestions, and
correlated with the reviewers' ratings.

The contract with the judges (biosynth-eval's judge family, or any tool): one row per record and criterion,
`{"record_id", "criterion", "score", "judge": <core ModelRef as JSON>, "confidence"?, "rationale_sha256"?}`, given as
a JSON list, a JSONL file, `{"judge_scores": [...]}`, or a biosynth report.json whose `judge`-family results carry
such rows in `details["scores"]` (a row without `judge` takes the result's `parameters["judge"]`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from biosynth.core import InputDataError, ModelRef, describe_validation_error


class JudgeScore(BaseModel):
    """One judge's score of one record on one criterion."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    record_id: str
    criterion: str
    score: float = Field(allow_inf_nan=False)
    judge: ModelRef
    confidence: float | None = Field(None, ge=0, le=1, description="e.g. the probability of the chosen score")
    rationale_sha256: str | None = None


def judge_label(judge: ModelRef) -> str:
    """The judge as one string (Label Studio's model_version, Argilla's agent): name@revision (backend) sha256."""
    parts = [f"{judge.name}@{judge.revision or 'unknown-revision'}", f"({judge.backend})"]
    if judge.sha256:
        parts.append(f"sha256:{judge.sha256[:12]}")
    return " ".join(parts)


def read_judge_scores(path: str | Path, what: str = "--judge-results") -> tuple[JudgeScore, ...]:
    """The judge scores in `path` (formats in the module docstring); errors name the file and the row."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputDataError(f"{what} file {str(path)!r} cannot be read: {err}") from None
    rows: list[tuple[str, Any]]
    if path.suffix.lower() == ".jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                rows.append((f"line {number}", _json(line, path, what, f" line {number}")))
    else:
        document = _json(text, path, what, "")
        rows = list(_rows(document, path, what))
    scores = []
    for where, row in rows:
        try:
            scores.append(JudgeScore.model_validate(row))
        except ValidationError as err:
            raise InputDataError(describe_validation_error(err, what=f"{what} file {str(path)!r} {where}")) from None
    seen: set[tuple[str, str, str]] = set()
    for score in scores:
        key = (score.record_id, score.criterion, score.judge.model_dump_json())
        if key in seen:
            raise InputDataError(f"{what} file {str(path)!r} scores record {score.record_id!r} on {score.criterion!r} "
                                 f"twice by the same judge {judge_label(score.judge)!r}")
        seen.add(key)
    return tuple(scores)


def _json(text: str, path: Path, what: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InputDataError(f"{what} file {str(path)!r}{where} is not valid JSON: {err}") from None


def _rows(document: Any, path: Path, what: str) -> Iterable[tuple[str, Any]]:
    if isinstance(document, list):
        yield from ((f"item {i}", row) for i, row in enumerate(document))
    elif isinstance(document, dict) and isinstance(document.get("judge_scores"), list):
        yield from ((f"judge_scores[{i}]", row) for i, row in enumerate(document["judge_scores"]))
    elif isinstance(document, dict) and isinstance(document.get("results"), list):
        found = False
        for result in document["results"]:
            if not isinstance(result, dict) or result.get("family") != "judge":
                continue
            rows = (result.get("details") or {}).get("scores")
            if not isinstance(rows, list) or not all(isinstance(r, dict) and "record_id" in r for r in rows):
                continue  # e.g. pairwise results: no per-record scores
            default_judge = (result.get("parameters") or {}).get("judge")
            for i, row in enumerate(rows):
                found = True
                if isinstance(row, dict) and "judge" not in row and default_judge is not None:
                    row = {**row, "judge": default_judge}
                yield f"result {result.get('name')!r} score {i}", row
        if not found:
            raise InputDataError(f"{what} file {str(path)!r} is a report without judge scores: no 'judge' result "
                                 "carries details['scores']")
    else:
        raise InputDataError(f"{what} file {str(path)!r}: expected a list of judge scores, {{'judge_scores': [...]}}, "
                             "or a biosynth report.json with judge results")
