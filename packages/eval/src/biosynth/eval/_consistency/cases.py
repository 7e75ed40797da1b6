"""A dataset's records grouped by case, with each record's ancestors (its `parents`, transitively)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from biosynth.core import Record


@dataclass
class Case:
    case_id: str
    records: dict[str, Record] = field(default_factory=dict)

    def ancestors(self, record: Record) -> list[Record]:
        """The records `record` was made from, nearest first (breadth-first over `parents` inside the case)."""
        seen: set[str] = set()
        out: list[Record] = []
        frontier = list(record.parents)
        while frontier:
            following: list[str] = []
            for parent_id in frontier:
                parent = self.records.get(parent_id)
                if parent is None or parent_id in seen:
                    continue
                seen.add(parent_id)
                out.append(parent)
                following += parent.parents
            frontier = following
        return out

    def nearest(self, record: Record, accept: Callable[[Record], bool]) -> Record | None:
        return next((a for a in self.ancestors(record) if accept(a)), None)


def group_cases(records: Sequence[Record]) -> dict[str, Case]:
    """Cases in order of first appearance."""
    cases: dict[str, Case] = {}
    for record in records:
        cases.setdefault(record.case_id, Case(record.case_id)).records[record.id] = record
    return cases
