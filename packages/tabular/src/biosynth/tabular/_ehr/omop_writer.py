"""Write patients (visit sequences) back as OMOP-shaped tables: person, visit_occurrence and one event table
per code domain (condition_occurrence, drug_exposure, procedure_occurrence)."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from biosynth.core import ConfigError, InputDataError, VisitSequencePayload, birth_year, fsync_tree, visit_dates

_GENDER = {"MALE": 8507, "FEMALE": 8532}
_EVENT_COLUMNS = {
    "condition": ("condition_occurrence", "condition_concept_id", "condition_start_date"),
    "drug": ("drug_exposure", "drug_concept_id", "drug_exposure_start_date"),
    "procedure": ("procedure_occurrence", "procedure_concept_id", "procedure_date"),
}


class OmopWriteReport(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    folder: str
    files: dict[str, str]
    rows: dict[str, int]
    visits_without_gap: int  # visits after the first whose gap was not sampled: dated as the previous visit
    anchored_by_default: int  # patients dated from `default_anchor` (no dates, no birth decade / age band)


def write_omop(patients: Sequence[VisitSequencePayload], out: str | Path, *, code_domains: Mapping[str, str],
               file_format: Literal["parquet", "csv"] = "parquet",
               default_anchor: dt.date | None = None,
               person_source_values: Sequence[str] | None = None) -> OmopWriteReport:
    """Write OMOP tables for `patients` into a new folder `out` (atomically: all tables or none).

    Visit dates follow core's one rule (`biosynth.core.visit_dates`): `Visit.date` when present; otherwise the
    first visit falls on 1 January of (birth decade + 5 + age band's lower bound), or on `default_anchor`, and
    later visits follow by `days_since_previous`. Birth years are the decade's middle (synthetic dates are
    approximate). `person_source_values` (e.g. case ids) fill person.person_source_value.
    """
    if file_format not in ("parquet", "csv"):
        raise ConfigError(f"file_format must be 'parquet' or 'csv', got {file_format!r}")
    out = check_omop_out(out)
    tables, without_gap, anchored_by_default = omop_tables(patients, code_domains=code_domains,
                                                           default_anchor=default_anchor,
                                                           person_source_values=person_source_values)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        names = write_omop_files(tables, staging, file_format)
        fsync_tree(staging)
        if out.exists():
            out.rmdir()
        staging.rename(out)
        fsync_tree(out.parent, recursive=False)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return OmopWriteReport(folder=str(out), files={t: str(out / n) for t, n in names.items()},
                           rows={t: len(r) for t, r in tables.items()}, visits_without_gap=without_gap,
                           anchored_by_default=anchored_by_default)


def omop_tables(patients: Sequence[VisitSequencePayload], *, code_domains: Mapping[str, str],
                default_anchor: dt.date | None = None, person_source_values: Sequence[str] | None = None,
                ) -> tuple[dict[str, list[dict[str, Any]]], int, int]:
    """The OMOP rows of `patients` by table, the visits dated without a gap, the patients anchored by default."""
    if person_source_values is not None and len(person_source_values) != len(patients):
        raise ConfigError(f"person_source_values has {len(person_source_values)} values for {len(patients)} patients")
    tables: dict[str, list[dict[str, Any]]] = {"person": [], "visit_occurrence": []}
    tables.update({table: [] for table, _, _ in _EVENT_COLUMNS.values()})
    without_gap = anchored_by_default = 0
    visit_id = 0
    event_ids = dict.fromkeys(_EVENT_COLUMNS, 0)
    for person_id, patient in enumerate(patients, start=1):
        static = patient.static
        tables["person"].append({
            "person_id": person_id, "gender_concept_id": _GENDER.get(str(static.get("sex")).upper(), 0),
            "year_of_birth": birth_year(static), "gender_source_value": static.get("sex"),
            "person_source_value": person_source_values[person_id - 1] if person_source_values is not None else None,
        })
        dated = visit_dates(patient, default_anchor=default_anchor, where=f"patient {person_id}",
                            anchor_hint="give default_anchor")
        without_gap += dated.without_gap
        anchored_by_default += int(dated.anchored_by_default)
        for visit, date in zip(patient.visits, dated.dates, strict=True):
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
    return tables, without_gap, anchored_by_default


def write_omop_files(tables: Mapping[str, list[dict[str, Any]]], folder: Path,
                     file_format: Literal["parquet", "csv"]) -> dict[str, str]:
    """Write each table as `<table>.<file_format>` into an existing folder; returns table -> file name."""
    import pandas as pd

    names: dict[str, str] = {}
    for table, rows in tables.items():
        frame = pd.DataFrame(rows, columns=_columns(table))
        name = names[table] = f"{table}.{file_format}"
        if file_format == "parquet":
            frame.to_parquet(folder / name, index=False)
        else:
            frame.to_csv(folder / name, index=False)
    return names


def check_omop_out(out: str | Path) -> Path:
    """`out` must be a new or empty folder (checked before any work; OMOP output is never overwritten)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"OMOP output folder {str(out)!r} already exists and is not empty; choose a new folder")
    return out


def _columns(table: str) -> list[str]:
    if table == "person":
        return ["person_id", "gender_concept_id", "year_of_birth", "gender_source_value", "person_source_value"]
    if table == "visit_occurrence":
        return ["visit_occurrence_id", "person_id", "visit_concept_id", "visit_start_date", "visit_end_date"]
    _, concept, date = next(v for v in _EVENT_COLUMNS.values() if v[0] == table)
    return [f"{table}_id", "person_id", concept, date, "visit_occurrence_id"]


def _concept_id(code: str) -> int:
    try:
        return int(code)
    except ValueError:
        raise InputDataError(f"code {code!r} is not an OMOP concept id (an integer)") from None
