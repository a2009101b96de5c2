"""API: a subject's clocks, the escalation queue and its actions, professional disagreements.

Views parse input, call one action inside one transaction and serialise the result; who may see
and do what is decided in ``services/clocks/access.py`` and the actions, and again by row-level
security.
"""
from __future__ import annotations

from typing import Annotated, Literal

from flask import Blueprint, g, jsonify
from pydantic import AwareDatetime, Field

from services import access
from services.api.spec import Strict, operation
from services.cases.paging import MAX_ID, ids_fit
from services.clocks import actions, disagreements, escalations
from services.clocks.records import SUBJECT_TYPES
from services.db import transaction
from services.security import csrf

api_bp = Blueprint("clocks_api", __name__, url_prefix="/api/v1")
csrf.exempt(api_bp)
api_bp.url_value_preprocessor(ids_fit)

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Text = Annotated[str, Field(min_length=1, max_length=4000)]


class ClocksQuery(Strict):
    subject_type: Literal[SUBJECT_TYPES]
    subject_id: Id


class QueueQuery(Strict):
    include_resolved: bool = False
    limit: int = Field(default=100, ge=1, le=500)


class DueIn(Strict):
    due_at: AwareDatetime | None = Field(default=None, description="the new due time")
    extend_working_days: int | None = Field(default=None, ge=1, le=60,
                                            description="or: move the due time this many working days later")
    reason: str | None = Field(default=None, max_length=2000,
                               description="required when the due time moves later")


class ReassignIn(Strict):
    assignee_user_id: Id


class NoteIn(Strict):
    note: Text


class ReasonIn(Strict):
    reason: Text


class DisagreementIn(Strict):
    case_id: Id
    against_agency_id: Id
    decision_type: str = Field(pattern=r"^[a-z][a-z0-9_]{2,40}$",
                               description="what was decided, e.g. screen_out, case_closure")
    decision_id: Id | None = None
    reason: Text


class DisagreementQuery(Strict):
    case_id: Id | None = None


def _iso(value):
    return value.isoformat() if value is not None else None


def _seconds(delta):
    return None if delta is None else int(delta.total_seconds())


def _clock_json(status: actions.ClockStatus) -> dict:
    c = status.clock
    return {
        "id": c.id, "kind": c.kind, "subject_type": c.subject_type, "subject_id": c.subject_id,
        "child_id": c.child_id, "agency_id": c.agency_id, "assignee_user_id": c.assignee_user_id,
        "priority": c.priority, "policy_id": c.policy_id, "policy_version": status.policy_version,
        "duration": {"amount": c.amount, "unit": c.unit},
        "started_at": _iso(c.started_at), "due_at": _iso(c.due_at),
        "time_left_seconds": _seconds(status.time_left),
        "working_time_left_seconds": _seconds(status.working_time_left),
        "overdue": status.overdue, "state": "running" if c.running else "stopped",
        "stopped_at": _iso(c.stopped_at), "stop_reason": c.stop_reason,
        "escalation": {"level": c.escalation_level, "state": c.escalation_state, "round": c.round},
        "ladder": {"reminder_at": _iso(c.reminder_at), "level_1_at": _iso(c.due_at),
                   "level_2_at": _iso(c.level_2_at), "level_3_at": _iso(c.level_3_at),
                   "unacknowledged_at": _iso(c.unacknowledged_at),
                   "next_action_at": _iso(c.next_action_at)},
        "steps": [{"round": s["round"], "step": s["step"], "repeat_no": s["repeat_no"],
                   "scheduled_at": _iso(s["scheduled_at"]), "done_at": _iso(s["done_at"]),
                   "escalation_id": s["escalation_id"]} for s in status.steps],
    }


def _escalation_json(e) -> dict:
    return {
        "id": e.id, "clock_id": e.clock_id, "round": e.round, "cause": e.cause, "level": e.level,
        "clock_kind": e.clock_kind, "priority": e.priority, "subject_type": e.subject_type,
        "subject_id": e.subject_id, "child_id": e.child_id, "agency_id": e.agency_id,
        "assignee_user_id": e.assignee_user_id, "due_at": _iso(e.due_at),
        "raised_at": _iso(e.raised_at), "level_changed_at": _iso(e.level_changed_at),
        "state": e.state, "acknowledged_at": _iso(e.acknowledged_at),
        "acknowledged_by": e.acknowledged_by, "acknowledged_level": e.acknowledged_level,
        "resolved_at": _iso(e.resolved_at), "resolved_by": e.resolved_by,
        "resolution": e.resolution, "resolution_note": e.resolution_note,
    }


def _disagreement_json(d, stages=None) -> dict:
    out = {
        "id": d.id, "case_id": d.case_id, "child_id": d.child_id, "decision_type": d.decision_type,
        "decision_id": d.decision_id, "raised_by": d.raised_by,
        "raised_by_agency_id": d.raised_by_agency_id, "against_agency_id": d.against_agency_id,
        "reason": d.reason, "stage": d.stage, "state": d.state, "opened_at": _iso(d.opened_at),
        "stage_started_at": _iso(d.stage_started_at), "stage_due_at": _iso(d.stage_due_at),
        "resolved_at": _iso(d.resolved_at), "resolved_by": d.resolved_by,
        "resolution_note": d.resolution_note,
    }
    if stages is not None:
        out["stages"] = [{"stage": s["stage"], "started_at": _iso(s["started_at"]),
                          "started_by": s["started_by"], "due_at": _iso(s["due_at"])}
                         for s in stages]
    return out


# --- clocks ---------------------------------------------------------------------------------------


@api_bp.get("/clocks")
@operation("The clocks of a referral, case, assessment, ... with time left", query=ClocksQuery,
           tags=("clocks",))
def list_clocks(query: ClocksQuery):
    actor = access.require_signed_in(g.actor)
    with transaction(actor) as conn:
        items = actions.clocks_for(conn, query.subject_type, query.subject_id, actor=actor)
    return jsonify(items=[_clock_json(s) for s in items])


@api_bp.post("/clocks/<int:clock_id>/due")
@operation("Change a clock's due time (supervisors; an extension needs a reason)", body=DueIn,
           tags=("clocks",), errors=(404, 409))
def change_clock_due(clock_id: int, body: DueIn):
    actor = access.require_signed_in(g.actor)
    with transaction(actor) as conn:
        actions.change_due(conn, actor=actor, clock_id=clock_id, due_at=body.due_at,
                           working_days=body.extend_working_days, reason=body.reason)
        status = actions.clock_status(conn, actor=actor, clock_id=clock_id)
    return jsonify(_clock_json(status))


# --- escalations ----------------------------------------------------------------------------------


@api_bp.get("/escalations")
@operation("The escalation queue: open escalations you may see, most severe and oldest first",
           query=QueueQuery, tags=("escalations",))
def list_escalations(query: QueueQuery):
    actor = access.require_signed_in(g.actor)
    with transaction(actor) as conn:
        items = escalations.queue(conn, actor=actor, include_resolved=query.include_resolved,
                                  limit=query.limit)
    return jsonify(items=[_escalation_json(e) for e in items])


@api_bp.post("/escalations/<int:escalation_id>/acknowledge")
@operation("Acknowledge an escalation addressed to you", tags=("escalations",), errors=(404, 409))
def acknowledge_escalation(escalation_id: int):
    actor = access.require_signed_in(g.actor)
    with transaction(actor) as conn:
        esc = escalations.acknowledge(conn, actor=actor, escalation_id=escalation_id)
    return jsonify(_escalation_json(esc))


@api_bp.post("/escalations/<int:escalation_id>/reassign")
@operation("Give the escalated work to another member of the owning agency", body=ReassignIn,
           tags=("escalations",), errors=(404, 409))
def reassign_escalation(escalation_id: int, body: ReassignIn):
    actor = access.require_signed_in(g.actor)
    with transaction(actor) as conn:
        esc = escalations.reassign(conn, actor=actor, escalation_id=escalation_id,
                                   assignee_user_id=body.assignee_user_id)
    return jsonify(_escalation_json(esc))


@api_bp.post("/escalations/<int:escalation_id>/extend")
@operation("Change the escalated clock's due time; an extension needs a reason", body=DueIn,
           tags=("escalations",), errors=(404, 409))
def extend_escalation(escalation_id: int, body: DueIn):
    actor = access.require_signed_in(g.actor)
    with transaction(actor) as conn:
        esc = escalations.change_due(conn, actor=actor, escalation_id=escalation_id,
                                     due_at=body.due_at, working_days=body.extend_working_days,
                                     reason=body.reason)
    return jsonify(_escalation_json(esc))


@api_bp.post("/escalations/<int:escalation_id>/resolve")
@operation("Resolve an escalation with a note", body=NoteIn, tags=("escalations",),
           errors=(404, 409))
def resolve_escalation(escalation_id: int, body: NoteIn):
    actor = access.require_signed_in(g.actor)
    with transaction(actor) as conn:
        esc = escalations.resolve(conn, actor=actor, escalation_id=escalation_id, note=body.note)
    return jsonify(_escalation_json(esc))


# --- professional disagreements -------------------------------------------------------------------


@api_bp.get("/disagreements")
@operation("Professional disagreements you may see (optionally of one case)",
           query=DisagreementQuery, tags=("disagreements",))
def list_disagreements(query: DisagreementQuery):
    actor = access.require_signed_in(g.actor)
    with transaction(actor) as conn:
        items = disagreements.listing(conn, actor=actor, case_id=query.case_id)
    return jsonify(items=[_disagreement_json(d) for d in items])


@api_bp.post("/disagreements")
@operation("Raise a professional disagreement against another agency's decision on a case",
           body=DisagreementIn, status=201, tags=("disagreements",))
def raise_disagreement(body: DisagreementIn):
    actor = access.require_signed_in(g.actor)
    with transaction(actor) as conn:
        d = disagreements.raise_disagreement(conn, actor=actor, case_id=body.case_id,
                                             against_agency_id=body.against_agency_id,
                                             decision_type=body.decision_type,
                                             decision_id=body.decision_id, reason=body.reason)
    return jsonify(_disagreement_json(d)), 201


@api_bp.get("/disagreements/<int:disagreement_id>")
@operation("One professional disagreement and its stages", tags=("disagreements",), errors=(404,))
def get_disagreement(disagreement_id: int):
    actor = access.require_signed_in(g.actor)
    with transaction(actor) as conn:
        d, stages = disagreements.view(conn, actor=actor, disagreement_id=disagreement_id)
    return jsonify(_disagreement_json(d, stages))


@api_bp.post("/disagreements/<int:disagreement_id>/advance")
@operation("Take a disagreement to its next stage", body=ReasonIn, tags=("disagreements",),
           errors=(404, 409))
def advance_disagreement(disagreement_id: int, body: ReasonIn):
    actor = access.require_signed_in(g.actor)
    with transaction(actor) as conn:
        d = disagreements.advance(conn, actor=actor, disagreement_id=disagreement_id,
                                  reason=body.reason)
    return jsonify(_disagreement_json(d))


@api_bp.post("/disagreements/<int:disagreement_id>/resolve")
@operation("Resolve a disagreement with a note", body=NoteIn, tags=("disagreements",),
           errors=(404, 409))
def resolve_disagreement(disagreement_id: int, body: NoteIn):
    actor = access.require_signed_in(g.actor)
    with transaction(actor) as conn:
        d = disagreements.resolve(conn, actor=actor, disagreement_id=disagreement_id,
                                  note=body.note)
    return jsonify(_disagreement_json(d))

