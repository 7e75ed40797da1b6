"""Does a dialogue cover the key facts of its source? A lexical check on normalised tokens.

The criterion (documented in the README): a key fact is *covered* when every one of its essential
terms appears in the dialogue. A term appears when its normalised tokens occur as a contiguous run
in the dialogue's normalised tokens. Normalising: Unicode NFKC, case folding, accents removed, every
run of characters other than letters and digits is a token boundary ("54-year-old" -> 54 year old,
"8.2%" -> 8 2), and a plural -s is dropped from tokens of more than three letters ("wheezes" ->
"wheeze", not "ss" endings). So "Shortness of breath" matches "shortness of breath" and "SOB" does
not; numbers written as words ("fifty") do not match digits. The same test checks that a planner's
terms are grounded in the source (note text or attribute list).

Hand-written: a few lines of `unicodedata` and `re`; fuzzy matchers (rapidfuzz) score similarity,
which would let a wrong number ("45" for "54") pass.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

_BOUNDARY = re.compile(r"[^0-9a-z]+")


def tokens(text: str) -> list[str]:
    """The normalised tokens of `text` (see the module doc)."""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    return [_stem(t) for t in _BOUNDARY.split(plain) if t]


def _stem(token: str) -> str:
    if len(token) > 3 and token.endswith("s") and not token.endswith("ss") and not token.isdigit():
        return token[:-1]
    return token


def contains(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    """Whether `needle` occurs as a contiguous run of `haystack`."""
    n = len(needle)
    if n == 0:
        return False
    first = needle[0]
    return any(haystack[i] == first and list(haystack[i : i + n]) == list(needle) for i in range(len(haystack) - n + 1))


def term_in(term: str, text_tokens: Sequence[str]) -> bool:
    return contains(text_tokens, tokens(term))


@dataclass(frozen=True)
class FactCoverage:
    fact: str
    missing_terms: tuple[str, ...]

    @property
    def covered(self) -> bool:
        return not self.missing_terms


@dataclass(frozen=True)
class Coverage:
    """Per-fact outcome and the covered fraction (1.0 when there are no facts)."""

    facts: tuple[FactCoverage, ...]

    @property
    def fraction(self) -> float:
        return sum(f.covered for f in self.facts) / len(self.facts) if self.facts else 1.0

    @property
    def missing(self) -> list[str]:
        return [f.fact for f in self.facts if not f.covered]

    def describe_missing(self) -> str:
        return "; ".join(f"{f.fact!r} (terms not found: {list(f.missing_terms)})" for f in self.facts if not f.covered)


def coverage(facts: Sequence[tuple[str, Sequence[str]]], text: str) -> Coverage:
    """Check each `(fact, essential terms)` against `text`."""
    text_tokens = tokens(text)
    return Coverage(tuple(FactCoverage(fact, tuple(t for t in terms if not term_in(t, text_tokens)))
                          for fact, terms in facts))
