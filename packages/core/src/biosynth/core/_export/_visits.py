"""Dates of a visit sequence's visits: one rule for every export (FHIR, OMOP).

`Visit.date` when present; otherwise the first visit falls on 1 January of (birth decade + 5 + the age band's lower
bound), or on `default_anchor`, and each later visit follows by `days_since_previous` (a visit whose gap was not
sampled is dated as the previous one, and counted). Birth years are the decade's middle: synthetic dates are
approximate.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from biosynth.core._errors import InputDataError
from biosynth.core._records import Scalar, VisitSequencePayload

_DECADE = re.compile(r"^(\d{4})s$")
_BAND = re.compile(r"^(\d+)(?:-\d+|\+)$")


@dataclass(frozen=True)
class VisitDates:
    dates: tuple[dt.date, ...]
    without_gap: int  # visits after the first whose gap was not sampled
    anchored_by_default: bool


def birth_year(static: dict[str, Scalar]) -> int | None:
    """The middle of the `birth_decade` static value ("1950s" -> 1955), or None."""
    decade = static.get("birth_decade")
    match = _DECADE.match(str(decade)) if decade is not None else None
    return int(match.group(1)) + 5 if match else None


def visit_dates(payload: VisitSequencePayload, *, default_anchor: dt.date | None = None,
                where: str = "visit sequence",
                anchor_hint: str = "give an anchor date (e.g. -O anchor_date=2020-01-01)") -> VisitDates:
    """The visits' dates by the module's rule; an InputDataError (naming `where`) when nothing dates them."""
    dates: list[dt.date] = []
    without_gap, by_default = 0, False
    for j, visit in enumerate(payload.visits):
        if visit.date is not None:
            try:
                date = dt.date.fromisoformat(visit.date)
            except ValueError:
                raise InputDataError(f"{where}: visit {j} has date {visit.date!r}; expected an ISO date") from None
        elif j == 0:
            anchor = _anchor(birth_year(payload.static), payload.static.get("age_band"))
            if anchor is None:
                if default_anchor is None:
                    raise InputDataError(f"{where}: its visits have no dates and its static values no "
                                         f"birth_decade/age_band; {anchor_hint}")
                anchor, by_default = default_anchor, True
            date = anchor
        elif visit.days_since_previous is None:
            date, without_gap = dates[-1], without_gap + 1
        else:
            date = dates[-1] + dt.timedelta(days=visit.days_since_previous)
        dates.append(date)
    return VisitDates(dates=tuple(dates), without_gap=without_gap, anchored_by_default=by_default)


def _anchor(year: int | None, age_band: Scalar) -> dt.date | None:
    match = _BAND.match(str(age_band)) if age_band is not None else None
    if year is None or match is None:
        return None
    return dt.date(year + int(match.group(1)), 1, 1)
