"""Clocks as pages show them: what is due, when, how much time is left, how urgent it is.

Reads go through ``services.clocks.actions.clocks_for``, which filters by who may see each clock
and audits the read, as the API does.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from audit import Actor
from services import clock as clock_source

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


def urgency(running: bool, overdue: bool, time_left: timedelta | None, started_at: datetime,
            due_at: datetime) -> str:
    """overdue, soon (less than a quarter of the time left), ok, or stopped."""
    if not running:
        return "stopped"
    if overdue:
        return "overdue"
    if time_left is not None and time_left < (due_at - started_at) * SOON_SHARE:
        return "soon"
    return "ok"


def _row(status) -> ClockRow:
    c = status.clock
    return ClockRow(id=c.id, kind=c.kind, subject_type=c.subject_type, subject_id=c.subject_id,
                    priority=c.priority, due_at=c.due_at, time_left=status.time_left,
                    overdue=status.overdue, running=c.running,
                    urgency=urgency(c.running, status.overdue, status.time_left, c.started_at, c.due_at),
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


@dataclass(frozen=True)
class Stage:
    """One stage of a disagreement with its clock as the page shows it."""

    number: int
    started_at: datetime
    due_at: datetime
    current: bool
    time_left: timedelta | None
    urgency: str  # overdue | soon | ok | stopped


def disagreements_of_case(conn, case_id: int, *, actor: Actor) -> list[dict]:
    """The case's disagreements the actor may see, each with its stages (both reads audited)."""
    from services.clocks import disagreements

    out = []
    now = clock_source.now()
    for d in disagreements.listing(conn, actor=actor, case_id=case_id):
        d, rows = disagreements.view(conn, actor=actor, disagreement_id=d.id)
        stages = []
        for row in rows:
            current = d.state == "open" and row["stage"] == d.stage
            left = row["due_at"] - now if current else None
            stages.append(Stage(row["stage"], row["started_at"], row["due_at"], current, left,
                                urgency(current, current and left < timedelta(0), left,
                                        row["started_at"], row["due_at"])))
        party = actor.agency_id in (d.raised_by_agency_id, d.against_agency_id)
        # Whom the page offers the forms (the action decides again): practitioners of either
        # party at stage 1, their supervisors at stage 2, oversight at stage 3.
        acts = d.state == "open" and (
            (d.stage == 1 and party and (actor.has("caseworker") or actor.has("supervisor")))
            or (d.stage == 2 and party and actor.has("supervisor"))
            or (d.stage == 3 and actor.has("oversight")))
        out.append({"d": d, "stages": stages, "acts": acts})
    return out
