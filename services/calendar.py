"""Working time in a region: weekends, public holidays, carried-over days and moved days.

Pure functions over a ``Calendar`` value; ``services/clocks/calendars.py`` builds one from the
region's rows. Times go in and come out as aware UTC datetimes; the arithmetic happens in the
region's zone (Asia/Aqtau, UTC+5, for Kazakhstan: PRACTICE.md §7).

Working-day arithmetic counts working time, nine hours a day from 09:00 to 18:00: "1 working
day" from Friday 16:00 is two hours on Friday and seven on the next working day, so Monday 16:00,
or Tuesday 16:00 when Monday is a holiday. A clock started outside working time starts counting
at the next 09:00, so "1 working day" from Saturday noon ends at 18:00 on Monday. An amount that
runs out exactly at 18:00 ends then, not at 09:00 the next morning.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

# Kinds of calendar entries (the ``calendar_days.kind`` column).
HOLIDAY = "holiday"  # public holiday: carried over when it falls on a weekend
RELIGIOUS = "religious"  # religious day off: never carried over (Labour Code Art. 84 p.5)
DAY_OFF = "day_off"  # a weekday made a day off by decree (a moved day off)
WORKING_DAY = "working_day"  # a weekend day made a working day by decree (a moved working day)
KINDS = (HOLIDAY, RELIGIOUS, DAY_OFF, WORKING_DAY)
CARRY_OVER = "carry_over"  # derived, never stored: the day off a weekend holiday moves to

# Beyond this many days of searching, a calendar with no working days is refused, not looped on.
MAX_SEARCH_DAYS = 3660


class CalendarError(ValueError):
    """The calendar has no working time where some was needed."""


@dataclass(frozen=True)
class CalendarDay:
    """One dated entry of a calendar."""

    day: date
    kind: str
    name: str
    origin: str = "national"  # "national", "region", or "derived" for carry-over days


@dataclass(frozen=True)
class Calendar:
    """A region's working calendar: its zone, working hours and special days."""

    tz: ZoneInfo
    days_off: frozenset[date] = frozenset()
    working_weekend_days: frozenset[date] = frozenset()
    day_start: time = time(9)
    day_end: time = time(18)
    entries: tuple[CalendarDay, ...] = field(default=(), compare=False)

    @property
    def working_day_length(self) -> timedelta:
        return datetime.combine(date.min, self.day_end) - datetime.combine(date.min, self.day_start)

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` is a working day: a weekday that is not off, or a moved working day."""
        if day in self.working_weekend_days:
            return True
        if day in self.days_off:
            return False
        return day.weekday() < 5


def build(entries: list[CalendarDay], tz: str | ZoneInfo = "Asia/Aqtau", *,
          day_start: time = time(9), day_end: time = time(18)) -> Calendar:
    """A calendar from effective entries (region rows already override national ones)."""
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    if day_end <= day_start:
        raise CalendarError("the working day must end after it starts")
    working = frozenset(e.day for e in entries if e.kind == WORKING_DAY)
    off = {e.day for e in entries if e.kind in (HOLIDAY, RELIGIOUS, DAY_OFF)}
    derived = carry_overs([e for e in entries if e.kind == HOLIDAY], off, working)
    off.update(derived)
    names = {e.day: e.name for e in entries}
    all_entries = tuple(sorted(
        list(entries) + [CalendarDay(d, CARRY_OVER, names[h], "derived") for d, h in derived.items()],
        key=lambda e: (e.day, e.kind)))
    return Calendar(zone, frozenset(off), working, day_start, day_end, all_entries)


def carry_overs(holidays: list[CalendarDay], off: set[date], working: frozenset[date]) -> dict[date, date]:
    """Carried-over days off: ``{day off: the weekend holiday it replaces}``.

    PRACTICE.md §7: when a public holiday falls on a Saturday or Sunday, the next working day
    after the holiday is a day off. Holidays are taken in date order and each takes the next day
    still working, so Nauryz 2026 (Sat 21, Sun 22, Mon 23 March) gives Tuesday 24 and Wednesday 25.
    """
    taken: dict[date, date] = {}
    for holiday in sorted(h.day for h in holidays):
        if holiday.weekday() < 5 or holiday in working:
            continue
        day = holiday + timedelta(days=1)
        for _ in range(MAX_SEARCH_DAYS):
            weekday_free = day.weekday() < 5 and day not in off and day not in taken
            if weekday_free or (day in working and day not in taken):
                taken[day] = holiday
                break
            day += timedelta(days=1)
    return taken


def _local(at: datetime, cal: Calendar) -> datetime:
    if at.tzinfo is None:
        raise ValueError("calendar arithmetic takes aware datetimes only")
    return at.astimezone(cal.tz)


def _utc(at: datetime) -> datetime:
    return at.astimezone(timezone.utc)


def _opening(day: date, cal: Calendar) -> datetime:
    return datetime.combine(day, cal.day_start, tzinfo=cal.tz)


def _closing(day: date, cal: Calendar) -> datetime:
    return datetime.combine(day, cal.day_end, tzinfo=cal.tz)


def next_working_day(day: date, cal: Calendar) -> date:
    """The first working day strictly after ``day``."""
    for _ in range(MAX_SEARCH_DAYS):
        day += timedelta(days=1)
        if cal.is_working_day(day):
            return day
    raise CalendarError("no working day within ten years")


def working_instant(at: datetime, cal: Calendar) -> datetime:
    """``at`` if it is working time, else the start of the next working time (local zone)."""
    local = _local(at, cal)
    day = local.date()
    if cal.is_working_day(day):
        if local < _opening(day, cal):
            return _opening(day, cal)
        if local < _closing(day, cal):
            return local
    return _opening(next_working_day(day, cal), cal)


def add_working_time(start: datetime, amount: timedelta, cal: Calendar) -> datetime:
    """The instant when ``amount`` of working time has passed since ``start``."""
    if amount < timedelta(0):
        raise ValueError("working time cannot be negative")
    if amount == timedelta(0):
        return _utc(start)
    at = working_instant(start, cal)
    remaining = amount
    for _ in range(MAX_SEARCH_DAYS):
        left_today = _closing(at.date(), cal) - at
        if remaining <= left_today:
            return _utc(at + remaining)
        remaining -= left_today
        at = _opening(next_working_day(at.date(), cal), cal)
    raise CalendarError("no working time within ten years")


def add_working_days(start: datetime, days: int, cal: Calendar) -> datetime:
    """``start`` plus ``days`` working days (a working day is the region's working hours)."""
    return add_working_time(start, cal.working_day_length * days, cal)


def add_working_hours(start: datetime, hours: float, cal: Calendar) -> datetime:
    """``start`` plus ``hours`` of working time."""
    return add_working_time(start, timedelta(hours=hours), cal)


def working_time_between(start: datetime, end: datetime, cal: Calendar) -> timedelta:
    """How much working time lies between ``start`` and ``end`` (zero if end is not later)."""
    a, b = _local(start, cal), _local(end, cal)
    total = timedelta(0)
    if b <= a:
        return total
    day = a.date()
    while day <= b.date():
        if cal.is_working_day(day):
            lo, hi = max(a, _opening(day, cal)), min(b, _closing(day, cal))
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return total


def add_months(start: datetime, months: int, cal: Calendar) -> datetime:
    """The same local time ``months`` calendar months later (the 31st becomes the month's last day)."""
    local = _local(start, cal)
    index = local.month - 1 + months
    year, month = local.year + index // 12, index % 12 + 1
    last = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return _utc(local.replace(year=year, month=month, day=min(local.day, last)))
