"""`biosynth export DATASET --to omop`: the dataset's visit sequences as OMOP CDM tables (person, visit_occurrence,
condition_occurrence, drug_exposure, procedure_occurrence), written by `write_omop`'s table builder.

A person per EHR record (person_source_value = its case id). Codes must be OMOP concept ids (the record's
vocabulary says OMOP, or declares none); each code's domain comes from a vocabulary file (`-O vocabulary=`, a
HALO folder's vocabulary.json) or is implied by the vocabulary. Records of other modalities have no OMOP table:
they are counted in the export's facts, not dropped silently.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from biosynth.core import (
    ExportContext,
    Exporter,
    ExportError,
    ExportOptions,
    InputDataError,
    VisitSequencePayload,
    read_code_vocabulary,
    visit_dates,
)
from biosynth.tabular._ehr.omop_writer import omop_tables, write_omop_files


class OmopOptions(ExportOptions):
    vocabulary: Path | None = Field(None, description="JSON file of code domains ({code_domains: {...}}, a HALO "
                                                      "folder's vocabulary.json)")
    file_format: Literal["parquet", "csv"] = "parquet"
    anchor_date: dt.date | None = Field(None, description="first-visit date for histories with no dates and no "
                                                          "birth decade / age band")


class OmopExporter(Exporter):
    format: ClassVar[str] = "omop"
    description: ClassVar[str] = "OMOP CDM tables (person, visits, conditions, drugs, procedures) as Parquet or CSV"
    format_version: ClassVar[int] = 1
    requires: ClassVar[tuple[str, ...]] = ("pandas",)
    extra: ClassVar[str | None] = "biosynth-tabular"
    Options: ClassVar[type[ExportOptions]] = OmopOptions

    def _export(self, ctx: ExportContext) -> dict[str, Any]:
        options = self.options
        assert isinstance(options, OmopOptions)
        vocabulary = read_code_vocabulary(options.vocabulary)
        records = ctx.records()
        histories = [r for r in records if isinstance(r.payload, VisitSequencePayload)]
        if not histories:
            raise ExportError(f"dataset {str(ctx.dataset.root)!r} holds no visit-sequence (EHR) records; OMOP tables "
                              "hold EHR histories")
        ctx.start(len(histories))
        domains: dict[str, str] = {}
        for record in histories:
            payload = record.payload
            assert isinstance(payload, VisitSequencePayload)
            where = f"record {record.id!r}"
            if payload.vocabulary is not None and payload.vocabulary.strip().upper() != "OMOP":
                raise ExportError(f"{where}: its codes are {payload.vocabulary} codes; OMOP tables need OMOP concept "
                                  "ids (map the codes to OMOP concepts first, or export to fhir)")
            for visit in payload.visits:
                for code in visit.codes:
                    domains[code] = vocabulary.domain(code, payload.vocabulary, where=where)
            try:  # dated here first, so an error names the record
                visit_dates(payload, default_anchor=options.anchor_date, where=where,
                            anchor_hint="give -O anchor_date=YYYY-MM-DD")
            except InputDataError as err:
                raise ExportError(str(err)) from None
        tables, without_gap, by_default = omop_tables(
            [r.payload for r in histories], code_domains=domains,  # type: ignore[misc]
            default_anchor=options.anchor_date, person_source_values=[r.case_id for r in histories])
        write_omop_files(tables, ctx.staging, options.file_format)
        ctx.advance(len(histories))
        others = Counter(r.modality.value for r in records if not isinstance(r.payload, VisitSequencePayload))
        return {"persons": len(histories), "rows": {t: len(rows) for t, rows in tables.items()},
                "visits_without_gap": without_gap, "histories_anchored_by_default": by_default,
                "records_without_omop_table": dict(sorted(others.items()))}
