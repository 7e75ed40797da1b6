"""Text memorisation against a reference corpus (training, few-shot or retrieval texts), and PHI-like patterns."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from scipy.stats import binomtest

from biosynth.core import ConfigError
from biosynth.eval._measure import Outcome, check_bootstrap, run_metric
from biosynth.eval._result import ConfidenceInterval, Direction, Family, MetricResult
from biosynth.eval._text.common import MODALITY, check_n, check_texts, mean_with_interval, ngrams, require, tokenize

_MEMORISATION_NOTE = ("the reference corpus is what the generator saw (training, few-shot or retrieval texts); "
                      "text copied from it may carry real patients' details")


def ngram_overlap(texts: Sequence[str], reference_corpus: Sequence[str], n: int = 8, *, n_bootstrap: int = 200,
                  level: float = 0.95, seed: int = 0) -> MetricResult:
    """Mean over synthetic texts of the share of their token n-grams that occur anywhere in the reference corpus
    (lower: less copying). Texts shorter than n tokens are left out and counted in details."""
    check_n(n)
    check_bootstrap(n_bootstrap, level)
    texts, reference = check_texts(texts, "texts"), check_texts(reference_corpus, "reference_corpus")

    def compute() -> Outcome:
        require(reference, "the reference corpus")
        require(texts, "the synthetic corpus")
        seen = {gram for text in reference for gram in ngrams(tokenize(text), n)}
        if not seen:
            raise ValueError(f"no reference text has {n} or more tokens")
        shares, short = [], 0
        for text in texts:
            grams = ngrams(tokenize(text), n)
            if not grams:
                short += 1
                continue
            shares.append(sum(g in seen for g in grams) / len(grams))
        if not shares:
            raise ValueError(f"no synthetic text has {n} or more tokens")
        per_text = np.asarray(shares)
        outcome = mean_with_interval(per_text, n_bootstrap=n_bootstrap, level=level, seed=seed,
                                     what=f"the {n}-gram overlap", bounds=(0.0, 1.0))
        outcome.details = {"texts_scored": len(shares), "texts_shorter_than_n": short,
                           "texts_over_half_copied": int((per_text > 0.5).sum()), "max": float(per_text.max())}
        return outcome

    return run_metric(name="text.ngram_overlap", family=Family.MEMORISATION, direction=Direction.LOWER,
                      compute=compute, modality=MODALITY, n_real=len(reference), n_synthetic=len(texts), seed=seed,
                      parameters={"n": n, "n_bootstrap": n_bootstrap, "level": level, "note": _MEMORISATION_NOTE})


class _SuffixAutomaton:
    """Suffix automaton of a token sequence: longest common substring of a query with it in O(len(query)).

    Hand-written because no well-kept Python library answers 'longest substring shared with any text of a corpus'
    in linear time; difflib compares one pair at a time (quadratic in the corpus).
    """

    def __init__(self, sequence: Sequence[int]) -> None:
        self.next: list[dict[int, int]] = [{}]
        self.link = [-1]
        self.length = [0]
        last = 0
        for symbol in sequence:
            current = len(self.length)
            self.next.append({})
            self.length.append(self.length[last] + 1)
            self.link.append(0)
            p = last
            while p != -1 and symbol not in self.next[p]:
                self.next[p][symbol] = current
                p = self.link[p]
            if p != -1:
                q = self.next[p][symbol]
                if self.length[p] + 1 == self.length[q]:
                    self.link[current] = q
                else:
                    clone = len(self.length)
                    self.next.append(dict(self.next[q]))
                    self.length.append(self.length[p] + 1)
                    self.link.append(self.link[q])
                    while p != -1 and self.next[p].get(symbol) == q:
                        self.next[p][symbol] = clone
                        p = self.link[p]
                    self.link[q] = clone
                    self.link[current] = clone
            last = current

    def longest_match(self, query: Sequence[int]) -> tuple[int, int]:
        """(length, end position in query) of the longest substring of query found in the sequence."""
        state, length, best, best_end = 0, 0, 0, 0
        for i, symbol in enumerate(query):
            while state and symbol not in self.next[state]:
                state = self.link[state]
                length = self.length[state]
            if symbol in self.next[state]:
                state = self.next[state][symbol]
                length += 1
            if length > best:
                best, best_end = length, i + 1
        return best, best_end


def longest_common_substring(texts: Sequence[str], reference_corpus: Sequence[str], *, n_bootstrap: int = 200,
                             level: float = 0.95, seed: int = 0) -> MetricResult:
    """Per synthetic text, the longest run of tokens it shares with any one reference text, as a share of its own
    length; the mean over texts (lower: less copying). Details: the longest runs in tokens and their positions."""
    check_bootstrap(n_bootstrap, level)
    texts, reference = check_texts(texts, "texts"), check_texts(reference_corpus, "reference_corpus")

    def compute() -> Outcome:
        require(reference, "the reference corpus")
        require(texts, "the synthetic corpus")
        vocab: dict[str, int] = {}
        sequence: list[int] = []
        for k, text in enumerate(reference):  # a distinct separator after each text: no match spans two texts
            sequence.extend(vocab.setdefault(t, len(vocab)) for t in tokenize(text))
            sequence.append(-1 - k)
        automaton = _SuffixAutomaton(sequence)
        lengths, shares, where = [], [], []
        for index, text in enumerate(texts):
            tokens = tokenize(text)
            if not tokens:
                continue
            length, end = automaton.longest_match([vocab.get(t, -(len(reference) + 1)) for t in tokens])
            lengths.append(length)
            shares.append(length / len(tokens))
            where.append({"text": index, "start_token": end - length, "end_token": end, "tokens": length})
        if not shares:
            raise ValueError("every synthetic text is empty")
        outcome = mean_with_interval(np.asarray(shares), n_bootstrap=n_bootstrap, level=level, seed=seed,
                                     what="the longest common substring share", bounds=(0.0, 1.0))
        top = sorted(where, key=lambda w: -w["tokens"])[:10]
        outcome.details = {"max_tokens": int(max(lengths)), "median_tokens": float(np.median(lengths)),
                           "texts_with_run_of_20_tokens": int(sum(x >= 20 for x in lengths)), "longest": top}
        return outcome

    return run_metric(name="text.longest_common_substring", family=Family.MEMORISATION, direction=Direction.LOWER,
                      compute=compute, modality=MODALITY, n_real=len(reference), n_synthetic=len(texts), seed=seed,
                      parameters={"unit": "tokens", "n_bootstrap": n_bootstrap, "level": level,
                                  "note": _MEMORISATION_NOTE})


def _normalise(text: str) -> str:
    return " ".join(tokenize(text))


def _shingles(text: str, k: int) -> set[str]:
    tokens = tokenize(text)
    if len(tokens) < k:
        return {" ".join(tokens)} if tokens else set()
    return {" ".join(tokens[i:i + k]) for i in range(len(tokens) - k + 1)}


def duplicates(texts: Sequence[str], reference_corpus: Sequence[str], *, threshold: float = 0.8, shingle: int = 3,
               num_perm: int = 128, level: float = 0.95, seed: int = 0) -> MetricResult:
    """Share of synthetic texts that duplicate a reference text, exactly or nearly (lower: less copying).

    Exact: equal after lower-casing and re-joining tokens (whitespace and punctuation spacing ignored). Near:
    Jaccard similarity of word `shingle`-gram sets >= `threshold` (default 0.8: the same text with light edits),
    candidates found by datasketch's MinHash LSH and confirmed with the exact Jaccard similarity. Duplicates among
    the synthetic texts themselves are counted in details. Interval: Clopper-Pearson.
    """
    check_bootstrap(0, level)
    if not 0 < threshold <= 1:
        raise ConfigError(f"threshold must lie in (0, 1], got {threshold}")
    check_n(shingle, "shingle")
    texts, reference = check_texts(texts, "texts"), check_texts(reference_corpus, "reference_corpus")

    def compute() -> Outcome:
        from datasketch import MinHash, MinHashLSH

        require(reference, "the reference corpus")
        require(texts, "the synthetic corpus")
        exact_reference = {_normalise(t) for t in reference}
        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        reference_sets = []
        for k, text in enumerate(reference):
            shingles = _shingles(text, shingle)
            reference_sets.append(shingles)
            if shingles:
                lsh.insert(str(k), _minhash(MinHash, shingles, num_perm, seed))
        exact, near, examples = 0, 0, []
        for index, text in enumerate(texts):
            if _normalise(text) in exact_reference:
                exact += 1
                examples.append({"text": index, "kind": "exact"})
                continue
            shingles = _shingles(text, shingle)
            if not shingles:
                continue
            best = max((_jaccard(shingles, reference_sets[int(k)])
                        for k in lsh.query(_minhash(MinHash, shingles, num_perm, seed))), default=0.0)
            if best >= threshold:
                near += 1
                examples.append({"text": index, "kind": "near", "jaccard": round(best, 4), })
        normalised = [_normalise(t) for t in texts]
        within = len(normalised) - len(set(normalised))
        interval = binomtest(exact + near, len(texts)).proportion_ci(confidence_level=level, method="exact")
        ci = ConfidenceInterval(low=float(interval.low), high=float(interval.high), level=level,
                                method="Clopper-Pearson (exact binomial)")
        return Outcome(value=(exact + near) / len(texts), ci=ci,
                       details={"exact_duplicates": exact, "near_duplicates": near, "examples": examples[:20],
                                "exact_duplicates_within_synthetic": within})

    return run_metric(name="text.duplicates", family=Family.MEMORISATION, direction=Direction.LOWER,
                      compute=compute, modality=MODALITY, n_real=len(reference), n_synthetic=len(texts), seed=seed,
                      parameters={"threshold": threshold, "shingle": shingle, "num_perm": num_perm, "level": level,
                                  "similarity": "Jaccard of word shingle sets (MinHash LSH candidates)",
                                  "note": _MEMORISATION_NOTE})


def _minhash(cls: type, shingles: set[str], num_perm: int, seed: int):  # type: ignore[no-untyped-def]
    m = cls(num_perm=num_perm, seed=seed)
    m.update_batch([s.encode("utf-8") for s in shingles])
    return m


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


_MONTHS = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|"
           r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_STREET = (r"(?i:street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|court|ct|place|pl|terrace|way|highway|"
           r"hwy|parkway|pkwy|circle)\b\.?")

PHI_PATTERNS: dict[str, re.Pattern[str]] = {
    # a title followed by one or two capitalised words ("Dr. Smith", "Mrs Jane Doe")
    "name_after_title": re.compile(r"\b(?:Dr|Mr|Mrs|Ms|Miss|Prof|Mx)\.?\s+[A-Z][a-z'\-]+(?:\s+[A-Z][a-z'\-]+)?"),
    "date": re.compile(
        r"\b(?:\d{1,2}[/\-.]\d{1,2}[/\-.](?:\d{4}|\d{2})|\d{4}-\d{2}-\d{2}|"
        rf"{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTHS}\s+\d{{4}})\b",
        re.IGNORECASE),
    "phone": re.compile(r"(?<!\w)(?:\+?1[\s.\-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.\-])\d{3}[\s.\-]\d{4}\b"),
    "medical_record_number": re.compile(
        r"\b(?:MRN|MR#|medical record(?: number| no\.?)?|record number|patient id|chart(?: number| no\.?))\s*[:#]?\s*"
        r"[A-Z]{0,3}\d{5,}\b", re.IGNORECASE),
    "email": re.compile(r"\b[\w.+\-]+@[\w\-]+\.[\w.\-]+\b"),
    # a house number, one to three capitalised words, a street type ("12 Oak Hill Road")
    "street_address": re.compile(rf"\b\d{{1,6}}\s+(?:[A-Z][a-z]+\s+){{1,3}}{_STREET}"),
    # HIPAA Safe Harbor: ages over 89 are identifiers
    "age_over_89": re.compile(r"\b(?:9\d|1[0-4]\d)(?:\s*|-)(?:years?(?:\s*|-)old|y/?o|yrs?(?:\s*|-)old)\b|"
                              r"\bage[d:]?\s+(?:9\d|1[0-4]\d)\b", re.IGNORECASE),
}


def find_phi(text: str) -> list[tuple[str, int, int]]:
    """(pattern, start, end) of every PHI-like match in `text`."""
    return [(name, m.start(), m.end()) for name, pattern in PHI_PATTERNS.items() for m in pattern.finditer(text)]


def phi_patterns(texts: Sequence[str], *, n_bootstrap: int = 200, level: float = 0.95, seed: int = 0,
                 max_examples: int = 20) -> MetricResult:
    """Share of synthetic texts with at least one PHI-like pattern (names after titles, dates, phone numbers,
    medical record numbers, e-mail, street addresses, ages over 89); lower is better.

    Details give counts per pattern and the positions (text index, character start and end) of examples — never
    the matched text, so the report itself carries no PHI. Regular expressions, not a de-identification system:
    they miss names without titles and can flag fictional ones.
    """
    check_bootstrap(n_bootstrap, level)
    texts = check_texts(texts, "texts")

    def compute() -> Outcome:
        require(texts, "the synthetic corpus")
        counts = dict.fromkeys(PHI_PATTERNS, 0)
        flagged = np.zeros(len(texts))
        examples: dict[str, list[dict[str, int]]] = {name: [] for name in PHI_PATTERNS}
        for index, text in enumerate(texts):
            for name, start, end in find_phi(text):
                counts[name] += 1
                flagged[index] = 1
                if len(examples[name]) < max_examples:
                    examples[name].append({"text": index, "start": start, "end": end})
        outcome = mean_with_interval(flagged, n_bootstrap=n_bootstrap, level=level, seed=seed,
                                     what="the share of texts with PHI-like patterns", bounds=(0.0, 1.0))
        outcome.details = {"counts": counts, "texts_flagged": int(flagged.sum()),
                           "examples": {k: v for k, v in examples.items() if v}}
        return outcome

    return run_metric(name="text.phi_patterns", family=Family.PRIVACY, direction=Direction.LOWER, compute=compute,
                      modality=MODALITY, n_real=None, n_synthetic=len(texts), seed=seed,
                      parameters={"patterns": sorted(PHI_PATTERNS), "n_bootstrap": n_bootstrap, "level": level},
                      threat_model=("a reader of the released synthetic text finds identifiers (names, dates, "
                                    "contact details, record numbers, addresses, ages over 89) that a model copied "
                                    "from real records or invented to look real; pattern matching only"))
