"""Cross-modal consistency of synthetic cases (records that share a `case_id`, linked by `parents`).

- Note against history: the conditions and medications of the EHR history a note was made from should appear in
  the note (recall), and the concepts the note names should come from that history (precision). Codes are matched
  through their descriptions (`code_names`, e.g. a HALO folder's vocabulary.json; ICD-10-CM titles from
  simple-icd-10-cm for ICD-10-CM histories) as lower-cased word sequences, with the short forms of `forms`.
- Image against note: an image's class label should be named in the note it was drawn from.

Each value is a mean over cases (a case's value: the mean over its notes or images) with a bootstrap interval over
cases. Cases without the records a check needs are listed in `details["case_failures"]` with the reason; when no case
has them the metric is reported as failed, never as 0.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from biosynth.core import ConfigError, ImagePayload, Modality, Record, TextPayload, VisitSequencePayload
from biosynth.eval._consistency.cases import Case, group_cases
from biosynth.eval._consistency.matching import forms, mentions, words
from biosynth.eval._measure import Outcome, check_bootstrap, run_metric
from biosynth.eval._result import Direction, Family, MetricResult
from biosynth.eval._text.common import weighted_interval

MODALITY = "case"
DEFAULT_DOMAINS = ("condition", "drug")


class MissingRecords(Exception):
    """No case holds the records the check needs (the metric is reported as failed with this reason)."""


def note_ehr_consistency(records: Sequence[Record], *, code_names: Mapping[str, str] | None = None,
                         code_domains: Mapping[str, str] | None = None, domains: Sequence[str] = DEFAULT_DOMAINS,
                         last_visits: int | None = None, note_step: str | None = None, n_bootstrap: int = 200,
                         level: float = 0.95, seed: int = 0) -> list[MetricResult]:
    """Recall (`case.note_ehr_recall`: share of the history's described condition and drug codes named in the note)
    and precision (`case.note_ehr_precision`: share of the concepts the note names that are in the patient's whole
    history), per case, averaged over cases.

    A note is a text record made (through `parents`) from an EHR history and not from an image or audio record, or
    any text record of `note_step`. `last_visits` limits recall to the history's last visits (the ones the note was
    written from, as `ehr_admission`'s `last_visits`); precision counts the whole history as support. `domains`
    filters codes by `code_domains` (codes of unknown domain are kept). Concepts the note could name are every
    described code of `code_names` and of the dataset's histories.
    """
    check_bootstrap(n_bootstrap, level)
    if last_visits is not None and last_visits < 1:
        raise ConfigError(f"last_visits must be at least 1, got {last_visits}")
    names, kinds = dict(code_names or {}), dict(code_domains or {})
    prefixes = tuple(d.lower() for d in domains)
    cases = group_cases(records)

    def kept(code: str) -> bool:
        domain = kinds.get(code)
        return domain is None or domain.lower().startswith(prefixes)

    def describe(code: str, vocabulary: str | None) -> str | None:
        return names.get(code) or (_icd10_title(code) if _is_icd10(vocabulary) else None)

    per_case: dict[str, tuple[list[float], list[float]]] = {}
    failures: list[dict[str, str]] = []
    pairs = []
    for case in cases.values():
        found = _notes_with_history(case, note_step)
        if isinstance(found, str):
            failures.append({"case": case.case_id, "reason": found})
            continue
        pairs += [(case.case_id, note, history) for note, history in found]
    # the concepts a note could name: every described code of the vocabulary and of the histories, by word form
    index: dict[tuple[str, ...], set[str]] = {}
    vocabulary_codes = {c for c in names if kept(c)} | {
        code for _, _, h in pairs for visit in h.visits for code in visit.codes if kept(code)}
    vocab = next((h.vocabulary for _, _, h in pairs), None)
    for code in vocabulary_codes:
        description = describe(code, vocab)
        for form in forms(description) if description else ():
            index.setdefault(form, set()).add(code)
    undescribed: set[str] = set()
    for case_id, note, history in pairs:
        window = history.visits[-last_visits:] if last_visits else history.visits
        expected: dict[str, set[tuple[str, ...]]] = {}
        for code in {c for visit in window for c in visit.codes if kept(c)}:
            description = describe(code, history.vocabulary)
            if description:
                expected[code] = forms(description)
            else:
                undescribed.add(code)
        if not expected:
            failures.append({"case": case_id, "reason": f"the history of note {note.id} has no described "
                                                        f"{'/'.join(domains)} codes in the visits read"})
            continue
        text_words = words(note.text or "")
        recall = sum(mentions(text_words, f) for f in expected.values()) / len(expected)
        whole = {c for visit in history.visits for c in visit.codes}
        named = _named_concepts(text_words, index)
        recalls, precisions = per_case.setdefault(case_id, ([], []))
        recalls.append(recall)
        if named:
            precisions.append(sum(bool(codes & whole) for codes in named.values()) / len(named))
    parameters: dict[str, Any] = {"domains": list(domains), "last_visits": last_visits, "note_step": note_step,
                                  "code_names": len(names), "n_bootstrap": n_bootstrap, "level": level}
    notes = [f"{len(undescribed)} history codes have no description and are not counted "
             f"(e.g. {sorted(undescribed)[:5]})"] if undescribed else []
    recall_values = {c: float(np.mean(r)) for c, (r, _) in per_case.items()}
    precision_values = {c: float(np.mean(p)) for c, (_, p) in per_case.items() if p}
    no_mentions = sorted(set(per_case) - set(precision_values))
    precision_notes = [*notes, f"{len(no_mentions)} cases' notes name no concept of the vocabulary; precision is "
                               f"undefined for them: {no_mentions[:10]}"] if no_mentions else notes
    return [
        _case_mean("case.note_ehr_recall", recall_values, failures, len(cases), parameters, notes, n_bootstrap, level,
                   seed, "no case holds a text note made from an EHR history with described codes"),
        _case_mean("case.note_ehr_precision", precision_values, failures, len(cases), parameters, precision_notes,
                   n_bootstrap, level, seed, "no case's note names a concept of the vocabulary, or no case holds a "
                                             "text note made from an EHR history"),
    ]


def image_note_consistency(records: Sequence[Record], *, label: str = "label", n_bootstrap: int = 200,
                           level: float = 0.95, seed: int = 0) -> MetricResult:
    """`case.image_label_in_note`: the share of a case's images whose class label (`labels[label]`) the note they
    were drawn from names (the nearest text ancestor through `parents`), averaged over cases."""
    check_bootstrap(n_bootstrap, level)
    cases = group_cases(records)
    per_case: dict[str, list[float]] = {}
    failures: list[dict[str, str]] = []
    examples: list[dict[str, Any]] = []
    for case in cases.values():
        images = [r for r in case.records.values() if isinstance(r.payload, ImagePayload)]
        if not images:
            failures.append({"case": case.case_id, "reason": "no image record"})
            continue
        for image in images:
            note = case.nearest(image, lambda r: isinstance(r.payload, TextPayload))
            value = image.labels.get(label)
            if note is None:
                failures.append({"case": case.case_id, "reason": f"image {image.id} was not made from a text note"})
            elif value in (None, ""):
                failures.append({"case": case.case_id, "reason": f"image {image.id} has no label {label!r} "
                                                                 f"(labels: {sorted(image.labels)})"})
            else:
                hit = mentions(words(note.text or ""), forms(str(value)))
                per_case.setdefault(case.case_id, []).append(float(hit))
                if len(examples) < 20:
                    examples.append({"image": image.id, "note": note.id, "label": value, "named": hit})
    values = {c: float(np.mean(v)) for c, v in per_case.items()}
    result = _case_mean("case.image_label_in_note", values, failures, len(cases),
                        {"label": label, "n_bootstrap": n_bootstrap, "level": level}, [], n_bootstrap, level, seed,
                        f"no case holds an image with a {label!r} label made from a text note")
    if result.ok:
        result = result.model_copy(update={"details": {**result.details, "examples": examples}})
    return result


def _notes_with_history(case: Case, note_step: str | None) -> list[tuple[Record, VisitSequencePayload]] | str:
    """The case's notes with the EHR history each was made from, or why there are none."""
    histories = [r for r in case.records.values() if isinstance(r.payload, VisitSequencePayload)]
    if not histories:
        return "no EHR history (visit-sequence record)"
    found = []
    for record in case.records.values():
        if not isinstance(record.payload, TextPayload):
            continue
        if note_step is not None and record.provenance.step != note_step:
            continue
        ancestors = case.ancestors(record)
        history = next((a.payload for a in ancestors if isinstance(a.payload, VisitSequencePayload)), None)
        through_media = any(a.modality in (Modality.IMAGE, Modality.AUDIO) for a in ancestors)
        if history is not None and (note_step is not None or not through_media):
            found.append((record, history))
    if not found:
        where = f"of step {note_step!r} " if note_step else ""
        return f"no text note {where}made from its EHR history"
    return found


def _named_concepts(text_words: tuple[str, ...], index: Mapping[tuple[str, ...], set[str]]) -> dict[tuple[str, ...], set[str]]:
    """Concepts named in the text: longest word-sequence matches of the index's forms, without overlaps (as
    biosynth-eval's DictionaryConceptExtractor matches), each form with the codes it may stand for."""
    longest = max((len(f) for f in index), default=0)
    named: dict[tuple[str, ...], set[str]] = {}
    i = 0
    while i < len(text_words):
        for width in range(min(longest, len(text_words) - i), 0, -1):
            codes = index.get(text_words[i:i + width])
            if codes is not None:
                named[text_words[i:i + width]] = codes
                i += width
                break
        else:
            i += 1
    return named


def _case_mean(name: str, values: Mapping[str, float], failures: list[dict[str, str]], n_cases: int,
               parameters: dict[str, Any], warnings: list[str], n_bootstrap: int, level: float, seed: int,
               empty: str) -> MetricResult:
    def compute() -> Outcome:
        if not values:
            reasons = sorted({f["reason"] for f in failures})[:5]
            raise MissingRecords(f"{empty} ({n_cases} cases; {reasons})")
        cases = list(values)
        points = np.array([values[c] for c in cases])
        value = float(points.mean())

        def statistic(w: np.ndarray) -> float:
            return float(w @ points / w.sum()) if w.sum() else np.nan

        ci, notes = weighted_interval(statistic, len(points), value, n_bootstrap=n_bootstrap, level=level, seed=seed,
                                      what=name, bounds=(0.0, 1.0))
        if ci is not None:
            ci = ci.model_copy(update={"method": ci.method.replace("over rows", "over cases")})
        lacking = [f"{len(failures)} cases lack what the check needs (see details.case_failures)"] if failures else []
        return Outcome(value=value, ci=ci, warnings=[*lacking, *notes],
                       details={"per_case": dict(values), "cases_scored": len(points),
                                "case_failures": failures[:100]})

    return run_metric(name=name, family=Family.FACTUALITY, direction=Direction.HIGHER, compute=compute,
                      modality=MODALITY, n_real=None, n_synthetic=len(values), seed=seed, parameters=parameters,
                      warnings=warnings)


def _is_icd10(vocabulary: str | None) -> bool:
    return bool(vocabulary) and "icd" in vocabulary.lower() and "10" in vocabulary  # type: ignore[union-attr]


@functools.cache
def _icd10_title(code: str) -> str | None:
    import simple_icd_10_cm as cm

    return cm.get_description(code) if cm.is_valid_item(code) else None
