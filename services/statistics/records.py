"""The shapes of the statistics: a period, the tables' dimensions and their cells."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from services.referrals.records import CATEGORIES
from services.clocks.records import KINDS as CLOCK_KINDS
from services.referrals.asq import PRIORITIES

# DESIGN.md §4: the council sees "small counts (< 5) suppressed so no child can be re-identified
# from published figures". Zero is a small count too: "none in this district" is as telling.
THRESHOLD = 5
SUPPRESSED = "<5"
MAX_DAYS = 731  # two years: a longer period is refused
DEFAULT_DAYS = 12 * 7

ALL = None  # a key that sums over its dimension (a margin)
UNKNOWN_DISTRICT = "unknown"

OUTCOMES = ("pending", "accepted", "screened_out", "redirected")
CLOCK_STATUSES = ("on_time", "late", "open_overdue")


@dataclass(frozen=True)
class Period:
    """Calendar days [start, end] in the region's zone, and an optional district (by code)."""

    start: date
    end: date
    district: str | None = None

    def weeks(self) -> list[str]:
        """The ISO weeks the period touches, in order."""
        monday = self.start - timedelta(days=self.start.weekday())
        out = []
        while monday <= self.end:
            out.append(iso_week(monday))
            monday += timedelta(days=7)
        return out


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass
class Table:
    """Cells keyed by one value per dimension (``ALL`` for a margin); a value of None is suppressed."""

    dimensions: tuple[str, ...]
    values: tuple[tuple, ...]  # the keys of each dimension, in display order
    cells: dict[tuple, int | None] = field(default_factory=dict)

    def get(self, *key) -> int | None:
        return self.cells.get(tuple(key))

    def slice(self, dimension: int, value) -> "Table":
        """The cells whose key has ``value`` in ``dimension`` (its margins over it left out)."""
        values = tuple((value,) if i == dimension else v for i, v in enumerate(self.values))
        return Table(self.dimensions, values,
                     {k: v for k, v in self.cells.items() if k[dimension] == value})

    def rows(self) -> list[dict]:
        """Every cell as a dict: the dimensions' keys (None: all), ``count`` and ``suppressed``."""
        return [{**dict(zip(self.dimensions, key)), "count": value, "suppressed": value is None}
                for key, value in self.cells.items()]


@dataclass(frozen=True)
class FirstContact:
    priority: str | None  # None: every priority
    contacts: int | None
    median_hours: float | None
    p90_hours: float | None


@dataclass
class Statistics:
    period: Period
    region_id: int
    exact: bool  # oversight: exact counts; the council: suppressed
    districts: list[dict]  # {"code", "name"} of the region
    referrals: Table  # week × district × category
    outcomes: Table  # priority × outcome
    compliance: Table  # clock kind × status
    first_contact: list[FirstContact]
    district_narrows_all: bool = True  # False: the district narrows the referral tables only


__all__ = ["ALL", "CATEGORIES", "PRIORITIES", "OUTCOMES", "CLOCK_STATUSES", "CLOCK_KINDS",
           "THRESHOLD", "SUPPRESSED", "MAX_DAYS", "Period", "Table", "FirstContact", "Statistics"]


def default_period(today: date) -> Period:
    """The twelve weeks up to and including today."""
    return Period(today - timedelta(days=DEFAULT_DAYS - 1), today)


# Why a period is refused: code → the API's message (the page shows its own translation).
PERIOD_PROBLEMS = {"end_before_start": "The end date is before the start date.",
                   "too_long": "A period may be at most two years long."}


def period_problem(start: date, end: date) -> tuple[str, str] | None:
    """(field, code of PERIOD_PROBLEMS) when [start, end] is not a period statistics are given for."""
    if end < start:
        return "to", "end_before_start"
    if (end - start).days + 1 > MAX_DAYS:
        return "to", "too_long"
    return None
