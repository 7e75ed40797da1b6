"""Text factuality: codes checked against real vocabularies (ICD-10-CM, HPO) and a concept-overlap F1 between a
source and what was generated from it, with a pluggable concept extractor."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence

import numpy as np

from biosynth.core import ConfigError
from biosynth.eval._measure import NotApplicable, Outcome, check_bootstrap, run_metric
from biosynth.eval._result import Direction, Family, MetricResult
from biosynth.eval._text.common import (
    MODALITY,
    check_texts,
    mean_with_interval,
    require,
    tokenize,
    weighted_interval,
)

ConceptExtractor = Callable[[str], set[str]]
"""text -> set of concept identifiers (ICD-10-CM codes, HPO IDs, UMLS CUIs from QuickUMLS, ...)."""

# A code with its decimal part ("E11.9", "S72.001A") anywhere; a code without one ("E119", "I10") only right after
# "ICD-10(-CM)" or "code", since bare letter-digit tokens ("B12", "T2N0") are too often something else.
ICD10_PATTERN = re.compile(r"(?i:\bICD-?10(?:-?CM)?(?:\s+code)?|\bcode)\s*[:#]?\s*([A-Z]\d[0-9A-Z](?:\.?[0-9A-Z]{1,4})?)\b"
                           r"|\b[A-Z]\d[0-9A-Z]\.[0-9A-Z]{1,4}\b")
HPO_PATTERN = re.compile(r"\bHP:\d{7}\b")


def find_icd10_codes(text: str) -> list[tuple[str, int, int]]:
    """(code, start, end) of every ICD-10-CM-shaped code in `text` (see ICD10_PATTERN)."""
    out = []
    for m in ICD10_PATTERN.finditer(text):
        if m.group(1):
            out.append((m.group(1), m.start(1), m.end(1)))
        else:
            out.append((m.group(0), m.start(), m.end()))
    return out


def _icd10_valid(code: str) -> bool:
    """A billable or non-billable ICD-10-CM code (category, subcategory, 7-character code), not a chapter or block."""
    import simple_icd_10_cm as cm

    return bool(cm.is_valid_item(code)) and not cm.is_chapter_or_block(code)


@functools.cache
def _hpo_ontology():  # type: ignore[no-untyped-def]
    from pyhpo import Ontology  # the import name of hpo3

    Ontology()
    return Ontology


def _hpo_valid(term_id: str) -> bool:
    ontology = _hpo_ontology()
    try:
        term = ontology.get_hpo_object(term_id)
    except RuntimeError:  # hpo3 raises RuntimeError('Unknown HPO term') for IDs not in the ontology
        return False
    return not term.is_obsolete


def _validity(name: str, vocabulary: str, texts: Sequence[str], find: Callable[[str], list[tuple[str, int, int]]],
              valid: Callable[[str], bool], n_bootstrap: int, level: float, seed: int) -> MetricResult:
    check_bootstrap(n_bootstrap, level)
    texts = check_texts(texts, "texts")

    def compute() -> Outcome:
        require(texts, "the synthetic corpus")
        found = [(index, code, start, end) for index, text in enumerate(texts) for code, start, end in find(text)]
        if not found:
            raise NotApplicable(f"no {vocabulary} codes were found in the {len(texts)} texts")
        flags = np.array([valid(code) for _, code, _, _ in found], dtype=float)
        text_of = np.array([index for index, _, _, _ in found])
        codes_per_text = np.bincount(text_of, minlength=len(texts)).astype(float)
        valid_per_text = np.bincount(text_of, weights=flags, minlength=len(texts))
        value = float(flags.mean())

        def statistic(w: np.ndarray) -> float:  # a ratio of sums over texts: codes of one text stay together
            cited = w @ codes_per_text
            return float(w @ valid_per_text / cited) if cited else np.nan

        ci, notes = weighted_interval(statistic, len(texts), value, n_bootstrap=n_bootstrap, level=level, seed=seed,
                                      what="the valid share", bounds=(0.0, 1.0))
        outcome = Outcome(value=value, ci=ci, warnings=notes)
        invalid = [{"code": code, "text": index, "start": start, "end": end}
                   for (index, code, start, end), ok in zip(found, flags, strict=True) if not ok]
        outcome.details = {"codes_found": len(found), "valid": int(flags.sum()), "invalid": len(invalid),
                           "distinct_invalid": sorted({x["code"] for x in invalid})[:50], "invalid_examples": invalid[:20]}
        return outcome

    return run_metric(name=name, family=Family.FACTUALITY, direction=Direction.HIGHER, compute=compute,
                      modality=MODALITY, n_real=None, n_synthetic=len(texts), seed=seed,
                      parameters={"vocabulary": vocabulary, "n_bootstrap": n_bootstrap, "level": level})


def icd10_validity(texts: Sequence[str], *, n_bootstrap: int = 200, level: float = 0.95, seed: int = 0) -> MetricResult:
    """Share of the ICD-10-CM codes found in the texts that exist in ICD-10-CM (simple-icd-10-cm); details list
    the invalid codes with their positions. Not applicable when the texts cite no codes."""
    return _validity("text.icd10_validity", f"ICD-10-CM ({_version('simple-icd-10-cm')})", texts, find_icd10_codes,
                     _icd10_valid, n_bootstrap, level, seed)


def hpo_validity(texts: Sequence[str], *, n_bootstrap: int = 200, level: float = 0.95, seed: int = 0) -> MetricResult:
    """Share of the HPO term IDs (HP:0000000) found in the texts that exist and are not obsolete in HPO (hpo3)."""
    return _validity("text.hpo_validity", f"HPO (hpo3 {_version('hpo3')})", texts,
                     lambda t: [(m.group(0), m.start(), m.end()) for m in HPO_PATTERN.finditer(t)], _hpo_valid,
                     n_bootstrap, level, seed)


def _version(dist: str) -> str:
    import importlib.metadata as md

    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        raise ConfigError(f"this metric needs the package {dist}: pip install 'biosynth-eval[text]'") from None


class DictionaryConceptExtractor:
    """Concepts by exact dictionary matching of lower-cased token runs (longest match first, no overlaps).

    `terms` maps a concept name to its identifier. `default()` uses the ICD-10-CM descriptions and HPO term names
    of up to `max_tokens` tokens (longer descriptions practically never occur verbatim). For UMLS concepts, plug in
    QuickUMLS instead: `lambda text: {m[0]["cui"] for m in quickumls.match(text)}`.
    """

    def __init__(self, terms: dict[str, str], *, max_tokens: int = 6, name: str = "dictionary") -> None:
        self.name = name
        self._max = max_tokens
        self._terms: dict[tuple[str, ...], str] = {}
        for term, concept in terms.items():
            key = tuple(tokenize(term))
            if key and len(key) <= max_tokens:
                self._terms.setdefault(key, concept)
        if not self._terms:
            raise ConfigError(f"the concept dictionary holds no term of 1 to {max_tokens} tokens")

    @classmethod
    @functools.cache
    def default(cls) -> DictionaryConceptExtractor:
        import simple_icd_10_cm as cm

        terms: dict[str, str] = {}
        for code in cm.get_all_codes(with_dots=True):
            if not cm.is_chapter_or_block(code):
                terms.setdefault(cm.get_description(code), code)
        for term in _hpo_ontology():
            terms.setdefault(term.name, term.id)
        return cls(terms, name="ICD-10-CM descriptions + HPO names")

    def __call__(self, text: str) -> set[str]:
        tokens = tokenize(text)
        found, i = set(), 0
        while i < len(tokens):
            for width in range(min(self._max, len(tokens) - i), 0, -1):
                concept = self._terms.get(tuple(tokens[i:i + width]))
                if concept is not None:
                    found.add(concept)
                    i += width
                    break
            else:
                i += 1
        return found


def concept_f1(sources: Sequence[str], generated: Sequence[str], extractor: ConceptExtractor | None = None, *,
               n_bootstrap: int = 200, level: float = 0.95, seed: int = 0) -> MetricResult:
    """Mean F1 between the concepts of each source (a note, a case) and of the text generated from it, in the
    spirit of UMLS-F1 (higher: more faithful). Pairs where neither side has a concept are left out and counted;
    details give mean precision (generated concepts found in the source) and recall."""
    check_bootstrap(n_bootstrap, level)
    sources, generated = check_texts(sources, "sources"), check_texts(generated, "generated")
    if len(sources) != len(generated):
        raise ConfigError(f"sources and generated must pair up one to one; got {len(sources)} and {len(generated)}")
    name = getattr(extractor, "name", None) or getattr(extractor, "__name__", None) or "default dictionary"

    def compute() -> Outcome:
        require(sources, "the source corpus")
        extract = extractor or DictionaryConceptExtractor.default()
        f1, precision, recall, empty = [], [], [], 0
        for source, text in zip(sources, generated, strict=True):
            s, g = set(extract(source)), set(extract(text))
            if not s and not g:
                empty += 1
                continue
            both = len(s & g)
            p = both / len(g) if g else 0.0
            r = both / len(s) if s else 0.0
            precision.append(p)
            recall.append(r)
            f1.append(2 * p * r / (p + r) if p + r else 0.0)
        if not f1:
            raise NotApplicable(f"the extractor found no concept in any of the {len(sources)} pairs")
        outcome = mean_with_interval(np.asarray(f1), n_bootstrap=n_bootstrap, level=level, seed=seed,
                                     what="the concept F1", bounds=(0.0, 1.0))
        outcome.details = {"pairs_scored": len(f1), "pairs_without_concepts": empty,
                           "precision": float(np.mean(precision)), "recall": float(np.mean(recall))}
        return outcome

    return run_metric(name="text.concept_f1", family=Family.FACTUALITY, direction=Direction.HIGHER, compute=compute,
                      modality=MODALITY, n_real=len(sources), n_synthetic=len(generated), seed=seed,
                      parameters={"extractor": str(name), "n_bootstrap": n_bootstrap, "level": level})
