"""SQL for emergency access grants. Row-level security shows a grant to its holder, to the
supervisors of the holder's agency and to the region's oversight; only those supervisors update it."""
from __future__ import annotations

from datetime import datetime

COLUMNS = """g.id, g.user_id, g.agency_id, g.region_id, g.child_id, g.reason, g.granted_at, g.expires_at,
    g.revoked_at, g.reviewed_by, g.reviewed_at, g.review_outcome, g.review_note,
    (g.revoked_at IS NULL AND g.expires_at > now()) AS live"""


def insert(conn, *, user_id: int, agency_id: int, region_id: int, child_id: int, reason: str,
           expires_at: datetime) -> dict:
    return conn.execute(
        f"""INSERT INTO access_grants AS g (user_id, agency_id, region_id, child_id, reason, expires_at)
            VALUES (%s, %s, %s, %s, %s, %s) RETURNING {COLUMNS}""",
        (user_id, agency_id, region_id, child_id, reason, expires_at)).fetchone()


def get(conn, grant_id: int, *, lock: bool = False) -> dict | None:
    return conn.execute(f"SELECT {COLUMNS} FROM access_grants g WHERE g.id = %s"
                        + (" FOR UPDATE" if lock else ""), (grant_id,)).fetchone()


# Which grants a list shows: the scope's condition is explicit (and matches an index) so the
# query does not lean on row-level security to filter the table.
_SCOPES = {
    "agency": "g.agency_id = %(key)s",
    "region": "g.region_id = %(key)s",
    "own": "g.user_id = %(key)s",
}


def page(conn, *, scope: str, key: int, pending_review: bool, before_id: int | None,
         limit: int) -> list[dict]:
    """Newest first."""
    return conn.execute(
        f"""SELECT {COLUMNS} FROM access_grants g
             WHERE {_SCOPES[scope]}
               AND (NOT %(pending)s OR g.reviewed_at IS NULL)
               AND (%(before)s::bigint IS NULL OR g.id < %(before)s)
             ORDER BY g.id DESC LIMIT %(limit)s""",
        {"key": key, "pending": pending_review, "before": before_id, "limit": limit}).fetchall()


def record_review(conn, grant_id: int, *, reviewer: int, outcome: str, note: str | None,
                  revoke: bool) -> None:
    conn.execute(
        """UPDATE access_grants SET reviewed_by = %s, reviewed_at = now(), review_outcome = %s,
                  review_note = %s,
                  revoked_at = CASE WHEN %s AND revoked_at IS NULL AND expires_at > now() THEN now()
                                    ELSE revoked_at END
            WHERE id = %s""",
        (reviewer, outcome, note, revoke, grant_id))
