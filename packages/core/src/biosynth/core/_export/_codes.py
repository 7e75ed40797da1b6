"""Clinical codes in exports: the code system a record's vocabulary names, each code's domain and display name.

A visit sequence declares its vocabulary (`VisitSequencePayload.vocabulary`, e.g. "ICD-10-CM" or "OMOP"); its
codes are written with that system's canonical URI. A vocabulary file (`{code: name}`, or
`{"code_names": {...}, "code_domains": {...}}` as a saved HALO folder's vocabulary.json holds them) gives names
and domains (condition, drug, procedure). Without domains, a vocabulary that holds one kind of code implies it
(ICD-10-CM: conditions; RxNorm: drugs; ICD-10-PCS, CPT: procedures); OMOP concept ids need the file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from biosynth.core._export._folder import ExportError

DOMAINS = ("condition", "drug", "procedure")

# canonical FHIR system URIs (terminology.hl7.org / hl7.org/fhir/terminologies-systems); the domain a
# vocabulary implies when it holds one kind of code
_SYSTEMS: dict[str, tuple[str, str | None]] = {
    "icd-10-cm": ("http://hl7.org/fhir/sid/icd-10-cm", "condition"),
    "icd-10": ("http://hl7.org/fhir/sid/icd-10", "condition"),
    "icd-9-cm": ("http://hl7.org/fhir/sid/icd-9-cm", None),
    "icd-10-pcs": ("http://www.cms.gov/Medicare/Coding/ICD10", "procedure"),
    "snomed": ("http://snomed.info/sct", None),
    "snomed-ct": ("http://snomed.info/sct", None),
    "rxnorm": ("http://www.nlm.nih.gov/research/umls/rxnorm", "drug"),
    "atc": ("http://www.whocc.no/atc", "drug"),
    "cpt": ("http://www.ama-assn.org/go/cpt", "procedure"),
    "cpt4": ("http://www.ama-assn.org/go/cpt", "procedure"),
    "loinc": ("http://loinc.org", None),
    "omop": ("https://fhir-terminology.ohdsi.org", None),  # OHDSI Standardized Vocabularies (HL7 UTG)
}


def _normal(name: str) -> str:
    return re.sub(r"[\s_]+", "-", name.strip().lower())


def code_system(vocabulary: str, *, where: str) -> str:
    """The system URI of a vocabulary name (a URI is taken as it is); an ExportError for an unknown name."""
    if re.match(r"^(https?|urn):", vocabulary):
        return vocabulary
    found = _SYSTEMS.get(_normal(vocabulary))
    if found is None:
        known = sorted({k.upper() for k in _SYSTEMS})
        raise ExportError(f"{where}: vocabulary {vocabulary!r} has no known code system; expected one of {known} "
                          "or the system's URI")
    return found[0]


def implied_domain(vocabulary: str | None) -> str | None:
    if vocabulary is None:
        return None
    found = _SYSTEMS.get(_normal(vocabulary))
    return found[1] if found else None


@dataclass(frozen=True)
class CodeVocabulary:
    """Code names and domains read from a vocabulary file (empty when none was given)."""

    names: dict[str, str] = field(default_factory=dict)
    domains: dict[str, str] = field(default_factory=dict)
    source: str | None = None

    def domain(self, code: str, vocabulary: str | None, *, where: str) -> str:
        """condition, drug or procedure: from the file's domains, else implied by the vocabulary."""
        found = self.domains.get(code)
        if found is not None:
            domain = _domain_name(found)
            if domain is None:
                raise ExportError(f"{where}: code {code!r} has domain {found!r} in {self.source}; expected one of "
                                  f"{list(DOMAINS)} (OMOP table or domain names)")
            return domain
        implied = implied_domain(vocabulary)
        if implied is not None:
            return implied
        if self.domains:
            raise ExportError(f"{where}: code {code!r} has no domain in {self.source}")
        raise ExportError(f"{where}: the domain (condition, drug or procedure) of code {code!r} is unknown: "
                          f"vocabulary {vocabulary!r} holds several kinds of codes; give a vocabulary file with "
                          "code_domains (e.g. -O vocabulary=HALO_FOLDER/vocabulary.json)")


def _domain_name(value: str) -> str | None:
    text = value.strip().lower()
    for domain in DOMAINS:
        if text.startswith(domain):  # "condition", "Condition", "condition_occurrence", "drug_exposure", ...
            return domain
    return None


def read_code_vocabulary(path: str | Path | None) -> CodeVocabulary:
    """Read a vocabulary file: `{code: name}` or `{"code_names": {...}, "code_domains": {...}}`."""
    if path is None:
        return CodeVocabulary()
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ExportError(f"vocabulary file {str(path)!r} is not readable JSON ({err})") from None
    if not isinstance(data, dict):
        raise ExportError(f"vocabulary file {str(path)!r}: expected a JSON object, got {type(data).__name__}")
    structured = "code_names" in data or "code_domains" in data
    names = data.get("code_names", {}) if structured else data
    domains = data.get("code_domains", {}) if structured else {}
    if not isinstance(names, dict) or not isinstance(domains, dict) or not all(
            isinstance(v, str) for v in [*names.values(), *domains.values()]):
        raise ExportError(f"vocabulary file {str(path)!r}: expected code -> name strings (and code_domains: "
                          "code -> domain strings)")
    return CodeVocabulary(names={str(k): v for k, v in names.items()},
                          domains={str(k): v for k, v in domains.items()}, source=str(path))
