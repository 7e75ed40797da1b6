"""Write patients (visit sequences) back as OMOP-shaped tables: person, visit_occurrence and one event table
per code domain (condition_occurrence, drug_exposure, procedure_occurrence)."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from biosynth.core import ConfigError, InputDataError, VisitSequencePayload, fsync_tree

_GENDER = {"MALE": 8507, "FEMALE": 8532}
_EVENT_COLUMNS = {
    "condition": ("condition_occurrence", "condition_concept_id", "condition_start_date"),
    "drug": ("drug_exposure", "drug_concept_id", "drug_exposure_start_date"),
    "procedure": ("procedure_occurrence", "procedure_concept_id", "procedure_date"),
}
_DECADE = re.compile(r"^(\d{4})s$")
_BAND = re.compile(r"^(\d+)(?:-\d+|\+)$")


class OmopWriteReport(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    folder: str
    files: dict[str, str]
    rows: dict[str, int]
    visits_without_gap: int  # visits after the first whose gap was not sampled: dated as the previous visit
    anchored_by_default: int  # patients dated from `default_anchor` (no dates, no birth decade / age band)


def write_omop(patients: Sequence[VisitSequencePayload], out: str | Path, *, code_domains: Mapping[str, str],
               file_format: Literal["parquet", "csv"] = "parquet",
               default_anchor: dt.date | None = None) -> OmopWriteReport:
    """Write OMOP tables for `patients` into a new folder `out` (atomically: all tables or none).

    Visit dates come from `Visit.date` when present; otherwise the first visit falls on 1 January of
    (birth decade + 5 + age band's lower bound), or on `default_anchor`, and later visits follow by
    `days_since_previous`. Birth years are the decade's middle (synthetic dates are approximate).
    """
    import pandas as pd

    if file_format not in ("parquet", "csv"):
        raise ConfigError(f"file_format must be 'parquet' or 'csv', got {file_format!r}")
    out = check_omop_out(out)
    tables: dict[str, list[dict[str, Any]]] = {"person": [], "visit_occurrence": []}
    tables.update({table: [] for table, _, _ in _EVENT_COLUMNS.values()})
    without_gap = anchored_by_default = 0
    visit_id = 0
    event_ids = dict.fromkeys(_EVENT_COLUMNS, 0)
    for person_id, patient in enumerate(patients, start=1):
        static = patient.static
        birth_year = _birth_year(static.get("birth_decade"))
        tables["person"].append({
            "person_id": person_id, "gender_concept_id": _GENDER.get(str(static.get("sex")), 0),
            "year_of_birth": birth_year, "gender_source_value": static.get("sex"),
        })
        date: dt.date | None = None
        for j, visit in enumerate(patient.visits):
            if visit.date is not None:
                date = dt.date.fromisoformat(visit.date)
            elif j == 0:
                date = _anchor(birth_year, static.get("age_band"))
                if date is None:
                    if default_anchor is None:
                        raise InputDataError(f"patient {person_id}: its visits have no dates and its static values "
                                             "no birth_decade/age_band; give default_anchor")
                    date, anchored_by_default = default_anchor, anchored_by_default + 1
            else:
                assert date is not None
                if visit.days_since_previous is None:
                    without_gap += 1
                else:
                    date = date + dt.timedelta(days=visit.days_since_previous)
            visit_id += 1
            tables["visit_occurrence"].append({
                "visit_occurrence_id": visit_id, "person_id": person_id, "visit_concept_id": 0,
                "visit_start_date": date, "visit_end_date": date,
            })
            for code in visit.codes:
                domain = code_domains.get(code)
                if domain not in _EVENT_COLUMNS:
                    raise InputDataError(f"code {code!r} has domain {domain!r}; expected one of {list(_EVENT_COLUMNS)}")
                table, concept_column, date_column = _EVENT_COLUMNS[domain]
                event_ids[domain] += 1
                tables[table].append({
                    f"{table}_id": event_ids[domain], "person_id": person_id, concept_column: _concept_id(code),
                    date_column: date, "visit_occurrence_id": visit_id,
                })
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    files: dict[str, str] = {}
    try:
        for table, rows in tables.items():
            frame = pd.DataFrame(rows, columns=_columns(table))
            name = f"{table}.{file_format}"
            if file_format == "parquet":
                frame.to_parquet(staging / name, index=False)
            else:
                frame.to_csv(staging / name, index=False)
            files[table] = str(out / name)
        fsync_tree(staging)
        if out.exists():
            out.rmdir()
        staging.rename(out)
        fsync_tree(out.parent, recursive=False)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return OmopWriteReport(folder=str(out), files=files, rows={t: len(r) for t, r in tables.items()},
                           visits_without_gap=without_gap, anchored_by_default=anchored_by_default)


def check_omop_out(out: str | Path) -> Path:
    """`out` must be a new or empty folder (checked before any work; OMOP output is never overwritten)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"OMOP output folder {str(out)!r} already exists and is not empty; choose a new folder")
    return out


def _columns(table: str) -> list[str]:
    if table == "person":
        return ["person_id", "gender_concept_id", "year_of_birth", "gender_source_value"]
    if table == "visit_occurrence":
        return ["visit_occurrence_id", "person_id", "visit_concept_id", "visit_start_date", "visit_end_date"]
    _, concept, date = next(v for v in _EVENT_COLUMNS.values() if v[0] == table)
    return [f"{table}_id", "person_id", concept, date, "visit_occurrence_id"]


def _concept_id(code: str) -> int:
    try:
        return int(code)
    except ValueError:
        raise InputDataError(f"code {code!r} is not an OMOP concept id (an integer)") from None


def _birth_year(decade: object) -> int | None:
    match = _DECADE.match(str(decade)) if decade is not None else None
    return int(match.group(1)) + 5 if match else None


def _anchor(birth_year: int | None, age_band: object) -> dt.date | None:
    match = _BAND.match(str(age_band)) if age_band is not None else None
    if birth_year is None or match is None:
        return None
    return dt.date(birth_year + int(match.group(1)), 1, 1)
