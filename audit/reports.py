"""Read-only audit reports (DESIGN.md §5): who accessed a child's records, what a user did,
which attempts were denied. Every query is bounded by a ``Scope`` the caller has decided."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, fields
from datetime import datetime

from psycopg.rows import class_row

MAX_ROWS = 5000


@dataclass(frozen=True)
class Scope:
    """Whose actions a reader may see: those of a region's agencies, of one agency, or both."""

    region_id: int | None = None
    agency_id: int | None = None


@dataclass(frozen=True)
class ReportRow:
    event_id: int
    occurred_at: datetime
    action: str
    outcome: str
    actor_user_id: int | None
    username: str | None
    full_name: str | None
    actor_agency_id: int | None
    agency_name: str | None
    actor_roles: list[str]
    object_type: str
    object_id: str | None
    child_id: int | None
    purpose: str | None
    request_id: str | None
    channel: str
    details: dict


SELECT = """
SELECT e.id AS event_id, e.occurred_at, e.action, e.outcome, e.actor_user_id, u.username,
       u.full_name, e.actor_agency_id, a.name AS agency_name, e.actor_roles, e.object_type,
       e.object_id, e.child_id, e.purpose, e.request_id, e.channel, e.details
  FROM audit.events e
  LEFT JOIN public.users u ON u.id = e.actor_user_id
  LEFT JOIN public.agencies a ON a.id = e.actor_agency_id
 WHERE {where}
   AND (e.actor_region_id = %(scope_region)s OR e.actor_agency_id = %(scope_agency)s)
   AND (%(since)s::timestamptz IS NULL OR e.occurred_at >= %(since)s)
   AND (%(until)s::timestamptz IS NULL OR e.occurred_at < %(until)s)
 ORDER BY e.occurred_at DESC, e.id DESC
 LIMIT %(limit)s
"""


def _query(conn, where: str, scope: Scope, *, since, until, limit, **params) -> list[ReportRow]:
    params.update(scope_region=scope.region_id, scope_agency=scope.agency_id, since=since,
                  until=until, limit=min(limit, MAX_ROWS))
    with conn.cursor(row_factory=class_row(ReportRow)) as cur:
        return cur.execute(SELECT.format(where=where), params).fetchall()


def child_access(conn, child_id: int, scope: Scope, *, since: datetime | None = None,
                 until: datetime | None = None, limit: int = 1000) -> list[ReportRow]:
    """Every recorded access to ``child_id``'s records, allowed or denied, newest first."""
    return _query(conn, "e.child_id = %(child_id)s", scope, since=since, until=until,
                  limit=limit, child_id=child_id)


def user_actions(conn, user_id: int, scope: Scope, *, since: datetime | None = None,
                 until: datetime | None = None, limit: int = 1000) -> list[ReportRow]:
    """Everything ``user_id`` did in the time range, newest first."""
    return _query(conn, "e.actor_user_id = %(user_id)s", scope, since=since, until=until,
                  limit=limit, user_id=user_id)


def denied(conn, scope: Scope, *, since: datetime | None = None, until: datetime | None = None,
           limit: int = 1000) -> list[ReportRow]:
    """Attempts that were refused, newest first."""
    return _query(conn, "e.outcome = 'denied'", scope, since=since, until=until, limit=limit)


CSV_COLUMNS = [f.name for f in fields(ReportRow) if f.name != "details"]
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        value = " ".join(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def to_csv(rows: list[ReportRow]) -> str:
    """The rows as CSV with a header line."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([_cell(getattr(row, name)) for name in CSV_COLUMNS])
    return out.getvalue()
