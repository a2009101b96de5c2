"""Configuring a region: its calendar, its deadline policy, its agencies' heads.

The system administrator edits calendars and policies (DESIGN.md §1); a policy change is a new
version, so clocks already running keep the rules they started under. Callers check permission
through ``services.access`` first.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta

import audit
from audit import Actor, AuditAction
from services import calendar
from services import clock as clock_source
from services.clocks import calendars, queries
from services.clocks import deadline_queries as dq
from services.clocks.records import PRIORITIES, UNITS, Policy, Rule
from services.errors import NotFound, ValidationFailed


def region_or_404(conn, code: str):
    region = dq.region_by_code(conn, code)
    if region is None:
        raise NotFound(f"No region with code {code!r}.")
    return region


def view_calendar(conn, *, actor: Actor, region_code: str, year: int | None = None) -> dict:
    """The region's effective calendar: hours, zone and dated entries (derived carry-overs too)."""
    region = region_or_404(conn, region_code)
    cal = calendars.region_calendar(conn, region["id"])
    entries = [e for e in cal.entries if year is None or e.day.year == year]
    audit.record(conn, actor=actor, action=AuditAction.CALENDAR_VIEWED, object_type="region",
                 object_id=region["id"], details={"year": year})
    return {"region": region["code"], "timezone": region["timezone"],
            "day_start": cal.day_start, "day_end": cal.day_end, "entries": entries}


# The years a calendar is kept for. A day off at the end of time (9999-12-31 and a day after it)
# would break the carry-over arithmetic of every clock of the region.
YEARS = (2000, 2100)


def check_year(day: date, field: str = "day") -> date:
    """``day`` if its year is one a calendar is kept for, else a refusal naming ``field``."""
    if not YEARS[0] <= day.year <= YEARS[1]:
        raise ValidationFailed(f"The date must fall in the years {YEARS[0]} to {YEARS[1]}.",
                               field=field)
    return day


def put_day(conn, *, actor: Actor, region_code: str, day: date, kind: str, name: str,
            source: str | None = None) -> None:
    """Add or replace the region's own entry for ``day`` (it overrides the national one)."""
    check_year(day)
    if kind not in calendar.KINDS:
        raise ValidationFailed(f"kind must be one of {', '.join(calendar.KINDS)}.", field="kind")
    region = region_or_404(conn, region_code)
    if kind == calendar.WORKING_DAY and day.weekday() < 5 and not any(
            e["day"] == day for e in dq.calendar_rows(conn, region["id"])):
        # A weekday works already; a working_day entry on one only cancels a national day off.
        raise ValidationFailed("A weekday is already a working day.", field="kind")
    dq.put_region_day(conn, region["id"], day, kind, name, source, actor.user_id)
    audit.record(conn, actor=actor, action=AuditAction.CALENDAR_CHANGED, object_type="region",
                 object_id=region["id"], details={"day": day.isoformat(), "kind": kind,
                                                  "change": "put"})


def delete_day(conn, *, actor: Actor, region_code: str, day: date) -> None:
    """Remove the region's own entry for ``day`` (the national one, if any, applies again)."""
    region = region_or_404(conn, region_code)
    if not dq.delete_region_day(conn, region["id"], day):
        raise NotFound(f"The region has no entry of its own on {day.isoformat()}.")
    audit.record(conn, actor=actor, action=AuditAction.CALENDAR_CHANGED, object_type="region",
                 object_id=region["id"], details={"day": day.isoformat(), "change": "delete"})


def set_hours(conn, *, actor: Actor, region_code: str, day_start: time, day_end: time) -> None:
    """Set the region's working hours (working-day clocks started from now on use them)."""
    for name, value in (("day_start", day_start), ("day_end", day_end)):
        if value.tzinfo is not None:
            raise ValidationFailed("Working hours are local times, without an offset: the "
                                   "region's time zone applies.", field=name)
    if day_end <= day_start:
        raise ValidationFailed("The working day must end after it starts.", field="day_end")
    region = region_or_404(conn, region_code)
    dq.set_working_hours(conn, region["id"], day_start, day_end, actor.user_id)
    audit.record(conn, actor=actor, action=AuditAction.CALENDAR_CHANGED, object_type="region",
                 object_id=region["id"], details={"day_start": day_start.isoformat(),
                                                  "day_end": day_end.isoformat(),
                                                  "change": "hours"})


def view_policy(conn, *, actor: Actor, region_code: str) -> tuple[Policy, list[dict]]:
    """The policy version new clocks of the region start under, and the version history."""
    region = region_or_404(conn, region_code)
    policy = calendars.current_policy(conn, region["id"])
    audit.record(conn, actor=actor, action=AuditAction.DEADLINE_POLICY_VIEWED,
                 object_type="region", object_id=region["id"],
                 details={"policy_id": policy.id, "policy_version": policy.version})
    return policy, dq.policy_versions(conn, region["id"])


# The longest duration a rule may give, per unit: about ten years, so that date arithmetic on
# any clock stays far inside the calendar.
MAX_AMOUNT = {"minutes": 5_256_000, "hours": 87_600, "working_hours": 22_500,
              "working_days": 2_500, "months": 120}


def _check_rule(rule: Rule) -> Rule:
    if rule.priority not in PRIORITIES + ("any",):
        raise ValidationFailed("priority must be immediate, urgent, standard, low or any.",
                               field="rules.priority")
    if rule.unit not in UNITS:
        raise ValidationFailed(f"unit must be one of {', '.join(UNITS)}.", field="rules.unit")
    if not 0 < rule.amount <= MAX_AMOUNT[rule.unit]:
        raise ValidationFailed(f"amount must be between 1 and {MAX_AMOUNT[rule.unit]} {rule.unit}.",
                               field="rules.amount")
    return rule


def _covered(keys, kind: str) -> set[str]:
    """The priorities that have a rule for ``kind`` among ``keys``, 'any' standing for all."""
    own = {priority for k, priority in keys if k == kind}
    return set(PRIORITIES) if "any" in own else own


def _check_coverage(before: tuple[Rule, ...], after: dict, kinds: set[str]) -> None:
    """Refuse a removal that leaves a priority of a clock kind with no rule: a clock of that kind
    and priority could no longer start (``Policy.rule_for`` finds nothing)."""
    old = {(r.clock_kind, r.priority) for r in before}
    for kind in sorted(kinds):
        lost = _covered(old, kind) - _covered(after, kind)
        if lost:
            missing = ", ".join(p for p in PRIORITIES if p in lost)
            raise ValidationFailed(f"Removing this leaves no {kind} rule for priority {missing}: "
                                   "set a rule for priority any first.", field="remove",
                                   reason="no_fallback", clock_kind=kind, priority=missing)


def save_policy(conn, *, actor: Actor, region_code: str, reason: str, rules: list[Rule] = (),
                remove: list[tuple[str, str]] = (), ladder: dict | None = None,
                now: datetime | None = None) -> Policy:
    """A new version of the region's policy: the current one with ``rules`` set, ``remove``
    (kind, priority) pairs dropped and ladder settings changed.

    :raise ValidationFailed: no reason, an invalid rule, a ladder setting out of range, a removed
        rule that does not exist (``reason="no_such_rule"``: it would save an identical version)
        or one whose removal leaves a priority of its clock kind without a rule
        (``reason="no_fallback"``: clocks of that kind could no longer start)
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why the policy changes.", field="reason")
    region = region_or_404(conn, region_code)
    current = calendars.current_policy(conn, region["id"])
    merged = {(r.clock_kind, r.priority): r for r in current.rules}
    for kind, priority in remove:
        if merged.pop((kind, priority), None) is None:
            raise ValidationFailed(f"There is no {kind} rule for priority {priority} to remove.",
                                   field="remove", reason="no_such_rule", clock_kind=kind,
                                   priority=priority)
    for rule in rules:
        merged[(rule.clock_kind, rule.priority)] = _check_rule(rule)
    _check_coverage(current.rules, merged, {kind for kind, _priority in remove})
    changes = dict(ladder or {})
    for key in ("unacknowledged_after", "unacknowledged_repeat"):
        if key in changes and not isinstance(changes[key], timedelta):
            changes[key] = timedelta(minutes=changes[key])
    draft = replace(current, reason=reason, rules=tuple(merged.values()), **changes)
    if not 1 <= draft.reminder_percent <= 99:
        raise ValidationFailed("reminder_percent must be between 1 and 99.",
                               field="ladder.reminder_percent")
    if draft.unacknowledged_repeat < timedelta(minutes=1):
        raise ValidationFailed("The repeat must be at least a minute.",
                               field="ladder.unacknowledged_repeat")
    policy_id = dq.insert_policy(conn, region["id"], draft, by=actor.user_id,
                                 at=now or clock_source.now())
    saved = dq.policy_by_id(conn, policy_id)
    audit.record(conn, actor=actor, action=AuditAction.DEADLINE_POLICY_CHANGED,
                 object_type="region", object_id=region["id"],
                 details={"policy_id": saved.id, "policy_version": saved.version,
                          "previous_policy_id": current.id, "rule_count": len(saved.rules)})
    return saved


def set_heads(conn, *, actor: Actor, agency_id: int, user_ids: list[int]) -> list[int]:
    """Name the agency's heads (level 2 of the ladder): active supervisors of the agency."""
    for user_id in user_ids:
        member = queries.user_in_agency(conn, user_id, agency_id)
        if member is None or "supervisor" not in member["roles"]:
            raise ValidationFailed(f"User {user_id} is not an active supervisor of the agency.",
                                   field="user_ids")
    heads = sorted(set(user_ids))
    dq.replace_heads(conn, agency_id, heads, actor.user_id)
    audit.record(conn, actor=actor, action=AuditAction.AGENCY_HEADS_CHANGED, object_type="agency",
                 object_id=agency_id, details={"user_ids": heads})
    return heads
