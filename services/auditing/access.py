"""Who may read audit reports, and about whom (DESIGN.md §5; issue 3 item 6).

Oversight reads the actions of every agency in its region; a supervisor reads the actions of
their own agency's staff; nobody else reads audit reports. Row-level security on the audit table
applies the same rule a second time.
"""
from __future__ import annotations

from audit import Actor, AuditAction
from audit.reports import Scope
from services import access
from services.errors import AccessDenied, NotFound

REPORT = AuditAction.AUDIT_REPORT_VIEWED


def _region_of(conn, agency_id: int | None) -> int | None:
    if agency_id is None:
        return None
    row = conn.execute("SELECT region_id FROM agencies WHERE id = %s", (agency_id,)).fetchone()
    return row["region_id"] if row else None


def report_scope(conn, actor: Actor) -> Scope | None:
    """The actors whose events ``actor`` may see in reports; None if no report is theirs."""
    region_id = None
    agency_id = None
    if actor.has("oversight"):
        region_id = actor.region_id or _region_of(conn, actor.agency_id)
    if actor.has("supervisor"):
        agency_id = actor.agency_id
    if region_id is None and agency_id is None:
        return None
    return Scope(region_id=region_id, agency_id=agency_id)


def user_in_scope(conn, user_id: int, scope: Scope) -> bool:
    """True if ``user_id`` works for an agency inside ``scope``."""
    row = conn.execute("SELECT u.agency_id, a.region_id FROM users u"
                       " JOIN agencies a ON a.id = u.agency_id WHERE u.id = %s",
                       (user_id,)).fetchone()
    if row is None:
        return False
    if scope.agency_id is not None and row["agency_id"] == scope.agency_id:
        return True
    if scope.region_id is not None and row["region_id"] == scope.region_id:
        return True
    return False


def access_reports(conn, actor: Actor | None, report: str, *, child_id: int | None = None) -> Scope:
    """The caller's report scope.

    :raise 401: if nobody is signed in
    :raise 403: if the caller is neither oversight nor a supervisor (the refusal is audited)
    """
    actor = access.require_signed_in(actor)
    scope = report_scope(conn, actor)
    if scope is None:
        access.record_denial(actor, REPORT, "audit_report", report, child_id=child_id,
                             reason="not_oversight_or_supervisor")
        raise AccessDenied("Audit reports are for oversight and supervisors.")
    return scope


def access_user_report(conn, actor: Actor | None, user_id: int) -> Scope:
    """The caller's scope for a report on ``user_id``.

    :raise 404: if the user does not exist or works outside the caller's scope (audited)
    """
    scope = access_reports(conn, actor, "user_actions")
    if not user_in_scope(conn, user_id, scope):
        access.record_denial(actor, REPORT, "user", user_id, reason="user_outside_scope")
        raise NotFound("No such user.")
    return scope
