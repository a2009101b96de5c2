"""API: who accessed a child's records, what a user did, which attempts were denied."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import Blueprint, Response, g, jsonify
from pydantic import BaseModel, ConfigDict, Field

from audit.reports import MAX_ROWS, ReportRow, to_csv
from services.access import require_signed_in
from services.api.spec import Strict, operation
from services.auditing import access, actions
from services.db import transaction
from services.errors import ValidationFailed
from services.security import csrf

api_bp = Blueprint("audit_api", __name__, url_prefix="/api/v1/audit")
csrf.exempt(api_bp)


class RangeQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: datetime | None = Field(default=None, description="ISO 8601 with offset; inclusive")
    until: datetime | None = Field(default=None, description="ISO 8601 with offset; exclusive")
    limit: int = Field(default=1000, ge=1, le=MAX_ROWS)


class ChildAccessQuery(RangeQuery):
    format: Literal["json", "csv"] = "json"


class ActorOut(Strict):
    user_id: int | None
    username: str | None
    full_name: str | None
    agency_id: int | None
    agency_name: str | None
    roles: list[str]


class EventOut(Strict):
    event_id: int
    occurred_at: datetime
    action: str
    outcome: str
    actor: ActorOut
    object_type: str
    object_id: str | None
    child_id: int | None
    purpose: str | None
    request_id: str | None
    channel: str
    details: dict


class EventList(Strict):
    items: list[EventOut]
    count: int


def _range(query: RangeQuery) -> dict:
    for name in ("since", "until"):
        value = getattr(query, name)
        if value is not None and value.tzinfo is None:
            raise ValidationFailed(f"{name}: give a time zone offset (e.g. Z)", field=name)
    return {"since": query.since, "until": query.until, "limit": query.limit}


def _event(row: ReportRow) -> dict:
    return {
        "event_id": row.event_id, "occurred_at": row.occurred_at.isoformat(),
        "action": row.action, "outcome": row.outcome,
        "actor": {"user_id": row.actor_user_id, "username": row.username,
                  "full_name": row.full_name, "agency_id": row.actor_agency_id,
                  "agency_name": row.agency_name, "roles": row.actor_roles},
        "object_type": row.object_type, "object_id": row.object_id, "child_id": row.child_id,
        "purpose": row.purpose, "request_id": row.request_id, "channel": row.channel,
        "details": row.details,
    }


def _listing(rows: list[ReportRow]):
    return jsonify(items=[_event(r) for r in rows], count=len(rows))


@api_bp.get("/children/<int:child_id>/access")
@operation("Who accessed a child's records (every view, by whom, from which agency, why, "
           "allowed or denied); format=csv downloads it", query=ChildAccessQuery,
           response=EventList, tags=("audit",))
def child_access(child_id: int, query: ChildAccessQuery):
    actor = require_signed_in(g.actor)
    with transaction(actor) as conn:
        scope = access.access_reports(conn, actor, "child_access", child_id=child_id)
        rows = actions.read_child_access(conn, child_id, scope, actor=actor, fmt=query.format,
                                         **_range(query))
    if query.format == "csv":
        return Response(to_csv(rows), mimetype="text/csv", headers={
            "Content-Disposition": f'attachment; filename="child-{child_id}-access.csv"'})
    return _listing(rows)


@api_bp.get("/users/<int:user_id>/actions")
@operation("What a user did in a time range", query=RangeQuery, response=EventList,
           tags=("audit",), errors=(404,))
def user_actions(user_id: int, query: RangeQuery):
    actor = require_signed_in(g.actor)
    with transaction(actor) as conn:
        scope = access.access_user_report(conn, actor, user_id)
        rows = actions.read_user_actions(conn, user_id, scope, actor=actor, **_range(query))
    return _listing(rows)


@api_bp.get("/denied")
@operation("Refused access attempts in a time range", query=RangeQuery, response=EventList,
           tags=("audit",))
def denied(query: RangeQuery):
    actor = require_signed_in(g.actor)
    with transaction(actor) as conn:
        scope = access.access_reports(conn, actor, "denied")
        rows = actions.read_denied(conn, scope, actor=actor, **_range(query))
    return _listing(rows)
