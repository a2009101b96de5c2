"""Clocks as pages show them: what is due, when, how much time is left, how urgent it is.

Reads go through ``services.clocks.actions.clocks_for``, which filters by who may see each clock
and audits the read, as the API does.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from audit import Actor

# A clock with less than this share of its time left is shown as "due soon".
SOON_SHARE = 0.25


@dataclass(frozen=True)
class ClockRow:
    id: int
    kind: str
    subject_type: str
    subject_id: int
    priority: str
    due_at: datetime
    time_left: timedelta | None
    overdue: bool
    running: bool
    urgency: str  # overdue | soon | ok | stopped
    level: int
    agency_id: int
    assignee_user_id: int | None


def _row(status) -> ClockRow:
    c = status.clock
    if not c.running:
        urgency = "stopped"
    elif status.overdue:
        urgency = "overdue"
    elif status.time_left is not None and status.time_left < (c.due_at - c.started_at) * SOON_SHARE:
        urgency = "soon"
    else:
        urgency = "ok"
    return ClockRow(id=c.id, kind=c.kind, subject_type=c.subject_type, subject_id=c.subject_id,
                    priority=c.priority, due_at=c.due_at, time_left=status.time_left,
                    overdue=status.overdue, running=c.running, urgency=urgency,
                    level=c.escalation_level, agency_id=c.agency_id,
                    assignee_user_id=c.assignee_user_id)


def for_subject(conn, subject_type: str, subject_id: int, *, actor: Actor) -> list[ClockRow]:
    """The subject's clocks the actor may see, running ones first, soonest due first."""
    try:
        from services.clocks import actions
    except ImportError:  # a build without the Clocks capability shows no clocks
        return []

    rows = [_row(s) for s in actions.clocks_for(conn, subject_type, subject_id, actor=actor)]
    return sorted(rows, key=lambda r: (not r.running, r.due_at))


def for_case(conn, case, *, actor: Actor, assessment_ids=()) -> list[ClockRow]:
    """Clocks of the case and of its assessments."""
    rows = for_subject(conn, "case", case.id, actor=actor)
    for assessment_id in assessment_ids:
        rows += for_subject(conn, "assessment", assessment_id, actor=actor)
    return sorted(rows, key=lambda r: (not r.running, r.due_at))


def for_cases(conn, case_ids: list[int], *, actor: Actor) -> dict[int, list[ClockRow]]:
    """Running clocks of each case in a list."""
    return {case_id: [r for r in for_subject(conn, "case", case_id, actor=actor) if r.running]
            for case_id in case_ids}

