"""Finding a code's description in a text: lower-cased word sequences, with the short forms clinicians write."""

from __future__ import annotations

import re
from collections.abc import Iterable

_WORD = re.compile(r"[^\W_]+")
_PARENTHESISED = re.compile(r"\([^)]*\)|\[[^]]*\]")
_QUALIFIER = re.compile(r",|\s(?:with|without|due to|not elsewhere classified)\s", re.IGNORECASE)
_DOSE = re.compile(r"\s\d[\d.,/]*\s*(?:mg|mcg|µg|g|ml|unt|units?|meq|%|hr|actuat)\b", re.IGNORECASE)


def words(text: str) -> tuple[str, ...]:
    """Lower-cased runs of letters and digits (punctuation and spacing do not matter)."""
    return tuple(_WORD.findall(text.lower()))


def forms(description: str) -> set[tuple[str, ...]]:
    """The word sequences that count as a mention of `description`:

    - the whole description;
    - without its parenthesised parts ("Essential (primary) hypertension" -> essential hypertension);
    - before its first qualifier, a comma or "with"/"without"/"due to" ("Chronic kidney disease, unspecified" ->
      chronic kidney disease; "Type 2 diabetes mellitus without complications" -> type 2 diabetes mellitus);
    - a drug's name before its first dose ("Acetaminophen 325 MG Oral Tablet" -> acetaminophen).
    """
    plain = _PARENTHESISED.sub(" ", description)
    found = {words(description), words(plain), words(_QUALIFIER.split(plain, maxsplit=1)[0])}
    dose = _DOSE.search(description)
    if dose:
        found.add(words(description[:dose.start()]))
    return {f for f in found if f}


def mentions(text_words: tuple[str, ...], candidates: Iterable[tuple[str, ...]]) -> bool:
    """Whether any candidate word sequence occurs in `text_words` as a contiguous run."""
    n = len(text_words)
    for candidate in candidates:
        width = len(candidate)
        if any(text_words[i:i + width] == candidate for i in range(n - width + 1)):
            return True
    return False
