"""Who hears of each ladder step: the assignee, then supervisors, the agency head, oversight.

Each level falls back to the next group that exists, so a step always reaches someone: an agency
without a recorded head escalates level 2 to its supervisors (issue 5: "falling back to any
supervisor"), and one without supervisors goes to oversight.
"""
from __future__ import annotations

from services.clocks import queries
from services.clocks.records import Clock


def supervisors(conn, clock: Clock) -> list[int]:
    return queries.agency_users_with_role(conn, clock.agency_id, "supervisor")


def heads(conn, clock: Clock) -> list[int]:
    return queries.active_heads(conn, clock.agency_id)


def oversight(conn, clock: Clock) -> list[int]:
    return queries.region_users_with_role(conn, clock.region_id, "oversight")


GROUPS = {"supervisors": supervisors, "heads": heads, "oversight": oversight}
# Level 0 (the 75% reminder) goes to the assignee, or to the supervisors who allocate the work.
ORDER = {0: ("supervisors", "heads", "oversight"), 1: ("supervisors", "heads", "oversight"),
         2: ("heads", "supervisors", "oversight"), 3: ("oversight", "heads", "supervisors")}


def for_level(conn, clock: Clock, level: int, cache: dict | None = None) -> list[int]:
    """The user ids to notify of a step at ``level`` (0 is the 75% reminder).

    ``cache`` keeps the answers of one sweep batch, whose clocks mostly share their agencies.
    """
    if level == 0 and clock.assignee_user_id is not None:
        return [clock.assignee_user_id]
    key = (clock.agency_id, clock.region_id, level)
    if cache is not None and key in cache:
        return cache[key]
    users: list[int] = []
    for name in ORDER[level]:
        users = sorted(set(GROUPS[name](conn, clock)))
        if users:
            break
    if cache is not None:
        cache[key] = users
    return users
