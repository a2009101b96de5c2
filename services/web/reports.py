"""Audit report pages for oversight and supervisors, each downloadable as CSV:
who has seen a child's record, what a user did, which attempts were refused.

Scope and audit are ``services.auditing``'s (the API's): oversight reads its region, a
supervisor their own agency's staff, and reading a report is itself recorded.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import audit
from flask import Blueprint, Response, abort, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from audit import AuditAction
from audit.reports import MAX_ROWS, to_csv
from services.agencies import queries as agency_queries
from services.auditing import access, actions
from services.db import transaction
from services.errors import NotFound
from services.web.forms import FormErrors, integer

bp = Blueprint("reports", __name__, url_prefix="/reports")
PAGE_ROWS = 500


def _signed_in():
    if g.get("actor") is None:
        abort(redirect(url_for("auth.login", next=request.full_path.rstrip("?"))))
    return g.actor


def _day(errors: FormErrors, field: str):
    raw = (request.args.get(field) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors.add(field, _("Enter a date such as 2014-09-01."))
        return None


def _range(errors: FormErrors) -> dict:
    """``since``/``until`` days in the region's zone as [start of since, end of until)."""
    zone = ZoneInfo(current_app.config["QORGAU_SETTINGS"].timezone)
    since, until = _day(errors, "since"), _day(errors, "until")
    if since and until and until < since:
        errors.add("until", _("The end date is before the start date."))
    return {"since": datetime.combine(since, time(), zone) if since else None,
            "until": datetime.combine(until + timedelta(days=1), time(), zone) if until else None}


def _csv(rows, name: str) -> Response:
    return Response(to_csv(rows), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


def _render(report: str, *, rows=None, errors: FormErrors, **context):
    status = errors.status if errors else 200
    return render_template("reports/report.html", report=report, rows=rows, errors=errors,
                           args=request.args, max_rows=PAGE_ROWS, **context), status


@bp.get("")
def index():
    actor = _signed_in()
    with transaction(actor) as conn:
        access.access_reports(conn, actor, "index")
    return render_template("reports/index.html")


@bp.get("/child-access")
def child_access():
    """Who has seen this child's record: every view, by whom, from which agency, why."""
    actor = _signed_in()
    errors = FormErrors()
    child_id = integer(request.args, errors, "child_id") if "child_id" in request.args else None
    window = _range(errors)
    wants_csv = request.args.get("format") == "csv"
    with transaction(actor) as conn:
        scope = access.access_reports(conn, actor, "child_access", child_id=child_id)
        if child_id is None or errors:
            return _render("child_access", errors=errors, child_id=child_id)
        rows = actions.read_child_access(conn, child_id, scope, actor=actor,
                                         limit=MAX_ROWS if wants_csv else PAGE_ROWS,
                                         fmt="csv" if wants_csv else "json", **window)
    if wants_csv:
        return _csv(rows, f"child-{child_id}-access")
    return _render("child_access", rows=rows, errors=errors, child_id=child_id)


@bp.get("/user-actions")
def user_actions():
    """Everything a user did in a time range."""
    actor = _signed_in()
    errors = FormErrors()
    username = (request.args.get("username") or "").strip()
    window = _range(errors)
    wants_csv = request.args.get("format") == "csv"
    with transaction(actor) as conn:
        access.access_reports(conn, actor, "user_actions")
        if not username or errors:
            if "username" in request.args and not username:
                errors.add("username", _("This field is required."))
            return _render("user_actions", errors=errors, username=username)
        user = agency_queries.get_user_by_username(conn, username)
    with transaction(actor) as conn:
        try:
            scope = access.access_user_report(conn, actor, user.id if user else 0)
        except NotFound:
            errors = FormErrors()
            errors.status = 404
            errors.add("username", _("No such user among the people whose work you oversee."))
            return _render("user_actions", errors=errors, username=username)
        rows = actions.read_user_actions(conn, user.id, scope, actor=actor,
                                         limit=MAX_ROWS if wants_csv else PAGE_ROWS, **window)
        if wants_csv:
            audit.record(conn, actor=actor, action=AuditAction.EXPORT, object_type="user",
                         object_id=user.id, purpose="audit_report",
                         details={"report": "user_actions", "rows": len(rows), "format": "csv"})
    if wants_csv:
        return _csv(rows, f"user-{user.username}-actions")
    return _render("user_actions", rows=rows, errors=errors, username=username)


@bp.get("/denied")
def denied():
    """Refused attempts (probing shows up here)."""
    actor = _signed_in()
    errors = FormErrors()
    window = _range(errors)
    wants_csv = request.args.get("format") == "csv"
    with transaction(actor) as conn:
        scope = access.access_reports(conn, actor, "denied")
        if errors:
            return _render("denied", errors=errors)
        rows = actions.read_denied(conn, scope, actor=actor,
                                   limit=MAX_ROWS if wants_csv else PAGE_ROWS, **window)
        if wants_csv:
            audit.record(conn, actor=actor, action=AuditAction.EXPORT, object_type="audit_report",
                         object_id="denied", purpose="audit_report",
                         details={"report": "denied", "rows": len(rows), "format": "csv"})
    if wants_csv:
        return _csv(rows, "denied-attempts")
    return _render("denied", rows=rows, errors=errors)
