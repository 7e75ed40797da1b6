"""Entity offsets that match their text: keep correct claims, repair wrong ones by search, report the rest.

Language models quote entities well but count characters badly. `repair_spans` takes the entities a
model claimed (surface string, label, claimed `[start, end)` offsets in Python code points) and places
each on an occurrence of its surface string in the text:

1. A claim whose offsets cover exactly its surface string is kept as it is (pass one, so that correct
   claims own their occurrences before any wrong one is moved).
2. Any other claim is searched for, in tiers: the exact string, then case-insensitively, then with any
   run of whitespace matching any other (a model often rewraps "chest\\npain" as "chest pain"). Within
   a tier, whole-word occurrences win over occurrences inside a longer word, then the occurrence
   nearest the claimed start (the first one when nothing was claimed); an occurrence already taken by
   another entity (the same `[start, end)`, hence the same text) is never reused.
3. A claim whose every occurrence is taken by an entity of the same label is a duplicate of it: it is
   merged (its id points to that span) and counted. Otherwise, a claim that cannot be placed is a
   failure with its reason; the caller rejects the sample and retries.

Hand-written: span-alignment helpers in NLP libraries (e.g. spaCy's `char_span`) check offsets, they
do not search for the nearest free occurrence.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from biosynth.core import Span


class Fix(StrEnum):
    """How a claim was placed."""

    EXACT = "exact"  # claimed offsets were right
    END = "end-fixed"  # start right, end wrong
    MOVED = "moved"  # the exact string, found elsewhere
    CASE = "case-insensitive"  # found ignoring case
    WHITESPACE = "whitespace"  # found ignoring case and whitespace differences
    DUPLICATE = "duplicate"  # merged into an identical entity


@dataclass(frozen=True)
class EntityClaim:
    """An entity as a model stated it: surface string, label, claimed offsets (either may be missing), id."""

    text: str
    label: str
    start: int | None = None
    end: int | None = None
    id: str | None = None

    @property
    def claimed_start(self) -> int | None:
        if self.start is not None:
            return self.start
        if self.end is not None:
            return max(0, self.end - len(self.text.strip()))
        return None


@dataclass(frozen=True)
class Placement:
    """Where one claim ended up: `span` is the index into `RepairReport.spans`."""

    start: int
    end: int
    fix: Fix
    span: int


@dataclass(frozen=True)
class RepairReport:
    """Spans in text order (ids `T1`, `T2`, ...), one placement or failure per claim, and counts."""

    spans: tuple[Span, ...]
    placements: tuple[Placement | None, ...]
    failures: tuple[str, ...]
    ids: dict[str, str] = field(default_factory=dict)  # claim id -> span id (duplicates share one)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def repaired(self) -> int:
        """Spans whose offsets differ from what was claimed (duplicates not counted)."""
        return sum(1 for p in self.placements if p is not None and p.fix not in (Fix.EXACT, Fix.DUPLICATE))

    @property
    def duplicates(self) -> int:
        return sum(1 for p in self.placements if p is not None and p.fix is Fix.DUPLICATE)

    def fix_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for p in self.placements:
            if p is not None:
                counts[p.fix.value] = counts.get(p.fix.value, 0) + 1
        return counts


@dataclass
class _Placed:
    start: int
    end: int
    label: str
    claim: int
    fix: Fix


def repair_spans(text: str, claims: Sequence[EntityClaim]) -> RepairReport:
    """Place every claim on its text (see the module doc); never raises for bad claims, reports them."""
    placed: list[_Placed | None] = [None] * len(claims)
    alias: dict[int, int] = {}  # duplicate claim -> claim it was merged into
    failures: list[str] = []
    taken: dict[tuple[int, int], list[int]] = {}  # (start, end) -> claims placed there

    def place(i: int, start: int, end: int, fix: Fix) -> None:
        placed[i] = _Placed(start, end, claims[i].label, i, fix)
        taken.setdefault((start, end), []).append(i)

    surfaces = [c.text.strip() for c in claims]
    # Pass one: claims that are right where they say.
    for i, (claim, surface) in enumerate(zip(claims, surfaces, strict=True)):
        start = claim.claimed_start
        if not surface or start is None or start < 0 or text[start : start + len(surface)] != surface:
            continue
        end = start + len(surface)
        same = [j for j in taken.get((start, end), []) if claims[j].label == claim.label]
        if same:
            alias[i] = same[0]
        else:
            place(i, start, end, Fix.EXACT if claim.end in (None, end) else Fix.END)
    # Pass two: search for the others.
    for i, (claim, surface) in enumerate(zip(claims, surfaces, strict=True)):
        if placed[i] is not None or i in alias:
            continue
        if not surface:
            failures.append(f"entity {_name(claim)} has an empty text")
            continue
        seen: list[tuple[int, int]] = []
        for fix, occurrences in _tiers(text, surface):
            free = [o for o in occurrences if o not in taken]
            seen += occurrences
            if free:
                start, end = min(free, key=lambda o: _preference(text, o, claim.claimed_start))
                place(i, start, end, fix)
                break
        else:
            held = [o for o in dict.fromkeys(seen) if any(claims[j].label == claim.label for j in taken.get(o, []))]
            if held:
                nearest = min(held, key=lambda o: _preference(text, o, claim.claimed_start))
                alias[i] = next(j for j in taken[nearest] if claims[j].label == claim.label)
            elif seen:
                failures.append(f"entity {_name(claim)}: every occurrence of {surface!r} in the text is already "
                                f"annotated by another entity")
            else:
                failures.append(f"entity {_name(claim)}: {surface!r} does not occur in the text")
    return _report(text, claims, placed, alias, failures)


def _report(text: str, claims: Sequence[EntityClaim], placed: list[_Placed | None], alias: dict[int, int],
            failures: list[str]) -> RepairReport:
    order = sorted((p for p in placed if p is not None), key=lambda p: (p.start, p.end, p.label, p.claim))
    index = {p.claim: k for k, p in enumerate(order)}
    spans = tuple(Span(start=p.start, end=p.end, label=p.label, text=text[p.start : p.end], id=f"T{k + 1}")
                  for k, p in enumerate(order))
    placements: list[Placement | None] = []
    for i in range(len(claims)):
        p = placed[i]
        if p is not None:
            placements.append(Placement(p.start, p.end, p.fix, index[i]))
        elif i in alias:
            target = placed[alias[i]]
            assert target is not None
            placements.append(Placement(target.start, target.end, Fix.DUPLICATE, index[alias[i]]))
        else:
            placements.append(None)
    ids = {c.id: spans[pl.span].id or "" for c, pl in zip(claims, placements, strict=True)
           if c.id is not None and pl is not None}
    return RepairReport(spans=spans, placements=tuple(placements), failures=tuple(failures), ids=ids)


def _tiers(text: str, surface: str) -> Iterator[tuple[Fix, list[tuple[int, int]]]]:
    yield Fix.MOVED, list(_exact(text, surface))
    yield Fix.CASE, _regex(text, re.escape(surface))
    words = surface.split()
    if len(words) > 1:
        yield Fix.WHITESPACE, _regex(text, r"\s+".join(re.escape(w) for w in words))


def _exact(text: str, surface: str) -> Iterator[tuple[int, int]]:
    """Every occurrence, overlapping ones included ("aa" occurs twice in "aaa")."""
    start = text.find(surface)
    while start >= 0:
        yield start, start + len(surface)
        start = text.find(surface, start + 1)


def _regex(text: str, pattern: str) -> list[tuple[int, int]]:
    # A lookahead match is zero-width, so finditer also yields overlapping occurrences. re's IGNORECASE
    # folds case character by character, so offsets stay offsets into `text` (unlike text.lower()).
    found = re.finditer(f"(?=({pattern}))", text, flags=re.IGNORECASE)
    return [(m.start(1), m.end(1)) for m in found if m.end(1) > m.start(1)]


def _preference(text: str, occurrence: tuple[int, int], claimed: int | None) -> tuple[int, int, int]:
    """Sort key: whole words first, then nearest the claimed start, then leftmost."""
    start, end = occurrence
    distance = abs(start - claimed) if claimed is not None else start
    return (0 if _whole_word(text, start, end) else 1, distance, start)


def _whole_word(text: str, start: int, end: int) -> bool:
    before = start == 0 or not (text[start - 1].isalnum() and text[start].isalnum())
    after = end == len(text) or not (text[end].isalnum() and text[end - 1].isalnum())
    return before and after


def _name(claim: EntityClaim) -> str:
    label = f"{claim.id} ({claim.label})" if claim.id else f"({claim.label})"
    return f"{label} {claim.text!r}"
