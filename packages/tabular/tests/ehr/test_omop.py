from __future__ import annotations

import datetime as dt
import itertools
import shutil
from pathlib import Path

import pandas as pd
import pytest

from biosynth.core import ConfigError, InputDataError, Visit, VisitSequencePayload
from biosynth.tabular import eunomia_database, load_eunomia, load_omop, write_omop


@pytest.fixture(scope="module")
def eunomia():
    return load_eunomia(label_concept_id=192671)  # gastrointestinal hemorrhage, the GiBleed outcome


def test_eunomia_counts_match_the_measured_figures(eunomia) -> None:
    # ENVIRONMENT.md: ~110,000 visits, 41 per person (median 34, max 162), 1.5 codes per visit (max 18),
    # 244 distinct codes (80 conditions, 113 drugs, 51 procedures), 2,694 persons
    stats = eunomia.stats()
    assert stats.persons == 2694
    assert 105_000 <= stats.visits <= 115_000
    assert round(stats.visits_per_person_mean) == 41
    assert stats.visits_per_person_median == 34 and stats.visits_per_person_max == 162
    assert round(stats.codes_per_visit_mean, 1) == 1.5 and stats.codes_per_visit_max == 18
    assert stats.distinct_codes == 244
    assert stats.codes_by_domain == {"condition": 80, "drug": 113, "procedure": 51}


def test_eunomia_patients_are_dated_sequences_with_statics(eunomia) -> None:
    patient = eunomia.patients[0]
    dates = [dt.date.fromisoformat(v.date) for v in patient.visits]
    assert dates == sorted(dates)
    gaps = [v.days_since_previous for v in patient.visits]
    assert gaps[0] is None and gaps[1:] == [(b - a).days for a, b in itertools.pairwise(dates)]
    assert set(patient.static) == {"sex", "birth_decade", "age_band", "label"}
    labels = {p.static["label"] for p in eunomia.patients}
    assert labels == {"positive", "negative"}
    assert eunomia.code_names["192671"] == "Gastrointestinal hemorrhage"
    assert eunomia.code_domains["192671"] == "condition"


def test_source_database_is_left_untouched(tmp_path: Path) -> None:
    source = eunomia_database()
    before = source.stat().st_mtime_ns
    copy = tmp_path / "cdm.duckdb"
    shutil.copyfile(source, copy)
    small = load_omop(copy, limit_persons=5)
    assert len(small.patients) == 5 and source.stat().st_mtime_ns == before


def test_missing_or_broken_database_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match=r"nowhere\.duckdb' does not exist"):
        load_omop(tmp_path / "nowhere.duckdb")
    broken = tmp_path / "broken.duckdb"
    broken.write_bytes(b"this is not a database")
    with pytest.raises(InputDataError, match=r"broken\.duckdb"):
        load_omop(broken)


def test_writer_produces_omop_tables(tmp_path: Path, tiny_halo, tiny_domains) -> None:
    patients = tiny_halo.sample(6, seed=1)
    report = write_omop(patients, tmp_path / "omop", code_domains=tiny_domains, file_format="parquet")
    person = pd.read_parquet(tmp_path / "omop" / "person.parquet")
    visits = pd.read_parquet(tmp_path / "omop" / "visit_occurrence.parquet")
    conditions = pd.read_parquet(tmp_path / "omop" / "condition_occurrence.parquet")
    drugs = pd.read_parquet(tmp_path / "omop" / "drug_exposure.parquet")
    assert len(person) == 6 and set(person["gender_concept_id"]) <= {8507, 8532}
    assert len(visits) == sum(len(p.visits) for p in patients) == report.rows["visit_occurrence"]
    n_conditions = sum(c in ("1001", "4004") for p in patients for v in p.visits for c in v.codes)
    assert len(conditions) == n_conditions and set(conditions["condition_concept_id"]) <= {1001, 4004}
    assert set(drugs["visit_occurrence_id"]) <= set(visits["visit_occurrence_id"])
    first = visits.groupby("person_id")["visit_start_date"].min()
    born = person.set_index("person_id")["year_of_birth"]
    assert all(pd.Timestamp(first[i]).year == born[i] for i in first.index)  # age band 0-9: first visit at birth


def test_writer_round_trips_real_dates_as_csv(tmp_path: Path) -> None:
    patient = VisitSequencePayload(static={"sex": "FEMALE"}, visits=(
        Visit(codes=("1",), date="2001-02-03"), Visit(codes=("2", "3"), date="2001-03-01", days_since_previous=26)))
    write_omop([patient], tmp_path / "csv", code_domains={"1": "condition", "2": "drug", "3": "procedure"},
               file_format="csv")
    procedures = pd.read_csv(tmp_path / "csv" / "procedure_occurrence.csv")
    assert procedures.to_dict("records") == [{"procedure_occurrence_id": 1, "person_id": 1, "procedure_concept_id": 3,
                                              "procedure_date": "2001-03-01", "visit_occurrence_id": 2}]


def test_writer_errors_name_the_problem_and_write_nothing(tmp_path: Path) -> None:
    patient = VisitSequencePayload(static={}, visits=(Visit(codes=("9",)),))
    with pytest.raises(InputDataError, match="no birth_decade/age_band"):
        write_omop([patient], tmp_path / "a", code_domains={"9": "condition"})
    dated = VisitSequencePayload(static={}, visits=(Visit(codes=("9",), date="2000-01-01"),))
    with pytest.raises(InputDataError, match="code '9' has domain 'measurement'"):
        write_omop([dated], tmp_path / "b", code_domains={"9": "measurement"})
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "x").write_text("x")
    with pytest.raises(ConfigError, match="not empty"):
        write_omop([dated], tmp_path / "c", code_domains={"9": "condition"})
