"""Working-day arithmetic in a region's calendar (PRACTICE.md §7), with no database."""
from __future__ import annotations

import importlib.util
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from services import calendar
from services.calendar import CalendarDay
from services.clocks import ladder
from tests.clocks.conftest import AQTAU, local

ROOT = Path(__file__).resolve().parents[2]


def _migration():
    spec = importlib.util.spec_from_file_location(
        "clocks_migration", ROOT / "migrations" / "versions" / "0003_clocks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def seeded_entries() -> list[CalendarDay]:
    """The national entries the migration seeds."""
    m = _migration()
    entries = [CalendarDay(date.fromisoformat(f"{y}-{md}"), "holiday", name)
               for y in (2026, 2027) for md, name in m.HOLIDAYS]
    entries += [CalendarDay(date.fromisoformat(d), "religious", name) for d, name, _ in m.RELIGIOUS]
    return entries


KZ = calendar.build(seeded_entries(), AQTAU)
PLAIN = calendar.build([], AQTAU)


def test_one_working_day_from_friday_afternoon_is_monday_same_time():
    assert calendar.add_working_days(local(2026, 4, 10, 16), 1, PLAIN) == local(2026, 4, 13, 16)


def test_one_working_day_from_friday_skips_a_holiday_monday():
    # 8 March 2026 is a Sunday, so Monday 9 March is its carried-over day off.
    assert calendar.add_working_days(local(2026, 3, 6, 16), 1, KZ) == local(2026, 3, 10, 16)


def test_nauryz_2026_carries_the_weekend_days_to_tuesday_and_wednesday():
    off = {d for d in KZ.days_off if date(2026, 3, 20) <= d <= date(2026, 3, 27)}
    assert off == {date(2026, 3, 21), date(2026, 3, 22), date(2026, 3, 23), date(2026, 3, 24),
                   date(2026, 3, 25)}
    derived = {e.day for e in KZ.entries if e.kind == calendar.CARRY_OVER}
    assert {date(2026, 3, 24), date(2026, 3, 25)} <= derived


def test_a_working_day_across_nauryz_week_lands_on_the_thursday_after():
    assert calendar.add_working_days(local(2026, 3, 20, 15), 1, KZ) == local(2026, 3, 26, 15)
    assert calendar.add_working_days(local(2026, 3, 20, 15), 3, KZ) == local(2026, 3, 30, 15)


def test_the_2026_calendar_matches_the_official_count_of_days_off():
    # egov.kz 2026 calendar (Kazinform, 2 Jan 2026): 119 days off and 246 working days.
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(365)]
    assert sum(KZ.is_working_day(d) for d in days) == 246
    carried = sorted(e.day for e in KZ.entries
                     if e.kind == calendar.CARRY_OVER and e.day.year == 2026)
    assert carried == [date(2026, 3, 9), date(2026, 3, 24), date(2026, 3, 25), date(2026, 5, 11),
                       date(2026, 8, 31), date(2026, 10, 26)]


def test_carry_over_2027_moves_weekend_holidays_to_the_next_working_day():
    carried = {e.day for e in KZ.entries if e.kind == calendar.CARRY_OVER and e.day.year == 2027}
    # 2 Jan (Sat) -> 4 Jan; Nauryz 21 Mar (Sun) -> 24 Mar (22-23 are holidays); 1 May (Sat) -> 3 May;
    # 9 May (Sun) -> 10 May.
    assert carried == {date(2027, 1, 4), date(2027, 3, 24), date(2027, 5, 3), date(2027, 5, 10)}


def test_religious_days_off_are_not_carried_over():
    # Kurban Ait 2027 is expected on Sunday 16 May; Monday 17 May stays a working day.
    assert KZ.is_working_day(date(2027, 5, 17))
    assert not KZ.is_working_day(date(2026, 5, 27))  # Kurban Ait 2026, a Wednesday


def test_a_moved_working_day_counts_and_a_moved_day_off_does_not():
    # The 2023 Capital Day decree: Saturday 1 July worked, Friday 7 July off.
    cal = calendar.build([CalendarDay(date(2023, 7, 6), "holiday", "Capital Day"),
                          CalendarDay(date(2023, 7, 1), "working_day", "moved"),
                          CalendarDay(date(2023, 7, 7), "day_off", "moved")], AQTAU)
    assert calendar.add_working_days(local(2023, 6, 30, 16), 1, cal) == local(2023, 7, 1, 16)
    assert calendar.add_working_days(local(2023, 7, 5, 16), 1, cal) == local(2023, 7, 10, 16)


def test_hours_based_clocks_run_through_the_night():
    start = local(2026, 4, 14, 2, 30)
    assert ladder.deadline(start, 1, "hours", KZ) == local(2026, 4, 14, 3, 30)
    assert ladder.deadline(start, 4, "hours", KZ) == local(2026, 4, 14, 6, 30)
    assert ladder.deadline(start, 24, "hours", KZ) == local(2026, 4, 15, 2, 30)


def test_working_hours_wait_for_the_office_to_open():
    assert calendar.add_working_hours(local(2026, 4, 14, 2, 30), 2, KZ) == local(2026, 4, 14, 11)
    assert calendar.add_working_hours(local(2026, 4, 10, 17), 2, KZ) == local(2026, 4, 13, 10)


def test_a_clock_started_at_the_weekend_counts_from_monday_morning():
    assert calendar.add_working_days(local(2026, 4, 11, 12), 1, PLAIN) == local(2026, 4, 13, 18)


def test_results_are_utc_and_naive_input_is_refused():
    due = calendar.add_working_days(local(2026, 4, 10, 16), 1, PLAIN)
    assert due.tzinfo == timezone.utc and due == datetime(2026, 4, 13, 11, tzinfo=timezone.utc)
    with pytest.raises(ValueError):
        calendar.add_working_days(datetime(2026, 4, 10, 16), 1, PLAIN)


def test_months_keep_the_local_time_and_clamp_to_the_end_of_the_month():
    assert calendar.add_months(local(2026, 1, 31, 10), 1, KZ) == local(2026, 2, 28, 10)
    assert calendar.add_months(local(2026, 11, 30, 10), 3, KZ) == local(2027, 2, 28, 10)


def test_working_hours_of_a_region_are_its_own():
    cal = calendar.build([], AQTAU, day_start=time(8), day_end=time(17))
    assert calendar.add_working_days(local(2026, 4, 10, 16), 1, cal) == local(2026, 4, 13, 16)
    assert calendar.add_working_hours(local(2026, 4, 10, 16, 30), 1, cal) == local(2026, 4, 13, 8, 30)


def test_a_calendar_without_working_days_is_refused_not_looped_on():
    everything_off = calendar.Calendar(AQTAU, days_off=frozenset(
        date(2026, 1, 1) + timedelta(days=i) for i in range(4000)))
    with pytest.raises(calendar.CalendarError):
        calendar.add_working_days(local(2026, 1, 1, 10), 1, everything_off)


def test_seventy_five_percent_of_a_working_day_clock_is_measured_in_working_time():
    start, due = local(2026, 4, 10, 16), local(2026, 4, 13, 16)
    assert ladder.fraction_point(start, due, 75, "working_days", KZ) == local(2026, 4, 13, 13, 45)
    assert ladder.fraction_point(start, due, 75, "hours", KZ) == local(2026, 4, 12, 22)


instants = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 1),
                        timezones=st.just(AQTAU))


@settings(max_examples=200, deadline=None)
@given(start=instants, minutes=st.integers(min_value=1, max_value=60 * 9 * 30))
def test_adding_working_time_and_measuring_it_agree(start, minutes):
    amount = timedelta(minutes=minutes)
    end = calendar.add_working_time(start, amount, KZ)
    assert end > start
    assert calendar.working_time_between(start, end, KZ) == amount
