"""Who may see a clock or escalation, and who stands on its ladder (DESIGN.md §3, §4).

``may_see`` mirrors ``clocks_may_see`` of migrations/versions/0003_clocks.py (spelt out in the
clocks and escalations read policies by 0009_read_speed.py) rule for rule, so
the application refuses what row-level security would refuse; each condition is on its own line.
"""
from __future__ import annotations

from audit import Actor


def may_see(actor: Actor, *, agency_id: int, region_id: int, assignee_user_id: int | None,
            heads: list[int]) -> bool:
    """The assignee, the owning agency's supervisors and heads, its caseworkers while the work
    is unassigned, and oversight of the region."""
    if actor.has("system"):
        return True
    if assignee_user_id is not None and assignee_user_id == actor.user_id:
        return True
    if agency_id == actor.agency_id and actor.has("supervisor"):
        return True
    if agency_id == actor.agency_id and assignee_user_id is None and actor.has("caseworker"):
        return True
    if actor.has("oversight") and region_id == actor.region_id:
        return True
    return actor.user_id is not None and actor.user_id in heads


def may_change_due(actor: Actor, *, agency_id: int, heads: list[int]) -> bool:
    """Due times are changed by the owning agency's supervisors and heads."""
    if agency_id == actor.agency_id and actor.has("supervisor"):
        return True
    return actor.user_id is not None and actor.user_id in heads


def off_ladder_reason(actor: Actor, *, level: int, agency_id: int, region_id: int,
                      heads: list[int]) -> str | None:
    """None if ``actor`` owns the escalation at ``level`` (or one below it), else why not.

    Level 1 belongs to the owning agency's supervisors, level 2 adds its heads, level 3 adds
    oversight of the region. The assignee is never on their own ladder.
    """
    if agency_id == actor.agency_id and actor.has("supervisor"):
        return None
    if actor.user_id is not None and actor.user_id in heads:
        return None
    if level >= 3 and actor.has("oversight") and region_id == actor.region_id:
        return None
    if actor.has("oversight") and region_id == actor.region_id:
        return "not_yet_at_oversight"
    return "not_on_ladder"
