"""`ehr_admission`: one admission row per patient history, the bridge from an EHR step to text and image steps.

A history (a `VisitSequencePayload`, e.g. from HALO) becomes one table row: the patient's static values, the
admission (the last visit) and the named conditions, medications and procedures of its last `last_visits` visits, so
that a note, a dialogue or an image prompt can be written from it by generators that read table rows. Code names and
domains come from a JSON file (a flat `{code: name}` object, or one with `code_names` and `code_domains` as a saved
HALO folder's `vocabulary.json` holds them); the row keeps the codes beside the names.
"""

from __future__ import annotations

from collections import Counter
from functools import cached_property
from typing import Any

from pydantic import Field

from biosynth.core._errors import GenerationError, InputDataError
from biosynth.core._export._codes import read_code_vocabulary
from biosynth.core._export._folder import ExportError
from biosynth.core._generator import Draft, Generator, GeneratorParams, SampleRequest, StepContext
from biosynth.core._hashing import sha256_file
from biosynth.core._inputs import InputFile
from biosynth.core._provenance import Strategy
from biosynth.core._records import Modality, Scalar, TableRowPayload, VisitSequencePayload

COLUMN_OF_DOMAIN = {"condition": "conditions", "drug": "medications", "procedure": "procedures"}
"""The row column a code's domain fills (OMOP table or domain names, case-insensitive, by prefix)."""


class EhrAdmissionParams(GeneratorParams):
    code_names: InputFile | None = Field(
        None, description="JSON: {code: name}, or {code_names: {...}, code_domains: {...}} (a HALO folder's "
                          "vocabulary.json); without it the row lists codes only")
    last_visits: int = Field(1, ge=1, description="the admission's conditions, medications and procedures are those "
                                                  "of this many last visits")
    max_per_column: int = Field(6, ge=1, description="at most this many names per column (most frequent first)")
    table: str = "admissions"
    label_columns: tuple[str, ...] = Field(("primary_condition",), description="row values copied into the labels")


class EhrAdmission(Generator[EhrAdmissionParams]):
    """A row per history: static values, `visits` (history length), `days_since_previous`, `primary_condition`,
    `conditions` / `medications` / `procedures` (names joined by '; '), `codes` (the codes used, space-separated).

    Codes without a known domain go to `conditions` when the file gives no domains at all (an ICD-10-CM style
    diagnosis vocabulary), else to `other_codes`. A history without visits or codes is a failed sample.
    """

    name = "ehr_admission"
    input_required = True
    input_modalities = (Modality.EHR,)

    @cached_property
    def _vocabulary(self) -> tuple[dict[str, str], dict[str, str]]:
        file = self.params.code_names
        if file is None:
            return {}, {}
        try:
            vocabulary = read_code_vocabulary(file.path)  # the one reader of code-name files (the exports use it too)
        except ExportError as err:
            raise InputDataError(f"code_names: {err}") from None
        return dict(vocabulary.names), dict(vocabulary.domains)

    def _setup(self, ctx: StepContext) -> None:
        self._vocabulary  # noqa: B018 - a bad file fails the step before any sample
        file = self.params.code_names
        self._file_sha256 = sha256_file(file.path) if file is not None else None

    def _generate_one(self, request: SampleRequest, ctx: StepContext) -> Draft:
        assert request.input is not None
        payload = request.input.payload
        if not isinstance(payload, VisitSequencePayload):
            raise GenerationError(f"{self.name}: record {request.input.id} holds no visit sequence")
        if not payload.visits:
            raise GenerationError(f"{self.name}: the history of {request.input.id} has no visits")
        names, domains = self._vocabulary
        window = payload.visits[-self.params.last_visits:]
        counts = Counter(code for visit in window for code in visit.codes)
        if not counts:
            raise GenerationError(f"{self.name}: the last {len(window)} visit(s) of {request.input.id} hold no codes")
        columns: dict[str, list[str]] = {"conditions": [], "medications": [], "procedures": [], "other_codes": []}
        ordered = sorted(counts, key=lambda c: (-counts[c], c))
        for code in ordered:
            columns[_column(domains.get(code), bool(domains))].append(code)
        admission = payload.visits[-1]
        primary = next((c for c in admission.codes if _column(domains.get(c), bool(domains)) == "conditions"),
                       columns["conditions"][0] if columns["conditions"] else None)
        values: dict[str, Scalar] = {k: v for k, v in payload.static.items()}
        values.update({
            "visits": len(payload.visits),
            "admission_date": admission.date,
            "days_since_previous": admission.days_since_previous,
            "primary_condition": names.get(primary) or primary if primary is not None else None,
            "primary_code": primary,
        })
        used: list[str] = []
        for column, codes in columns.items():
            kept = codes[: self.params.max_per_column]
            used += kept
            values[column] = "; ".join(names.get(c) or c for c in kept)
        values["codes"] = " ".join(used)
        unnamed = sorted(c for c in used if not names.get(c))
        labels = {c: values[c] for c in self.params.label_columns if values.get(c) is not None}
        extra: dict[str, Any] = {"vocabulary": payload.vocabulary, "last_visits": len(window),
                                 "code_names_sha256": self._file_sha256}
        if unnamed:
            extra["unnamed_codes"] = unnamed
        return Draft(payload=TableRowPayload(table=self.params.table, values=values),
                     labels={**request.input.labels, **labels}, strategy=(Strategy.TEMPLATE,), extra=extra)


def _column(domain: str | None, domains_known: bool) -> str:
    if domain is None:
        return "other_codes" if domains_known else "conditions"
    lowered = domain.lower()
    return next((column for prefix, column in COLUMN_OF_DOMAIN.items() if lowered.startswith(prefix)), "other_codes")
