"""`biosynth export --to omop`: HALO histories from a recipe run become OMOP CDM tables that DuckDB reads back."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from biosynth.core import (
    Draft,
    ExportError,
    Generator,
    GeneratorParams,
    Group,
    Modality,
    Registry,
    SampleRequest,
    StepContext,
    SyntheticDataset,
    Visit,
    VisitSequencePayload,
    export_dataset,
    parse_recipe,
    read_export_marker,
    run_recipe,
)
from biosynth.core._progress import LogProgress

duckdb = pytest.importorskip("duckdb", reason="the `omop` extra of biosynth-tabular is not installed")


@pytest.fixture(scope="module")
def dataset(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    recipe = parse_recipe({"name": "omop-export", "seed": 4, "steps": [
        {"name": "histories", "generator": "halo", "count": 6, "params": {"model": str(tiny_model_dir)}},
        {"name": "extras", "generator": "attributes", "count": 2, "params": {"attributes": {"sex": ["female"]}}},
    ]})
    out = tmp_path_factory.mktemp("omop-export") / "ds"
    run_recipe(recipe, out, progress=LogProgress())
    return out


def test_halo_histories_as_omop_tables_read_back_by_duckdb(dataset: Path, tiny_model_dir: Path, tiny_domains,
                                                            tmp_path: Path) -> None:
    result = export_dataset(dataset, "omop", tmp_path / "omop", progress=LogProgress(),
                            options={"vocabulary": str(tiny_model_dir / "vocabulary.json")})
    histories = SyntheticDataset(dataset).records("histories")
    root = tmp_path / "omop"
    db = duckdb.connect()
    for table in ("person", "visit_occurrence", "condition_occurrence", "drug_exposure", "procedure_occurrence"):
        db.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{root / (table + '.parquet')}')")
    persons = db.execute("SELECT person_id, person_source_value, gender_concept_id, year_of_birth FROM person "
                         "ORDER BY person_id").fetchall()
    assert [p[1] for p in persons] == [r.case_id for r in histories]
    gender = {"MALE": 8507, "FEMALE": 8532}
    for (_, _, concept, year), record in zip(persons, histories, strict=True):
        assert isinstance(record.payload, VisitSequencePayload)
        assert concept == gender[str(record.payload.static["sex"])]
        assert year == int(str(record.payload.static["birth_decade"])[:4]) + 5
    visits = db.execute("SELECT person_id, count(*), min(visit_start_date), max(visit_start_date) "
                        "FROM visit_occurrence GROUP BY person_id ORDER BY person_id").fetchall()
    for (_, n, first, last), record in zip(visits, histories, strict=True):
        assert isinstance(record.payload, VisitSequencePayload)
        assert n == len(record.payload.visits)
        gaps = sum(v.days_since_previous or 0 for v in record.payload.visits[1:])
        assert (last - first) == dt.timedelta(days=gaps)
    for table, column, domain in (("condition_occurrence", "condition_concept_id", "condition"),
                                  ("drug_exposure", "drug_concept_id", "drug"),
                                  ("procedure_occurrence", "procedure_concept_id", "procedure")):
        expected = sorted(int(c) for r in histories for v in r.payload.visits  # type: ignore[union-attr]
                          for c in v.codes if tiny_domains[c] == domain)
        got = [row[0] for row in db.execute(f"SELECT {column} FROM {table} ORDER BY {column}").fetchall()]
        assert got == expected and result.facts["rows"][table] == len(expected)
        orphans = db.execute(f"SELECT count(*) FROM {table} e LEFT JOIN visit_occurrence v USING "
                             "(visit_occurrence_id) WHERE v.person_id IS NULL OR v.person_id <> e.person_id").fetchone()
        assert orphans == (0,)
    marker = read_export_marker(root)
    assert marker["format"] == "omop" and marker["facts"]["records_without_omop_table"] == {"tabular": 2}
    assert set(marker["files"]) == {f"{t}.parquet" for t in ("person", "visit_occurrence", "condition_occurrence",
                                                            "drug_exposure", "procedure_occurrence")}


class IcdHistories(Generator[GeneratorParams]):
    name = "icd_histories"

    def _generate_one(self, request: SampleRequest, ctx: StepContext) -> Draft:
        return Draft(payload=VisitSequencePayload(visits=(Visit(codes=("I10",), date="2020-01-01"),),
                                                  vocabulary="ICD-10-CM"), modality=Modality.EHR)


def test_omop_export_as_csv_and_its_errors(dataset: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"record 'histories-\d+': the domain .* of code '\d+' is unknown"):
        export_dataset(dataset, "omop", tmp_path / "a")
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"code_domains": {"1001": "condition"}}))
    with pytest.raises(ExportError, match=r"code '\d+' has no domain in .*partial\.json"):
        export_dataset(dataset, "omop", tmp_path / "a", options={"vocabulary": str(partial)})
    assert not (tmp_path / "a").exists()
    result = export_dataset(dataset, "omop", tmp_path / "csv", options={
        "file_format": "csv", "vocabulary": str(tiny_model_dir / "vocabulary.json")})
    for table, rows in result.facts["rows"].items():
        count = duckdb.connect().execute(f"SELECT count(*) FROM read_csv('{tmp_path / 'csv' / (table + '.csv')}')").fetchone()
        assert count == (rows,)
    registry = Registry()
    registry.register(Group.GENERATORS, "icd_histories", IcdHistories)
    icd = tmp_path / "icd"
    run_recipe(parse_recipe({"name": "icd", "seed": 1, "steps": [
        {"name": "h", "generator": "icd_histories", "count": 1}]}), icd, registry=registry, progress=LogProgress())
    with pytest.raises(ExportError, match=r"record 'h-000000': its codes are ICD-10-CM codes; OMOP tables need OMOP"):
        export_dataset(icd, "omop", tmp_path / "b")
