"""API for emergency access grants: ask for one, list them, review one."""
from __future__ import annotations

from typing import Annotated, Literal

from flask import Blueprint, g, jsonify
from pydantic import Field

from audit import AuditAction
from services import access
from services.api.spec import Strict, operation
from services.cases import paging
from services.db import transaction
from services.errors import AccessDenied, AuthenticationRequired, NotFound, TooManyRequests
from services.grants import actions
from services.security import csrf

api_bp = Blueprint("grants_api", __name__, url_prefix="/api/v1")
api_bp.url_value_preprocessor(paging.ids_fit)
csrf.exempt(api_bp)


class GrantIn(Strict):
    child_id: Annotated[int, Field(ge=1, le=paging.MAX_ID)]
    reason: str = Field(min_length=20, max_length=2000,
                        description="why the child's record must be opened now (at least 20 characters)")
    password: str = Field(min_length=1, max_length=256, description="your password, entered again")


class GrantQuery(Strict):
    pending_review: bool = Field(default=False, description="1: only grants not yet reviewed")
    cursor: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=50, ge=1, le=paging.MAX_LIMIT)


class ReviewIn(Strict):
    outcome: Literal["justified", "unjustified"]
    note: Annotated[str, Field(min_length=1, max_length=4000)] | None = Field(
        default=None, description="required when the access was not justified")
    revoke: bool = Field(default=False, description="end the grant now (always, when unjustified)")


class GrantOut(Strict):
    id: int
    user_id: int
    agency_id: int
    child_id: int
    reason: str
    granted_at: str
    expires_at: str
    live: bool
    revoked_at: str | None
    reviewed_by: int | None
    reviewed_at: str | None
    review_outcome: Literal["justified", "unjustified"] | None
    review_note: str | None


class GrantList(Strict):
    items: list[GrantOut]
    next_cursor: str | None


@api_bp.post("/access-grants")
@operation("Emergency access to a child for 4 hours: a caseworker states why and re-enters their "
           "password", body=GrantIn, response=GrantOut, status=201, tags=("access-grants",),
           errors=(404, 429))
def create_grant(body: GrantIn):
    actor = access.require_signed_in(g.actor)
    if not (actor.kind == "user" and actor.has("caseworker")):
        access.record_denial(actor, AuditAction.EMERGENCY_ACCESS_GRANTED, "child", body.child_id,
                             reason="not_caseworker")
        raise AccessDenied("Only a caseworker may ask for emergency access.")
    with transaction(actor) as conn:
        outcome = actions.grant_emergency_access(conn, actor=actor, child_id=body.child_id,
                                                 reason=body.reason, password=body.password)
    # The transaction has committed the failed attempt's count and audit event; now refuse.
    if outcome.refused == "locked":
        raise TooManyRequests("Too many wrong passwords; try again later.", field="password",
                              retry_after=outcome.retry_after)
    if outcome.refused == "no_child":
        raise NotFound("No such child in your region.", field="child_id")
    if outcome.refused:
        raise AuthenticationRequired("The password is not right; nothing was granted.", field="password")
    return jsonify(actions.grant_json(outcome.grant)), 201


@api_bp.get("/access-grants")
@operation("Emergency grants: a supervisor's agency (pending_review=1: the review list), oversight's "
           "region, a caseworker's own", query=GrantQuery, response=GrantList, tags=("access-grants",))
def list_grants(query: GrantQuery):
    actor = access.require_signed_in(g.actor)
    if not (actor.kind == "user" and any(actor.has(r) for r in ("caseworker", "supervisor", "oversight"))):
        access.record_denial(actor, AuditAction.EMERGENCY_ACCESS_LISTED, "access_grant", None,
                             reason="no_grant_role")
        raise AccessDenied("Your role has no emergency grants to see.")
    before = paging.decode_id(query.cursor)
    with transaction(actor) as conn:
        items, more = actions.list_grants(conn, actor=actor, pending_review=query.pending_review,
                                          before_id=before, limit=query.limit)
    return jsonify(items=items, next_cursor=paging.encode(items[-1]["id"]) if more else None)


@api_bp.post("/access-grants/<int:grant_id>/review")
@operation("Review an emergency grant (a supervisor of the holder's agency; once)", body=ReviewIn,
           response=GrantOut, tags=("access-grants",), errors=(404, 409))
def review_grant(grant_id: int, body: ReviewIn):
    actor = access.require_signed_in(g.actor)
    if not (actor.kind == "user" and actor.has("supervisor")):
        access.record_denial(actor, AuditAction.EMERGENCY_ACCESS_REVIEWED, "access_grant", grant_id,
                             reason="not_supervisor")
        raise AccessDenied("Only a supervisor reviews emergency access.")
    with transaction(actor) as conn:
        reviewed = actions.review_grant(conn, grant_id, actor=actor, outcome=body.outcome, note=body.note,
                                        revoke=body.revoke)
    return jsonify(reviewed)
