"""API for configuring a region: calendar, working hours and deadline policy (system admin), and
an agency's heads (its agency admin or the system admin)."""
from __future__ import annotations

import re
from datetime import date, time
from typing import Annotated, Literal

from flask import Blueprint, g, jsonify
from pydantic import Field

from audit import AuditAction
from services import access
from services.api.spec import Strict, operation
from services.calendar import KINDS
from services.cases.paging import MAX_ID, ids_fit
from services.clocks import admin
from services.clocks.records import KINDS as CLOCK_KINDS, PRIORITIES, UNITS, Rule
from services.db import transaction
from services.errors import ValidationFailed
from services.security import csrf

api_bp = Blueprint("clocks_admin_api", __name__, url_prefix="/api/v1/admin")
csrf.exempt(api_bp)
REGION_CODE = re.compile(r"[a-z0-9-]{2,40}")  # as regions.code's CHECK constraint


def _check_path(endpoint, values) -> None:
    """Ids beyond bigint are a 404; a region code that no region can have (a NUL, capitals, 300
    characters) is a 422 naming ``code`` before it reaches PostgreSQL or the audit trail."""
    ids_fit(endpoint, values)
    code = (values or {}).get("code")
    if code is not None and not REGION_CODE.fullmatch(code):
        raise ValidationFailed("A region code is 2 to 40 lower-case letters, digits or hyphens.",
                               field="code")


api_bp.url_value_preprocessor(_check_path)

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
ClockKind = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{2,40}$",
                                 description="e.g. " + ", ".join(CLOCK_KINDS[:4]))]


class CalendarQuery(Strict):
    year: int | None = Field(default=None, ge=2000, le=2100)


class DayIn(Strict):
    kind: Literal[KINDS]
    name: str = Field(min_length=1, max_length=200)
    source: str | None = Field(default=None, max_length=300,
                               description="the decree or law, e.g. Government decree no. ...")


class HoursIn(Strict):
    day_start: time
    day_end: time


class RuleIn(Strict):
    clock_kind: ClockKind
    priority: Literal[PRIORITIES + ("any",)]
    amount: int = Field(ge=1, le=100000)
    unit: Literal[UNITS]


class RuleKey(Strict):
    clock_kind: ClockKind
    priority: Literal[PRIORITIES + ("any",)]


class LadderIn(Strict):
    reminder_percent: int | None = Field(default=None, ge=1, le=99)
    level_2_after_wd: int | None = Field(default=None, ge=0, le=60)
    level_3_after_wd: int | None = Field(default=None, ge=0, le=60)
    unacknowledged_after_minutes: int | None = Field(default=None, ge=1, le=1440)
    unacknowledged_repeat_minutes: int | None = Field(default=None, ge=1, le=1440)


class PolicyIn(Strict):
    reason: str = Field(min_length=1, max_length=1000)
    rules: list[RuleIn] = Field(default_factory=list, max_length=200)
    remove: list[RuleKey] = Field(default_factory=list, max_length=200)
    ladder: LadderIn | None = None


class HeadsIn(Strict):
    user_ids: list[Id] = Field(max_length=20)


def _parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed("The date must be YYYY-MM-DD.", field="day") from None


def _calendar_json(view: dict) -> dict:
    return {"region": view["region"], "timezone": view["timezone"],
            "working_hours": {"start": view["day_start"].isoformat(timespec="minutes"),
                              "end": view["day_end"].isoformat(timespec="minutes")},
            "entries": [{"date": e.day.isoformat(), "kind": e.kind, "name": e.name,
                         "origin": e.origin} for e in view["entries"]]}


def _policy_json(policy, versions: list[dict]) -> dict:
    return {
        "id": policy.id, "region_id": policy.region_id, "version": policy.version,
        "scope": "national" if policy.region_id is None else "region",
        "reason": policy.reason, "created_at": policy.created_at.isoformat(),
        "ladder": {"reminder_percent": policy.reminder_percent,
                   "level_2_after_wd": policy.level_2_after_wd,
                   "level_3_after_wd": policy.level_3_after_wd,
                   "unacknowledged_after_minutes": int(policy.unacknowledged_after.total_seconds() // 60),
                   "unacknowledged_repeat_minutes": int(policy.unacknowledged_repeat.total_seconds() // 60)},
        "rules": [{"clock_kind": r.clock_kind, "priority": r.priority, "amount": r.amount,
                   "unit": r.unit} for r in policy.rules],
        "versions": [{"id": v["id"], "scope": "national" if v["region_id"] is None else "region",
                      "version": v["version"], "reason": v["reason"],
                      "created_at": v["created_at"].isoformat()} for v in versions],
    }


def _ladder_changes(ladder: LadderIn | None) -> dict:
    if ladder is None:
        return {}
    changes = {k: v for k, v in ladder.model_dump().items() if v is not None}
    renames = {"unacknowledged_after_minutes": "unacknowledged_after",
               "unacknowledged_repeat_minutes": "unacknowledged_repeat"}
    return {renames.get(k, k): v for k, v in changes.items()}


@api_bp.get("/regions/<code>/calendar")
@operation("A region's effective working calendar (system admin)", query=CalendarQuery,
           tags=("admin",), errors=(404,))
def get_calendar(code: str, query: CalendarQuery):
    actor = access.require_system_admin(g.actor, AuditAction.CALENDAR_VIEWED, "region", code)
    with transaction(actor) as conn:
        view = admin.view_calendar(conn, actor=actor, region_code=code, year=query.year)
    return jsonify(_calendar_json(view))


@api_bp.put("/regions/<code>/calendar/<day>")
@operation("Add or replace the region's own entry for a date: holiday, religious day, moved day "
           "off or moved working day", body=DayIn, tags=("admin",), errors=(404,))
def put_calendar_day(code: str, day: str, body: DayIn):
    actor = access.require_system_admin(g.actor, AuditAction.CALENDAR_CHANGED, "region", code)
    with transaction(actor) as conn:
        admin.put_day(conn, actor=actor, region_code=code, day=_parse_day(day), kind=body.kind,
                      name=body.name, source=body.source)
        view = admin.view_calendar(conn, actor=actor, region_code=code)
    return jsonify(_calendar_json(view))


@api_bp.delete("/regions/<code>/calendar/<day>")
@operation("Remove the region's own entry for a date", tags=("admin",), errors=(404,))
def delete_calendar_day(code: str, day: str):
    actor = access.require_system_admin(g.actor, AuditAction.CALENDAR_CHANGED, "region", code)
    with transaction(actor) as conn:
        admin.delete_day(conn, actor=actor, region_code=code, day=_parse_day(day))
        view = admin.view_calendar(conn, actor=actor, region_code=code)
    return jsonify(_calendar_json(view))


@api_bp.put("/regions/<code>/working-hours")
@operation("Set the region's working hours", body=HoursIn, tags=("admin",), errors=(404,))
def put_working_hours(code: str, body: HoursIn):
    actor = access.require_system_admin(g.actor, AuditAction.CALENDAR_CHANGED, "region", code)
    with transaction(actor) as conn:
        admin.set_hours(conn, actor=actor, region_code=code, day_start=body.day_start,
                        day_end=body.day_end)
        view = admin.view_calendar(conn, actor=actor, region_code=code)
    return jsonify(_calendar_json(view))


@api_bp.get("/regions/<code>/deadline-policy")
@operation("The region's current deadline policy version and its history (system admin)",
           tags=("admin",), errors=(404,))
def get_policy(code: str):
    actor = access.require_system_admin(g.actor, AuditAction.DEADLINE_POLICY_VIEWED, "region", code)
    with transaction(actor) as conn:
        policy, versions = admin.view_policy(conn, actor=actor, region_code=code)
    return jsonify(_policy_json(policy, versions))


@api_bp.put("/regions/<code>/deadline-policy")
@operation("Save a new version of the region's deadline policy: the current one with these "
           "rules set, these removed and these ladder settings changed", body=PolicyIn,
           tags=("admin",), errors=(404,))
def put_policy(code: str, body: PolicyIn):
    actor = access.require_system_admin(g.actor, AuditAction.DEADLINE_POLICY_CHANGED, "region", code)
    with transaction(actor) as conn:
        admin.save_policy(conn, actor=actor, region_code=code, reason=body.reason,
                          rules=[Rule(r.clock_kind, r.priority, r.amount, r.unit) for r in body.rules],
                          remove=[(r.clock_kind, r.priority) for r in body.remove],
                          ladder=_ladder_changes(body.ladder))
        policy, versions = admin.view_policy(conn, actor=actor, region_code=code)
    return jsonify(_policy_json(policy, versions))


@api_bp.put("/agencies/<int:agency_id>/heads")
@operation("Name the agency's heads, level 2 of the escalation ladder (agency or system admin)",
           body=HeadsIn, tags=("admin",), errors=(404,))
def put_heads(agency_id: int, body: HeadsIn):
    actor = access.require_user_admin(g.actor, agency_id, AuditAction.AGENCY_HEADS_CHANGED)
    with transaction(actor) as conn:
        heads = admin.set_heads(conn, actor=actor, agency_id=agency_id, user_ids=body.user_ids)
    return jsonify(agency_id=agency_id, user_ids=heads)
