"""Reading an audit report is itself recorded, in the transaction that reads it."""
from __future__ import annotations

from datetime import datetime

import audit
from audit import Actor, AuditAction, reports
from audit.reports import ReportRow, Scope


def _details(report: str, rows: list[ReportRow], since, until, fmt: str) -> dict:
    details = {"report": report, "rows": len(rows), "format": fmt}
    if since is not None:
        details["since"] = since.isoformat()
    if until is not None:
        details["until"] = until.isoformat()
    return details


def read_child_access(conn, child_id: int, scope: Scope, *, actor: Actor, since: datetime | None,
                      until: datetime | None, limit: int, fmt: str) -> list[ReportRow]:
    """Who accessed ``child_id``'s records; a CSV download is recorded as an export."""
    rows = reports.child_access(conn, child_id, scope, since=since, until=until, limit=limit)
    audit.record(conn, actor=actor,
                 action=AuditAction.EXPORT if fmt == "csv" else AuditAction.AUDIT_REPORT_VIEWED,
                 object_type="audit_report", object_id="child_access", child_id=child_id,
                 purpose="audit_report", details=_details("child_access", rows, since, until, fmt))
    return rows


def read_user_actions(conn, user_id: int, scope: Scope, *, actor: Actor, since: datetime | None,
                      until: datetime | None, limit: int) -> list[ReportRow]:
    """What ``user_id`` did in the range."""
    rows = reports.user_actions(conn, user_id, scope, since=since, until=until, limit=limit)
    audit.record(conn, actor=actor, action=AuditAction.AUDIT_REPORT_VIEWED,
                 object_type="user", object_id=user_id, purpose="audit_report",
                 details=_details("user_actions", rows, since, until, "json"))
    return rows


def read_denied(conn, scope: Scope, *, actor: Actor, since: datetime | None,
                until: datetime | None, limit: int) -> list[ReportRow]:
    """Refused attempts in the range."""
    rows = reports.denied(conn, scope, since=since, until=until, limit=limit)
    audit.record(conn, actor=actor, action=AuditAction.AUDIT_REPORT_VIEWED,
                 object_type="audit_report", object_id="denied", purpose="audit_report",
                 details=_details("denied", rows, since, until, "json"))
    return rows
