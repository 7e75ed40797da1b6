"""Reading visit sequences to evaluate: synthetic ones from a biosynth dataset, real ones from a dataset folder or a
JSONL file of patients."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from biosynth.core import DatasetError, InputDataError, Record, SyntheticDataset, VisitSequencePayload

History = list[list[str]]


def holds_visits(dataset: SyntheticDataset, step: str | None = None) -> bool:
    """Whether the chosen step (or the dataset) holds visit-sequence records and no table rows or texts."""
    kinds = {r.payload.kind for r in dataset.records(step)}
    return "visit_sequence" in kinds and not kinds & {"table_row", "text"}


def synthetic_visits(dataset: SyntheticDataset, step: str | None = None) -> tuple[list[VisitSequencePayload], list[Record]]:
    """The visit-sequence records of a dataset (optionally one step); a DatasetError when there are none."""
    records = [r for r in dataset.records(step) if isinstance(r.payload, VisitSequencePayload)]
    if not records:
        where = f"step {step!r}" if step else "any step"
        raise DatasetError(f"dataset {str(dataset.root)!r} holds no visit-sequence records in {where} "
                           f"(steps: {list(dataset.manifest.steps)})")
    return [r.payload for r in records], records  # type: ignore[misc]


def _patient(item: Any, where: str) -> History:
    visits = item.get("visits") if isinstance(item, dict) else item
    if not isinstance(visits, list):
        raise InputDataError(f"{where}: expected a list of visits or an object with 'visits', got {type(item).__name__}")
    out = []
    for visit in visits:
        codes = visit.get("codes") if isinstance(visit, dict) else visit
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise InputDataError(f"{where}: a visit must be a list of code strings or an object with 'codes', got "
                                 f"{visit!r}")
        out.append(codes)
    return out


def read_real_visits(path: str | Path, role: str = "--real") -> list[VisitSequencePayload] | list[History]:
    """Real patients from a biosynth dataset folder of visit-sequence records, or from a JSONL file with one patient
    per line: a list of visits (each a list of codes), or an object {"visits": [...]} whose visits are lists of codes
    or objects {"codes": [...]} (the shape of core's VisitSequencePayload)."""
    path = Path(path)
    if path.is_dir():
        payloads, _ = synthetic_visits(SyntheticDataset(path))
        return payloads
    if not path.is_file():
        raise InputDataError(f"{role} {str(path)!r} does not exist (expected a biosynth dataset folder of "
                             "visit-sequence records or a .jsonl file of patients)")
    if path.suffix.lower() != ".jsonl":
        raise InputDataError(f"{role} file {str(path)!r} has suffix {path.suffix!r}; for visit sequences expected a "
                             "dataset folder or a .jsonl file of patients")
    patients = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputDataError(f"{role} file {str(path)!r} line {number} is not JSON: {err}") from None
        patients.append(_patient(item, f"{role} file {str(path)!r} line {number}"))
    if not patients:
        raise InputDataError(f"{role} file {str(path)!r} holds no patients")
    return patients
