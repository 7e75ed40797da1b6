"""HALO's visit vocabulary: the layout of one multi-hot visit vector and its encoding and decoding.

Layout (the fine head generates positions in this order): time-gap bins | codes | static values |
start token | end token. The first row of a patient is the start token, the second its static
values (demographics, labels), the rest its visits; the end token is set in the last row.
"""

from __future__ import annotations

import bisect
import itertools
import statistics
from collections.abc import Mapping, Sequence
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from biosynth.core import ConfigError, InputDataError, Visit, VisitSequencePayload

Category = str | int | bool
DEFAULT_GAP_EDGES = (0, 7, 30, 90, 180, 365, 730, 1460)


class StaticField(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    categories: tuple[Category, ...] = Field(min_length=1)


class HaloVocabulary(BaseModel):
    """Codes, static fields and time-gap bins of a HALO model, saved as vocabulary.json."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = Field(None, description="the code vocabulary, e.g. 'OMOP'")
    codes: tuple[str, ...] = Field(min_length=1)
    static_fields: tuple[StaticField, ...] = ()
    gap_edges: tuple[int, ...] = Field((), description="days; bin i holds gaps g with edges[i-1] < g <= edges[i]")
    gap_days: tuple[int, ...] = Field((), description="representative days of each bin (training median)")
    code_domains: dict[str, str] = Field(default_factory=dict, description="e.g. OMOP table of each code")
    code_names: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if len(set(self.codes)) != len(self.codes):
            raise ValueError("codes must be unique")
        if list(self.gap_edges) != sorted(set(self.gap_edges)):
            raise ValueError("gap_edges must be strictly increasing")
        if self.gap_edges and len(self.gap_days) != len(self.gap_edges) + 1:
            raise ValueError(f"gap_days needs {len(self.gap_edges) + 1} values, one per bin")
        return self

    # layout ------------------------------------------------------------------------------------
    @property
    def n_gap(self) -> int:
        return len(self.gap_edges) + 1 if self.gap_edges else 0

    @property
    def code_offset(self) -> int:
        return self.n_gap

    @property
    def static_offset(self) -> int:
        return self.n_gap + len(self.codes)

    @property
    def n_static(self) -> int:
        return sum(len(f.categories) for f in self.static_fields)

    @property
    def start_index(self) -> int:
        return self.static_offset + self.n_static

    @property
    def end_index(self) -> int:
        return self.start_index + 1

    @property
    def size(self) -> int:
        return self.end_index + 1

    def static_positions(self) -> dict[str, dict[Category, int]]:
        positions: dict[str, dict[Category, int]] = {}
        index = self.static_offset
        for field in self.static_fields:
            positions[field.name] = {}
            for category in field.categories:
                positions[field.name][category] = index
                index += 1
        return positions

    # building ----------------------------------------------------------------------------------
    @classmethod
    def build(cls, patients: Sequence[VisitSequencePayload], *, name: str | None = None,
              gap_edges: Sequence[int] = DEFAULT_GAP_EDGES, code_domains: Mapping[str, str] | None = None,
              code_names: Mapping[str, str] | None = None) -> HaloVocabulary:
        codes = sorted({c for p in patients for v in p.visits for c in v.codes})
        if not codes:
            raise InputDataError("the training patients hold no codes at all; HALO needs visits with codes")
        fields: dict[str, set[Category]] = {}
        for i, patient in enumerate(patients):
            for key, value in patient.static.items():
                if value is None:
                    continue
                if isinstance(value, float):
                    raise InputDataError(f"patient {i}: static value {key!r}={value!r} is a float; HALO takes "
                                         "categories (strings, integers, booleans): bin it first")
                fields.setdefault(key, set()).add(value)
        static_fields = tuple(StaticField(name=k, categories=tuple(sorted(v, key=repr))) for k, v in sorted(fields.items()))
        gaps = [v.days_since_previous for p in patients for v in p.visits if v.days_since_previous is not None]
        edges = tuple(gap_edges) if gaps else ()
        days: tuple[int, ...] = ()
        if edges:
            binned: list[list[int]] = [[] for _ in range(len(edges) + 1)]
            for gap in gaps:
                binned[bisect.bisect_left(edges, gap)].append(gap)
            fallback = [edges[0], *((lo + hi) // 2 for lo, hi in itertools.pairwise(edges)), edges[-1] * 2]
            days = tuple(int(statistics.median(b)) if b else fallback[i] for i, b in enumerate(binned))
        domains = {c: code_domains[c] for c in codes if c in code_domains} if code_domains else {}
        names = {c: code_names[c] for c in codes if c in code_names} if code_names else {}
        return cls(name=name, codes=tuple(codes), static_fields=static_fields, gap_edges=edges, gap_days=days,
                   code_domains=domains, code_names=names)

    # encoding ----------------------------------------------------------------------------------
    def encode(self, patient: VisitSequencePayload, *, where: str = "patient") -> list[list[int]]:
        """Active positions per row: start, static, then one row per visit (end token in the last row)."""
        code_index = {c: self.code_offset + i for i, c in enumerate(self.codes)}
        positions = self.static_positions()
        static_row: list[int] = []
        for key, value in patient.static.items():
            if value is None:
                continue
            try:
                static_row.append(positions[key][value])  # type: ignore[index]  # a float is never a key
            except KeyError:
                raise InputDataError(f"{where}: static value {key}={value!r} is not in the model's vocabulary "
                                     f"(fields: {sorted(positions)})") from None
        rows = [[self.start_index], sorted(static_row)]
        for visit in patient.visits:
            row = []
            if self.gap_edges and visit.days_since_previous is not None:
                row.append(bisect.bisect_left(self.gap_edges, visit.days_since_previous))
            try:
                row += sorted(code_index[c] for c in set(visit.codes))
            except KeyError as err:
                raise InputDataError(f"{where}: code {err.args[0]!r} is not in the model's vocabulary") from None
            rows.append(row)
        rows[-1] = [*rows[-1], self.end_index]
        return rows

    def condition_positions(self, conditions: Mapping[str, Category]) -> dict[int, int]:
        """Static positions fixed by `conditions` (1 for the chosen category, 0 for the field's others)."""
        positions = self.static_positions()
        fixed: dict[int, int] = {}
        for key, value in conditions.items():
            if key not in positions:
                raise ConfigError(f"condition on unknown static field {key!r}; the model knows {sorted(positions)}")
            if value not in positions[key]:
                raise ConfigError(f"condition {key}={value!r}: value never seen in training; known values of "
                                  f"{key!r}: {list(positions[key])}")
            for category, index in positions[key].items():
                fixed[index] = 1 if category == value else 0
        return fixed

    # decoding ----------------------------------------------------------------------------------
    def decode_static(self, active: Sequence[int]) -> dict[str, Category | None]:
        chosen = set(active)
        static: dict[str, Category | None] = {}
        for key, categories in self.static_positions().items():
            static[key] = next((c for c, i in categories.items() if i in chosen), None)
        return static

    def decode_visit(self, active: Sequence[int]) -> Visit:
        codes = tuple(self.codes[i - self.code_offset] for i in sorted(active)
                      if self.code_offset <= i < self.static_offset)
        gap_bins = sorted(i for i in active if i < self.n_gap)
        gap = self.gap_days[gap_bins[0]] if gap_bins else None
        return Visit(codes=codes, days_since_previous=gap)
