"""Deciding an approval: one dispatcher for every kind, so the rules every decision shares (a
supervisor of the agency, not the person who asked, once) are written once.

Contract with the kind handlers: the dispatcher locks the approval row and checks it is pending;
the handler ``(conn, approval_row, *, actor, approve: bool, note)`` applies the consequence (closes
the case, skips the assessment, screens the referral out, lowers its priority) and writes that
consequence's audit event; the dispatcher then marks the approval decided (unless the handler
already did) and writes APPROVAL_GRANTED or APPROVAL_REJECTED.
"""
from __future__ import annotations

import importlib
from datetime import datetime
from typing import Callable

import audit
from audit import Actor, AuditAction
from services import access
from services.approvals import queries
from services.errors import AccessDenied, Conflict, NotFound, ValidationFailed

# Where each kind is decided. Screen-outs and downgrades belong to referrals and are imported only
# when used, so that this module does not depend on the referrals package being present.
HANDLERS = {
    "closure": ("services.cases.actions", "decide_closure"),
    "skip_assessment": ("services.cases.actions", "decide_skip"),
    "screen_out": ("services.referrals.actions", "approve_screen_out"),
    "downgrade": ("services.referrals.actions", "approve_downgrade"),
}
KINDS = tuple(HANDLERS)


def _handler(kind: str) -> Callable:
    module_name, name = HANDLERS[kind]
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError):
        raise Conflict(f"Deciding {kind} approvals is not available yet.", field="kind") from None


def require_supervisor(actor: Actor, attempted: AuditAction, approval_id=None) -> None:
    if not (actor.kind == "user" and actor.has("supervisor")):
        access.record_denial(actor, attempted, "approval", approval_id, reason="not_supervisor")
        raise AccessDenied("Only a supervisor decides approvals.")


def list_pending(conn, *, actor: Actor, kind: str | None, after: tuple[datetime, int] | None,
                 limit: int) -> tuple[list[dict], bool]:
    """One page of the actor's agency's pending approvals."""
    rows = queries.pending(conn, actor.agency_id, kind=kind, after=after, limit=limit + 1)
    items = [approval_json(r) for r in rows[:limit]]
    audit.record(conn, actor=actor, action=AuditAction.APPROVAL_LISTED, object_type="agency",
                 object_id=str(actor.agency_id),
                 details={"count": len(items), "kind": kind, "approval_ids": [i["id"] for i in items][:32]})
    return items, len(rows) > limit


def approval_json(row: dict) -> dict:
    return {"id": row["id"], "kind": row["kind"], "agency_id": row["agency_id"],
            "referral_id": row["referral_id"], "case_id": row["case_id"],
            "assessment_id": row["assessment_id"], "child_id": row.get("case_child_id"),
            "requested_by": row["requested_by"], "requested_at": row["requested_at"].isoformat(),
            "reason": row["reason"], "proposed_priority": row["proposed_priority"],
            "state": row["state"], "decided_by": row["decided_by"],
            "decided_at": row["decided_at"].isoformat() if row["decided_at"] else None,
            "decision_note": row["decision_note"]}


def decide(conn, approval_id: int, *, actor: Actor, approve: bool, note: str | None) -> dict:
    """Approve or reject a pending approval of the actor's agency."""
    attempted = AuditAction.APPROVAL_GRANTED if approve else AuditAction.APPROVAL_REJECTED
    approval = queries.lock(conn, approval_id)  # row-level security: own agency, supervisors
    if approval is None:
        access.record_denial(actor, attempted, "approval", approval_id, reason="not_found_or_other_agency")
        raise NotFound("No such approval, or it is not yours to decide.")
    if approval["state"] != "pending":
        raise Conflict(f"This approval was already {approval['state']}.", field="decision",
                       state=approval["state"])
    if approval["requested_by"] == actor.user_id:
        # Four eyes: the point of a supervisor's approval is a second person's judgement.
        access.record_denial(actor, attempted, "approval", approval_id, reason="own_request")
        raise AccessDenied("Another supervisor must decide your own request.")
    if not approve and not note:
        raise ValidationFailed("Say why the request is rejected.", field="note")
    _handler(approval["kind"])(conn, approval, actor=actor, approve=approve, note=note)
    queries.mark_decided(conn, approval_id, approved=approve, decided_by=actor.user_id, note=note)
    child_id = queries.child_of(conn, approval)
    audit.record(conn, actor=actor, action=attempted, object_type="approval", object_id=str(approval_id),
                 child_id=child_id,
                 details={"kind": approval["kind"], "case_id": approval["case_id"],
                          "referral_id": approval["referral_id"],
                          "assessment_id": approval["assessment_id"]})
    return approval_json({**queries.lock(conn, approval_id), "case_child_id": child_id})
