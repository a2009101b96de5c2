"""SQL for approvals. Row-level security shows a practitioner their own agency's approvals only,
and lets only its supervisors change them."""
from __future__ import annotations

from datetime import datetime

COLUMNS = """a.id, a.kind, a.agency_id, a.referral_id, a.case_id, a.assessment_id, a.requested_by,
    a.requested_at, a.reason, a.proposed_priority, a.state, a.decided_by, a.decided_at, a.decision_note"""


def pending(conn, agency_id: int, *, kind: str | None, after: tuple[datetime, int] | None,
            limit: int) -> list[dict]:
    """The agency's undecided approvals, oldest first (the one waiting longest comes first)."""
    return conn.execute(
        f"""SELECT {COLUMNS}, c.child_id AS case_child_id
              FROM approvals a LEFT JOIN cases c ON c.id = a.case_id
             WHERE a.agency_id = %(agency)s AND a.state = 'pending'
               AND (%(kind)s::text IS NULL OR a.kind = %(kind)s)
               AND (%(after_t)s::timestamptz IS NULL
                    OR (a.requested_at, a.id) > (%(after_t)s::timestamptz, %(after_id)s::bigint))
             ORDER BY a.requested_at, a.id LIMIT %(limit)s""",
        {"agency": agency_id, "kind": kind, "after_t": after[0] if after else None,
         "after_id": after[1] if after else None, "limit": limit}).fetchall()


def lock(conn, approval_id: int) -> dict | None:
    return conn.execute(f"SELECT {COLUMNS} FROM approvals a WHERE a.id = %s FOR UPDATE",
                        (approval_id,)).fetchone()


def mark_decided(conn, approval_id: int, *, approved: bool, decided_by: int, note: str | None) -> int:
    """Record the decision unless the kind's own handler already did; the rows changed."""
    return conn.execute(
        """UPDATE approvals SET state = %s, decided_by = %s, decided_at = now(), decision_note = %s
            WHERE id = %s AND state = 'pending'""",
        ("approved" if approved else "rejected", decided_by, note, approval_id)).rowcount


def child_of(conn, approval: dict) -> int | None:
    """The child an approval is about, for the audit event (as far as the actor may see)."""
    if approval["case_id"] is not None:
        row = conn.execute("SELECT child_id FROM cases WHERE id = %s", (approval["case_id"],)).fetchone()
        return row["child_id"] if row else None
    if approval["referral_id"] is not None:
        row = conn.execute("SELECT min(child_id) AS child_id FROM referral_children WHERE referral_id = %s",
                           (approval["referral_id"],)).fetchone()
        return row["child_id"] if row else None
    return None
