"""A region's working calendar and deadline policy, loaded from their rows."""
from __future__ import annotations

from datetime import time

from services import calendar
from services.calendar import Calendar, CalendarDay
from services.clocks import deadline_queries as dq
from services.clocks.records import Policy
from services.errors import ValidationFailed

DEFAULT_HOURS = (time(9), time(18))


def region_calendar(conn, region_id: int) -> Calendar:
    """The region's calendar: national entries, its own over them, derived carry-overs."""
    region = dq.region(conn, region_id)
    if region is None:
        raise ValidationFailed("No such region.", field="region_id")
    start, end = dq.working_hours(conn, region_id) or DEFAULT_HOURS
    entries = [CalendarDay(r["day"], r["kind"], r["name"], r["origin"])
               for r in dq.calendar_rows(conn, region_id)]
    return calendar.build(entries, region["timezone"], day_start=start, day_end=end)


def current_policy(conn, region_id: int) -> Policy:
    """The deadline policy version new clocks of the region start under."""
    policy = dq.current_policy(conn, region_id)
    if policy is None:
        raise ValidationFailed("The region has no deadline policy.", field="region_id")
    return policy
