"""Every SQL statement about notifications and e-mail deliveries."""
from __future__ import annotations

from datetime import datetime

from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from services.notifications.records import Notification, Recipient

COLUMNS = "id, outbox_id, user_id, kind, subject_type, subject_id, child_id, refs, created_at, read_at"


def recipients(conn, user_ids: list[int]) -> list[Recipient]:
    """Active users among ``user_ids`` with their language and address."""
    rows = conn.execute("SELECT id, preferred_language, email FROM users"
                        " WHERE id = ANY(%s) AND disabled_at IS NULL ORDER BY id",
                        (list(user_ids),)).fetchall()
    return [Recipient(r["id"], r["preferred_language"], r["email"]) for r in rows]


def users_with_role(conn, role: str, *, agency_id: int | None = None,
                    region_id: int | None = None) -> list[int]:
    return [r["id"] for r in conn.execute(
        """SELECT u.id FROM users u JOIN user_roles r ON r.user_id = u.id AND r.role = %s
             JOIN agencies a ON a.id = u.agency_id
            WHERE u.disabled_at IS NULL
              AND (%s::bigint IS NULL OR u.agency_id = %s)
              AND (%s::bigint IS NULL OR a.region_id = %s)
            ORDER BY u.id""", (role, agency_id, agency_id, region_id, region_id))]


def clock_context(conn, clock_id: int):
    return conn.execute(
        """SELECT k.kind, k.subject_type, k.subject_id, k.child_id, k.due_at, g.timezone
             FROM clocks k JOIN regions g ON g.id = k.region_id WHERE k.id = %s""",
        (clock_id,)).fetchone()


def disagreement_context(conn, disagreement_id: int):
    return conn.execute(
        """SELECT d.case_id, d.child_id, d.stage, s.due_at, g.timezone
             FROM disagreements d JOIN regions g ON g.id = d.region_id
             LEFT JOIN disagreement_stages s ON s.disagreement_id = d.id AND s.stage = d.stage
            WHERE d.id = %s""", (disagreement_id,)).fetchone()


def add(conn, *, outbox_id: int, user_ids: list[int], kind: str, subject_type: str | None,
        subject_id: int | None, child_id: int | None, refs: dict) -> int:
    """In-app rows for ``user_ids``; a second delivery of the same outbox row adds none."""
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO notifications (outbox_id, user_id, kind, subject_type, subject_id,
                                          child_id, refs)
               VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (outbox_id, user_id) DO NOTHING""",
            [(outbox_id, u, kind, subject_type, subject_id, child_id, Jsonb(refs)) for u in user_ids])
        return cur.rowcount


def for_user(conn, user_id: int, *, unread_only: bool, before_id: int | None,
             limit: int) -> list[Notification]:
    with conn.cursor(row_factory=class_row(Notification)) as cur:
        return cur.execute(
            f"""SELECT {COLUMNS} FROM notifications
                 WHERE user_id = %(user)s AND (NOT %(unread)s OR read_at IS NULL)
                   AND (%(before)s::bigint IS NULL OR id < %(before)s)
                 ORDER BY id DESC LIMIT %(limit)s""",
            {"user": user_id, "unread": unread_only, "before": before_id, "limit": limit}).fetchall()


def unread_count(conn, user_id: int) -> int:
    return conn.execute("SELECT count(*) AS n FROM notifications WHERE user_id = %s"
                        " AND read_at IS NULL", (user_id,)).fetchone()["n"]


def mark_read(conn, user_id: int, notification_id: int | None, at: datetime) -> int:
    """Mark one (or, with None, every) unread notification of the user as read."""
    return conn.execute(
        """UPDATE notifications SET read_at = %s
            WHERE user_id = %s AND read_at IS NULL AND (%s::bigint IS NULL OR id = %s)""",
        (at, user_id, notification_id, notification_id)).rowcount


def get(conn, notification_id: int) -> Notification | None:
    with conn.cursor(row_factory=class_row(Notification)) as cur:
        return cur.execute(f"SELECT {COLUMNS} FROM notifications WHERE id = %s",
                           (notification_id,)).fetchone()


# --- e-mail deliveries ----------------------------------------------------------------------------


def claim_delivery(conn, outbox_id: int, user_id: int):
    """The (outbox row, recipient) e-mail delivery, created if new and locked until commit.

    The no-op update on conflict takes the row lock and returns the row in the same statement.
    """
    return conn.execute(
        """INSERT INTO deliveries (outbox_id, channel, recipient_user_id) VALUES (%s, 'email', %s)
           ON CONFLICT (outbox_id, channel, recipient_user_id)
           DO UPDATE SET attempts = deliveries.attempts
           RETURNING id, state, attempts""", (outbox_id, user_id)).fetchone()


def delivery_sent(conn, delivery_id: int, message_id: str) -> None:
    conn.execute("UPDATE deliveries SET state = 'sent', sent_at = now(), message_id = %s,"
                 " attempts = attempts + 1 WHERE id = %s", (message_id, delivery_id))


def delivery_failed(conn, delivery_id: int, error: str, *, permanent: bool) -> None:
    conn.execute("UPDATE deliveries SET state = %s, sent_at = NULL, attempts = attempts + 1,"
                 " last_error = %s WHERE id = %s",
                 ("rejected" if permanent else "pending", error[:2000], delivery_id))


def deliveries_of(conn, outbox_id: int) -> list[dict]:
    return conn.execute("SELECT recipient_user_id, state, attempts, last_error FROM deliveries"
                        " WHERE outbox_id = %s ORDER BY recipient_user_id", (outbox_id,)).fetchall()
