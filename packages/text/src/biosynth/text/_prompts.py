"""Versioned instruction-prompt templates for clinical documents (core `PromptTemplate`s).

A template's id and sha256 go into every record's provenance; change the text only together with
a new id (e.g. `clinical-note/v2`), so that datasets made with different prompts can be told apart.
A generator's system and user messages are rendered from two parts that share the generator's id; the
recorded text (and hash) is the two joined by a blank line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from biosynth.core import PromptTemplate

Scalar = str | int | float | bool | None

TEMPLATE_ID = "clinical-note/v1"

SYSTEM_TEMPLATE = (
    "You are $persona. You write realistic but entirely fictional clinical documents in $language for "
    "research and software testing. Never use real names, addresses, dates of birth, phone numbers or "
    "record numbers."
)

USER_TEMPLATE = """\
Task: write a $document_type for the fictional patient described below.

Patient:
$attributes

Content: $content
Format: $format
Style: $style. About $target_words words.$constraints

Write only the $document_type itself, with no preamble or commentary."""

PLACEHOLDERS = frozenset(
    {"persona", "language", "document_type", "attributes", "content", "format", "style", "target_words",
     "constraints"}
)

CONTENT = ("Keep every patient attribute given above and do not contradict any of them; add plausible "
           "clinical details (history, examination, investigations, treatment, follow-up) that fit them.")
NO_ATTRIBUTES = "- none given: invent a plausible patient"


@dataclass(frozen=True)
class DocumentStyle:
    """Defaults for one kind of document: who writes it, its format and its register."""

    persona: str
    format: str
    style: str


_CLINICIAN_STYLE = "concise, professional clinical language with standard medical abbreviations"

DOCUMENT_STYLES: dict[str, DocumentStyle] = {
    "discharge summary": DocumentStyle(
        "an attending hospital physician",
        "sections Admission Diagnosis, History of Present Illness, Hospital Course, Discharge Medications, "
        "Follow-up", _CLINICIAN_STYLE),
    "radiology report": DocumentStyle(
        "a board-certified radiologist",
        "sections Examination, Indication, Technique, Findings, Impression", "terse radiology reporting language"),
    "progress note": DocumentStyle(
        "a hospital physician on the ward", "SOAP format: Subjective, Objective, Assessment, Plan", _CLINICIAN_STYLE),
    "admission note": DocumentStyle(
        "an admitting physician",
        "sections Chief Complaint, History of Present Illness, Past Medical History, Medications, Examination, "
        "Assessment and Plan", _CLINICIAN_STYLE),
    "consultation note": DocumentStyle(
        "a consulting specialist", "sections Reason for Consultation, History, Examination, Impression, "
        "Recommendations", _CLINICIAN_STYLE),
    "nursing note": DocumentStyle(
        "a registered nurse", "short paragraphs on assessment, interventions and the patient's response",
        "factual nursing documentation"),
    "referral letter": DocumentStyle(
        "a general practitioner", "a letter to a specialist colleague: greeting, reason for referral, relevant "
        "history, current medication, question, sign-off", "polite, professional letter style"),
    "patient portal message": DocumentStyle(
        "a patient writing to their care team through the clinic's online portal",
        "a short first-person message with a greeting and a question or request",
        "plain, non-technical everyday language"),
}

GENERIC_STYLE = DocumentStyle("an experienced clinician", "the usual sections of a $document_type", _CLINICIAN_STYLE)


def document_style(document_type: str) -> DocumentStyle:
    style = DOCUMENT_STYLES.get(document_type.strip().lower())
    if style is not None:
        return style
    return DocumentStyle(GENERIC_STYLE.persona, f"the usual sections of a {document_type}", GENERIC_STYLE.style)


def format_attributes(values: Mapping[str, Scalar]) -> str:
    """One `- name: value` line per attribute (underscores in names read as spaces, 129.0 as 129)."""
    lines = [f"- {name.replace('_', ' ')}: {_show(value)}" for name, value in values.items() if value is not None]
    return "\n".join(lines) or NO_ATTRIBUTES


def _show(value: Scalar) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 129.0 mmHg reads as 129
    return str(value)


def template_problems(template: str, placeholders: frozenset[str] = PLACEHOLDERS) -> list[str]:
    """Why a user template cannot be used: invalid syntax or placeholders we do not fill (core's checks)."""
    try:
        parsed = PromptTemplate(id="custom/v1+custom", text=template)
    except ValidationError:
        return ["invalid placeholder syntax; use ${name} or $name, and $$ for a dollar sign"]
    return parsed.problems(placeholders)
