"""API for a supervisor's approvals: the pending list and the decision."""
from __future__ import annotations

from typing import Annotated, Literal

from flask import Blueprint, g, jsonify
from pydantic import Field

from audit import AuditAction
from services import access
from services.api.spec import Strict, operation
from services.approvals import actions
from services.cases import paging
from services.db import transaction
from services.security import csrf

api_bp = Blueprint("approvals_api", __name__, url_prefix="/api/v1")
csrf.exempt(api_bp)

Kind = Literal["screen_out", "downgrade", "closure", "skip_assessment"]
api_bp.url_value_preprocessor(paging.ids_fit)


class ApprovalQuery(Strict):
    kind: Kind | None = None
    cursor: str | None = Field(default=None, max_length=300)
    limit: int = Field(default=50, ge=1, le=paging.MAX_LIMIT)


class DecisionIn(Strict):
    decision: Literal["approve", "reject"]
    note: Annotated[str, Field(min_length=1, max_length=4000)] | None = Field(
        default=None, description="required to reject, and to approve skipping an assessment")


class ApprovalOut(Strict):
    id: int
    kind: Kind
    agency_id: int
    referral_id: int | None
    case_id: int | None
    assessment_id: int | None
    child_id: int | None
    requested_by: int
    requested_at: str
    reason: str
    proposed_priority: str | None
    state: Literal["pending", "approved", "rejected"]
    decided_by: int | None
    decided_at: str | None
    decision_note: str | None


class ApprovalList(Strict):
    items: list[ApprovalOut]
    next_cursor: str | None


@api_bp.get("/approvals")
@operation("Your agency's pending approvals, oldest first (supervisors)", query=ApprovalQuery,
           response=ApprovalList, tags=("approvals",))
def list_approvals(query: ApprovalQuery):
    actor = access.require_signed_in(g.actor)
    actions.require_supervisor(actor, AuditAction.APPROVAL_LISTED)
    after = paging.decode_time_id(query.cursor)
    with transaction(actor) as conn:
        items, more = actions.list_pending(conn, actor=actor, kind=query.kind, after=after,
                                           limit=query.limit)
    cursor = paging.encode(items[-1]["requested_at"], items[-1]["id"]) if more else None
    return jsonify(items=items, next_cursor=cursor)


@api_bp.post("/approvals/<int:approval_id>")
@operation("Approve or reject (a supervisor of the agency, not the requester; once)", body=DecisionIn,
           response=ApprovalOut, tags=("approvals",), errors=(404, 409))
def decide(approval_id: int, body: DecisionIn):
    actor = access.require_signed_in(g.actor)
    approve = body.decision == "approve"
    actions.require_supervisor(actor, AuditAction.APPROVAL_GRANTED if approve else AuditAction.APPROVAL_REJECTED,
                               approval_id)
    with transaction(actor) as conn:
        decided = actions.decide(conn, approval_id, actor=actor, approve=approve, note=body.note)
    return jsonify(decided)
