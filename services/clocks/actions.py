"""Starting, stopping, showing and changing clocks: rules, audit event and change in one transaction.

The actions that create work call ``start_clock`` (a referral submitted starts its screening
clock, an assessment created its assessment clock, ...) and the actions that complete it call
``stop_clock``, in their own transaction, after their own access check (issue 5 item 2).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import audit
from audit import Actor, AuditAction
from services import clock as clock_source
from services import calendar, outbox
from services.access import record_denial
from services.clocks import access, calendars, ladder, lifecycle_queries, queries
from services.clocks import deadline_queries as dq
from services.clocks.records import (PRIORITIES, SUBJECT_TYPES, WORKING_UNITS, Clock, Policy,
                                     Rule, Schedule)
from services.errors import AccessDenied, InvalidTransition, NotFound, ValidationFailed

STOP_REASONS = ("completed", "cancelled", "superseded")
# A due time further out than this is a typing mistake, not a deadline.
HORIZON = timedelta(days=5 * 366)
HIDDEN = "No such clock, or it is not yours to see."


def start_clock(conn, *, actor: Actor, kind: str, subject_type: str, subject_id: int,
                child_id: int | None, region_id: int, agency_id: int,
                assignee_user_id: int | None = None, priority: str,
                started_at: datetime | None = None, due_at: datetime | None = None) -> int:
    """Start a clock under the region's current policy; the running one's id if it exists.

    ``due_at`` overrides the rule's duration when the instructing person set a date (an
    oversight instruction with a deadline); the ladder still follows the policy.

    :raise ValidationFailed: unknown subject type or priority, or no rule for kind and priority
    """
    if subject_type not in SUBJECT_TYPES:
        raise ValidationFailed(f"subject_type must be one of {', '.join(SUBJECT_TYPES)}.",
                               field="subject_type")
    if priority not in PRIORITIES:
        raise ValidationFailed(f"priority must be one of {', '.join(PRIORITIES)}.", field="priority")
    started = started_at or clock_source.now()
    policy, rule, sched = plan_clock(conn, region_id=region_id, kind=kind, priority=priority,
                                     started_at=started, due_at=due_at)
    values = {
        "kind": kind, "subject_type": subject_type, "subject_id": subject_id,
        "child_id": child_id, "region_id": region_id, "agency_id": agency_id,
        "assignee_user_id": assignee_user_id, "priority": priority, "policy_id": policy.id,
        "amount": rule.amount, "unit": rule.unit, "started_at": started.isoformat(),
        "started_by": actor.user_id, "due_at": sched.due_at.isoformat(),
        "reminder_at": sched.reminder_at.isoformat(), "level_2_at": sched.level_2_at.isoformat(),
        "level_3_at": sched.level_3_at.isoformat(),
        "unacknowledged_at": sched.unacknowledged_at.isoformat() if sched.unacknowledged_at else None,
        "next_action_at": ladder.next_action_at(sched, ladder.LadderState(),
                                                policy.unacknowledged_repeat).isoformat(),
    }
    clock_id, created = queries.start(conn, values)
    if created:
        audit.record(conn, actor=actor, action=AuditAction.CLOCK_STARTED, object_type="clock",
                     object_id=clock_id, child_id=child_id,
                     details={"kind": kind, "subject_type": subject_type,
                              "subject_id": subject_id, "priority": priority,
                              "policy_id": policy.id, "policy_version": policy.version,
                              "due_at": sched.due_at.isoformat()})
    return clock_id


def plan_clock(conn, *, region_id: int, kind: str, priority: str, started_at: datetime,
               due_at: datetime | None = None) -> tuple[Policy, Rule, Schedule]:
    """The policy version, rule and ladder schedule a clock starting now would get."""
    policy = calendars.current_policy(conn, region_id)
    rule = policy.rule_for(kind, priority)
    if rule is None:
        raise ValidationFailed(f"The region's deadline policy has no rule for {kind!r} at "
                               f"priority {priority!r}.", field="kind")
    cal = calendars.region_calendar(conn, region_id)
    if due_at is None:
        return policy, rule, ladder.plan(policy, rule, started_at, cal, kind=kind, priority=priority)
    if due_at.tzinfo is None or not started_at <= due_at <= started_at + HORIZON:
        raise ValidationFailed("due_at must be an aware time after the start, within five years.",
                               field="due_at")
    return policy, rule, ladder.schedule(policy, started_at, due_at, rule.unit, cal)


def stop_clock(conn, *, actor: Actor, subject_type: str, subject_id: int, kind: str | None,
               reason: str = "completed", at: datetime | None = None,
               agency_id: int | None = None) -> list[int]:
    """Stop the subject's running clock of ``kind`` (every running one when kind is None), of
    ``agency_id``'s (of every agency when None).

    Its open escalation is resolved with it. Returns the ids of the clocks stopped (none when
    nothing was running, so a repeated completion is harmless).
    """
    return [row["clock_id"] for row in stop_clocks(
        conn, actor=actor, subject_type=subject_type, subject_id=subject_id,
        kinds=None if kind is None else (kind,), reason=reason, at=at, agency_id=agency_id)]


def stop_clocks(conn, *, actor: Actor, subject_type: str, subject_id: int,
                kinds: tuple[str, ...] | None, reason: str = "completed", at: datetime | None = None,
                agency_id: int | None = None) -> list[dict]:
    """``stop_clock`` for several kinds at once; each stopped clock's id, kind, agency and start."""
    if reason not in STOP_REASONS:
        raise ValidationFailed(f"reason must be one of {', '.join(STOP_REASONS)}.", field="reason")
    stopped = lifecycle_queries.stop(conn, subject_type, subject_id,
                                     None if kinds is None else list(kinds), agency_id,
                                     at or clock_source.now(), actor.user_id, reason)
    for row in stopped:
        audit.record(conn, actor=actor, action=AuditAction.CLOCK_STOPPED, object_type="clock",
                     object_id=row["clock_id"], child_id=row["child_id"],
                     details={"subject_type": subject_type, "subject_id": subject_id,
                              "kind": row["kind"], "agency_id": row["agency_id"],
                              "stop_reason": reason, "escalation_id": row["escalation_id"]})
    return stopped


def transfer_clocks(conn, *, actor: Actor, subject_type: str, subject_id: int,
                    from_agency_id: int, to_agency_id: int) -> list[int]:
    """Hand the subject's running clocks of one agency to another (a case's new lead agency):
    same due times and ladder, now on the new agency's unassigned queue. The ids moved."""
    moved = lifecycle_queries.transfer(conn, subject_type, subject_id, from_agency_id, to_agency_id)
    for row in moved:
        audit.record(conn, actor=actor, action=AuditAction.CLOCK_TRANSFERRED, object_type="clock",
                     object_id=row["clock_id"], child_id=row["child_id"],
                     details={"subject_type": subject_type, "subject_id": subject_id,
                              "kind": row["kind"], "from_agency_id": from_agency_id,
                              "to_agency_id": to_agency_id, "escalation_id": row["escalation_id"]})
    return [row["clock_id"] for row in moved]


def running_kinds(conn, subject_type: str, subject_id: int) -> list[tuple[str, int]]:
    """(kind, owning agency) of the subject's running clocks, whoever may see them."""
    return lifecycle_queries.running(conn, subject_type, subject_id)


@dataclass(frozen=True)
class ClockStatus:
    """A clock as its subject's page shows it: due time, time left, ladder position."""

    clock: Clock
    policy_version: int
    time_left: timedelta | None  # negative once overdue; None when stopped
    working_time_left: timedelta | None  # for working-day clocks: working time until due
    overdue: bool
    steps: tuple[dict, ...]


def clocks_for(conn, subject_type: str, subject_id: int, *, actor: Actor | None = None,
               now: datetime | None = None) -> list[ClockStatus]:
    """The subject's clocks the acting user may see, with time left; audited when ``actor`` is given."""
    rows = queries.for_subject(conn, subject_type, subject_id)
    if actor is not None:
        rows = [c for c in rows if access.may_see(
            actor, agency_id=c.agency_id, region_id=c.region_id,
            assignee_user_id=c.assignee_user_id, heads=dq.heads_of(conn, c.agency_id))]
    out = statuses(conn, rows, now or clock_source.now())
    if actor is not None:
        audit.record(conn, actor=actor, action=AuditAction.CLOCKS_VIEWED,
                     object_type=subject_type, object_id=subject_id,
                     child_id=next((c.child_id for c in rows if c.child_id), None),
                     details={"clock_count": len(out)})
    return out


def clock_status(conn, *, actor: Actor, clock_id: int, now: datetime | None = None) -> ClockStatus:
    """One clock the actor may see, with time left."""
    found = access_clock(conn, actor, clock_id, attempted=AuditAction.CLOCKS_VIEWED)
    return statuses(conn, [found], now or clock_source.now())[0]


def statuses(conn, rows: list[Clock], now: datetime) -> list[ClockStatus]:
    """Time left (real and working) and ladder steps for each clock."""
    steps = queries.steps_of(conn, [c.id for c in rows]) if rows else []
    calendars_by_region: dict[int, calendar.Calendar] = {}
    versions: dict[int, int] = {}
    out = []
    for c in rows:
        if c.policy_id not in versions:
            versions[c.policy_id] = dq.policy_by_id(conn, c.policy_id).version
        working_left = None
        if c.running and c.unit in WORKING_UNITS:
            if c.region_id not in calendars_by_region:
                calendars_by_region[c.region_id] = calendars.region_calendar(conn, c.region_id)
            cal = calendars_by_region[c.region_id]
            working_left = (calendar.working_time_between(now, c.due_at, cal) if c.due_at > now
                            else -calendar.working_time_between(c.due_at, now, cal))
        out.append(ClockStatus(
            clock=c, policy_version=versions[c.policy_id],
            time_left=(c.due_at - now) if c.running else None,
            working_time_left=working_left,
            overdue=c.running and now >= c.due_at,
            steps=tuple(s for s in steps if s["clock_id"] == c.id)))
    return out


def access_clock(conn, actor: Actor, clock_id: int, *, attempted: AuditAction,
                 lock: bool = False) -> Clock:
    """The clock if ``actor`` may see it; the same 404 when it is absent or hidden."""
    found = queries.get(conn, clock_id, lock=lock)
    if found is None or not access.may_see(actor, agency_id=found.agency_id,
                                           region_id=found.region_id,
                                           assignee_user_id=found.assignee_user_id,
                                           heads=dq.heads_of(conn, found.agency_id)):
        record_denial(actor, attempted, "clock", clock_id)
        raise NotFound(HIDDEN)
    return found


def change_due(conn, *, actor: Actor, clock_id: int, due_at: datetime | None = None,
               working_days: int | None = None, reason: str | None,
               now: datetime | None = None) -> Clock:
    """Move a running clock's due time: an extension needs a reason, a shortening does not.

    The ladder starts a new round from the new due time; an escalation of the old round is
    resolved as ``due_changed``. The 15-minute acknowledgement rule is not re-armed: the supervisor
    who changed the due time has seen the work.

    :raise NotFound: the clock is absent or hidden from ``actor``
    :raise AccessDenied: ``actor`` is not a supervisor or head of the owning agency
    :raise ValidationFailed: an extension without a reason, a due time before the start, or not
        exactly one of ``due_at`` and ``working_days``
    :raise InvalidTransition: the clock has stopped
    """
    now = now or clock_source.now()
    if (due_at is None) == (working_days is None):
        raise ValidationFailed("Give either due_at or extend_working_days.", field="due_at")
    if due_at is not None and due_at.tzinfo is None:
        raise ValidationFailed("due_at needs a time zone offset (e.g. Z).", field="due_at")
    current = access_clock(conn, actor, clock_id, attempted=AuditAction.CLOCK_DUE_CHANGED, lock=True)
    if not access.may_change_due(actor, agency_id=current.agency_id,
                                 heads=dq.heads_of(conn, current.agency_id)):
        record_denial(actor, AuditAction.CLOCK_DUE_CHANGED, "clock", clock_id,
                      child_id=current.child_id, reason="not_supervisor_of_agency")
        raise AccessDenied("Only a supervisor or head of the owning agency may change a due time.")
    if not current.running:
        raise InvalidTransition("The clock has stopped; its due time can no longer change.")
    cal = calendars.region_calendar(conn, current.region_id)
    if working_days is not None:
        due_at = calendar.add_working_days(current.due_at, working_days, cal)
    reason = (reason or "").strip() or None
    if due_at > current.due_at and reason is None:
        raise ValidationFailed("An extension needs a reason.", field="reason")
    if due_at == current.due_at:
        raise ValidationFailed("The clock is already due then.", field="due_at")
    if due_at < current.started_at:
        raise ValidationFailed("The due time cannot be before the clock started.", field="due_at")
    if due_at > now + HORIZON:
        raise ValidationFailed("The due time is more than five years away.", field="due_at")
    policy = dq.policy_by_id(conn, current.policy_id)
    sched = ladder.schedule(policy, current.started_at, due_at, current.unit, cal)
    reminded = sched.reminder_at <= now
    state = ladder.LadderState(reminded=reminded)
    # Recorded first: row-level security lets the due time move only once the change is on record.
    queries.record_change(conn, current.id, current.due_at, due_at, reason, actor.user_id, now)
    escalation = queries.round_escalation(conn, current.id, current.round)
    if escalation is not None and escalation.state != "resolved":
        queries.resolve(conn, escalation.id, by=actor.user_id, at=now, resolution="due_changed",
                        note=reason)
    queries.reschedule(conn, current.id, sched,
                       next_action_at=ladder.next_action_at(sched, state,
                                                            policy.unacknowledged_repeat),
                       reminded_at=now if reminded else None)
    audit.record(conn, actor=actor, action=AuditAction.CLOCK_DUE_CHANGED, object_type="clock",
                 object_id=current.id, child_id=current.child_id,
                 details={"old_due_at": current.due_at.isoformat(), "new_due_at": due_at.isoformat(),
                          "extended": due_at > current.due_at,
                          "escalation_id": escalation.id if escalation else None})
    if current.assignee_user_id is not None:
        outbox.enqueue(conn, "clock.due_changed", clock_id=current.id,
                       user_ids=[current.assignee_user_id])
    return queries.get(conn, current.id)
