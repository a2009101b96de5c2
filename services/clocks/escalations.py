"""The supervisor's queue and what its owners do with an escalation (issue 5 item 4).

Acknowledge ("I have seen it": stops the 15-minute repeat), reassign the work, change the due time
(``actions.change_due``), resolve with a note (stops the climb). Each is allowed to the people on
the escalation's ladder at its level, and to nobody else.
"""
from __future__ import annotations

from datetime import datetime

import audit
from audit import Actor, AuditAction
from services import clock as clock_source
from services import outbox
from services.access import record_denial
from services.clocks import access, actions, ladder, queries
from services.clocks import deadline_queries as dq
from services.clocks.records import Escalation
from services.errors import AccessDenied, InvalidTransition, NotFound, ValidationFailed

HIDDEN = "No such escalation, or it is not yours to see."


def queue(conn, *, actor: Actor, include_resolved: bool = False, limit: int = 200) -> list[Escalation]:
    """Escalations the actor may see, most severe (level, then priority) and oldest first."""
    headed = queries.headed_agencies(conn, actor.user_id)
    owned = set(headed) | ({actor.agency_id} if actor.has("supervisor") and actor.agency_id else set())
    rows = queries.queue(conn, include_resolved=include_resolved, limit=limit,
                         everything=actor.has("system"), user_id=actor.user_id,
                         agency_ids=sorted(owned),
                         unassigned_of=actor.agency_id if actor.has("caseworker") else None,
                         region_id=actor.region_id if actor.has("oversight") else None)
    # Whether the actor heads an agency is all may_see asks of its heads: the actor's own
    # headships, read once, stand for the heads of every agency in the list.
    items = [e for e in rows
             if access.may_see(actor, agency_id=e.agency_id, region_id=e.region_id,
                               assignee_user_id=e.assignee_user_id,
                               heads=[actor.user_id] if e.agency_id in headed else [])]
    audit.record(conn, actor=actor, action=AuditAction.ESCALATIONS_LISTED, object_type="escalation",
                 object_id=None, details={"escalation_count": len(items),
                                          "include_resolved": include_resolved})
    return items


def access_escalation(conn, actor: Actor, escalation_id: int, attempted: AuditAction, *,
                      on_ladder: bool = True) -> Escalation:
    """The escalation, locked, if ``actor`` may see it (404 otherwise) and, when asked, stands
    on its ladder at its level (403 naming why otherwise).

    Locks are taken clock first, then escalation, the order the sweep takes them in, so that an
    owner acting while the sweep climbs the same escalation waits instead of deadlocking.
    """
    found = queries.get_escalation(conn, escalation_id)
    heads = dq.heads_of(conn, found.agency_id) if found else []
    if found is None or not access.may_see(actor, agency_id=found.agency_id,
                                           region_id=found.region_id,
                                           assignee_user_id=found.assignee_user_id, heads=heads):
        record_denial(actor, attempted, "escalation", escalation_id)
        raise NotFound(HIDDEN)
    queries.get(conn, found.clock_id, lock=True)
    found = queries.get_escalation(conn, escalation_id, lock=True)
    if on_ladder:
        reason = access.off_ladder_reason(actor, level=found.level, agency_id=found.agency_id,
                                          region_id=found.region_id, heads=heads)
        if reason is not None:
            record_denial(actor, attempted, "escalation", escalation_id,
                          child_id=found.child_id, reason=reason)
            raise AccessDenied(
                "Only the people this escalation is addressed to may act on it: the owning "
                "agency's supervisors and head, and oversight once it reaches level 3.",
                field="escalation", reason=reason)
    return found


def acknowledge(conn, *, actor: Actor, escalation_id: int, now: datetime | None = None) -> Escalation:
    """Record that an owner has seen the escalation at its current level.

    :raise InvalidTransition: already acknowledged at this level, or resolved
    """
    now = now or clock_source.now()
    esc = access_escalation(conn, actor, escalation_id, AuditAction.ESCALATION_ACKNOWLEDGED)
    if esc.state == "resolved":
        raise InvalidTransition("The escalation is resolved.")
    if esc.state == "acknowledged":
        raise InvalidTransition(f"The escalation was already acknowledged at level "
                                f"{esc.acknowledged_level}.")
    queries.acknowledge(conn, esc.id, by=actor.user_id, level=esc.level, at=now)
    clock = queries.get(conn, esc.clock_id, lock=True)
    if clock.round == esc.round and clock.escalation_state == "open":
        # The 15-minute repeat stops for good: its next instant leaves the schedule.
        policy = dq.policy_by_id(conn, clock.policy_id)
        state = ladder.acknowledged(ladder.LadderState(clock.reminded_at is not None,
                                                       clock.escalation_level, "open", clock.repeats))
        queries.save_ladder(conn, clock.id, reminded_at=clock.reminded_at, level=state.level,
                            state=state.state, repeats=state.repeats,
                            next_action_at=ladder.next_action_at(clock.schedule(), state,
                                                                 policy.unacknowledged_repeat))
    audit.record(conn, actor=actor, action=AuditAction.ESCALATION_ACKNOWLEDGED,
                 object_type="escalation", object_id=esc.id, child_id=esc.child_id,
                 details={"clock_id": esc.clock_id, "level": esc.level})
    return queries.get_escalation(conn, esc.id)


def reassign(conn, *, actor: Actor, escalation_id: int, assignee_user_id: int,
             now: datetime | None = None) -> Escalation:
    """Give the late work to another member of the owning agency, who is told of it.

    :raise ValidationFailed: the new assignee is not an active practitioner of the agency
    """
    esc = access_escalation(conn, actor, escalation_id, AuditAction.ESCALATION_REASSIGNED)
    if esc.state == "resolved":
        raise InvalidTransition("The escalation is resolved.")
    member = queries.user_in_agency(conn, assignee_user_id, esc.agency_id)
    if member is None or not {"caseworker", "supervisor"} & set(member["roles"]):
        raise ValidationFailed("The new assignee must be an active caseworker or supervisor of "
                               "the owning agency.", field="assignee_user_id")
    if assignee_user_id == esc.assignee_user_id:
        raise ValidationFailed("The work is already assigned to this person.",
                               field="assignee_user_id")
    queries.set_assignee(conn, esc.clock_id, assignee_user_id)
    outbox_id = outbox.enqueue(conn, "escalation.reassigned", clock_id=esc.clock_id,
                               escalation_id=esc.id, user_ids=[assignee_user_id])
    audit.record(conn, actor=actor, action=AuditAction.ESCALATION_REASSIGNED,
                 object_type="escalation", object_id=esc.id, child_id=esc.child_id,
                 details={"clock_id": esc.clock_id, "from_user_id": esc.assignee_user_id,
                          "to_user_id": assignee_user_id, "outbox_id": outbox_id})
    return queries.get_escalation(conn, esc.id)


def change_due(conn, *, actor: Actor, escalation_id: int, due_at: datetime | None = None,
               working_days: int | None = None, reason: str | None,
               now: datetime | None = None) -> Escalation:
    """Change the due time of the escalated clock (an extension needs a reason)."""
    esc = access_escalation(conn, actor, escalation_id, AuditAction.CLOCK_DUE_CHANGED)
    if esc.state == "resolved":
        raise InvalidTransition("The escalation is resolved.")
    actions.change_due(conn, actor=actor, clock_id=esc.clock_id, due_at=due_at,
                       working_days=working_days, reason=reason, now=now)
    return queries.get_escalation(conn, esc.id)


def resolve(conn, *, actor: Actor, escalation_id: int, note: str,
            now: datetime | None = None) -> Escalation:
    """Close the escalation with a note; the clock climbs no further this round.

    :raise ValidationFailed: no note
    :raise InvalidTransition: already resolved
    """
    now = now or clock_source.now()
    note = (note or "").strip()
    if not note:
        raise ValidationFailed("A resolution needs a note.", field="note")
    esc = access_escalation(conn, actor, escalation_id, AuditAction.ESCALATION_RESOLVED)
    if esc.state == "resolved":
        raise InvalidTransition(f"The escalation was already resolved at {esc.resolved_at.isoformat()}.")
    queries.resolve(conn, esc.id, by=actor.user_id, at=now, resolution="resolved", note=note)
    clock = queries.get(conn, esc.clock_id, lock=True)
    if clock.round == esc.round:
        queries.save_ladder(conn, clock.id, reminded_at=clock.reminded_at,
                            level=clock.escalation_level, state="resolved", repeats=clock.repeats,
                            next_action_at=None)
    audit.record(conn, actor=actor, action=AuditAction.ESCALATION_RESOLVED,
                 object_type="escalation", object_id=esc.id, child_id=esc.child_id,
                 details={"clock_id": esc.clock_id, "level": esc.level})
    return queries.get_escalation(conn, esc.id)
