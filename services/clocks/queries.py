"""Every SQL statement about clocks, their ladder steps and escalations.

Reads go through row-level security (``clocks_may_see`` in the 0003 migration); starting and
stopping go through the two SECURITY DEFINER functions that migration explains.
"""
from __future__ import annotations

from datetime import datetime

from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from services.clocks.records import Clock, Escalation, Schedule

CLOCK_COLUMNS = """
k.id, k.kind, k.subject_type, k.subject_id, k.child_id, k.region_id, k.agency_id,
k.assignee_user_id, k.priority, k.policy_id, k.amount, k.unit, k.started_at, k.due_at,
k.reminder_at, k.level_2_at, k.level_3_at, k.unacknowledged_at, k.round, k.reminded_at,
k.escalation_level, k.escalation_state, k.repeats, k.next_action_at, k.stopped_at, k.stop_reason
"""

ESCALATION_COLUMNS = """
e.id, e.clock_id, e.round, e.cause, e.level, e.clock_kind, e.priority, e.subject_type,
e.subject_id, e.child_id, e.region_id, e.agency_id, e.assignee_user_id, e.raised_at,
e.level_changed_at, e.state, e.acknowledged_at, e.acknowledged_by, e.acknowledged_level,
e.resolved_at, e.resolved_by, e.resolution, e.resolution_note
"""


def start(conn, values: dict) -> tuple[int, bool]:
    """Insert a running clock unless one of the same kind runs for the subject: (id, created)."""
    row = conn.execute("SELECT clock_id, created FROM clocks_start(%s)", (Jsonb(values),)).fetchone()
    return row["clock_id"], row["created"]


def stop(conn, subject_type: str, subject_id: int, kind: str | None, at: datetime,
         by: int | None, reason: str) -> list[dict]:
    """Stop the subject's running clocks (of ``kind``, or all): [{clock_id, child_id, escalation_id}]."""
    return conn.execute("SELECT clock_id, child_id, escalation_id FROM clocks_stop(%s, %s, %s, %s, %s, %s)",
                        (subject_type, subject_id, kind, at, by, reason)).fetchall()


def for_subject(conn, subject_type: str, subject_id: int) -> list[Clock]:
    with conn.cursor(row_factory=class_row(Clock)) as cur:
        return cur.execute(f"SELECT {CLOCK_COLUMNS} FROM clocks k"
                           " WHERE k.subject_type = %s AND k.subject_id = %s"
                           " ORDER BY k.stopped_at IS NOT NULL, k.due_at, k.id",
                           (subject_type, subject_id)).fetchall()


def get(conn, clock_id: int, *, lock: bool = False) -> Clock | None:
    with conn.cursor(row_factory=class_row(Clock)) as cur:
        return cur.execute(f"SELECT {CLOCK_COLUMNS} FROM clocks k WHERE k.id = %s"
                           + (" FOR UPDATE" if lock else ""), (clock_id,)).fetchone()


def running(conn, subject_type: str, subject_id: int, kind: str) -> Clock | None:
    with conn.cursor(row_factory=class_row(Clock)) as cur:
        return cur.execute(f"SELECT {CLOCK_COLUMNS} FROM clocks k WHERE k.subject_type = %s"
                           " AND k.subject_id = %s AND k.kind = %s AND k.stopped_at IS NULL",
                           (subject_type, subject_id, kind)).fetchone()


def due(conn, now: datetime, limit: int) -> list[dict]:
    """Clocks whose next step is due, locked; a row another sweep holds is skipped, not waited for.

    Reads only the partial index ``clocks_next_action_idx`` up to ``now``, so its cost follows
    the number of due clocks, not of open ones (issue 5 item 3).
    """
    return conn.execute(
        f"""SELECT {CLOCK_COLUMNS}, p.unacknowledged_repeat
              FROM clocks k JOIN deadline_policies p ON p.id = k.policy_id
             WHERE k.next_action_at <= %s
             ORDER BY k.next_action_at
             LIMIT %s
               FOR UPDATE OF k SKIP LOCKED""",
        (now, limit)).fetchall()


def save_ladder(conn, clock_id: int, *, reminded_at: datetime | None, level: int, state: str,
                repeats: int, next_action_at: datetime | None) -> None:
    conn.execute("UPDATE clocks SET reminded_at = %s, escalation_level = %s, escalation_state = %s,"
                 " repeats = %s, next_action_at = %s WHERE id = %s",
                 (reminded_at, level, state, repeats, next_action_at, clock_id))


def reschedule(conn, clock_id: int, sched: Schedule, *, next_action_at: datetime | None,
               reminded_at: datetime | None) -> None:
    """A new due time: a new round of the ladder from level 0."""
    conn.execute(
        """UPDATE clocks SET due_at = %s, reminder_at = %s, level_2_at = %s, level_3_at = %s,
                  unacknowledged_at = %s, round = round + 1, reminded_at = %s, escalation_level = 0,
                  escalation_state = 'none', repeats = 0, next_action_at = %s
            WHERE id = %s""",
        (sched.due_at, sched.reminder_at, sched.level_2_at, sched.level_3_at,
         sched.unacknowledged_at, reminded_at,
         next_action_at, clock_id))


def record_change(conn, clock_id: int, old_due: datetime, new_due: datetime, reason: str | None,
                  by: int | None, at: datetime) -> None:
    conn.execute("INSERT INTO clock_changes (clock_id, old_due_at, new_due_at, reason, changed_by,"
                 " changed_at) VALUES (%s, %s, %s, %s, %s, %s)",
                 (clock_id, old_due, new_due, reason, by, at))


def set_assignee(conn, clock_id: int, user_id: int | None) -> None:
    conn.execute("UPDATE clocks SET assignee_user_id = %s WHERE id = %s", (user_id, clock_id))
    conn.execute("UPDATE escalations SET assignee_user_id = %s WHERE clock_id = %s"
                 " AND state <> 'resolved'", (user_id, clock_id))


def steps_of(conn, clock_ids: list[int]) -> list[dict]:
    return conn.execute("SELECT clock_id, round, step, repeat_no, scheduled_at, done_at, escalation_id"
                        " FROM clock_steps WHERE clock_id = ANY(%s) ORDER BY done_at, id",
                        (clock_ids,)).fetchall()


def record_step(conn, *, clock_id: int, round: int, step: str, repeat_no: int,
                scheduled_at: datetime, done_at: datetime, escalation_id: int | None,
                recipient_ids: list[int]) -> int | None:
    """Record a ladder step; None when it was already taken (the uniqueness is the guard)."""
    row = conn.execute(
        """INSERT INTO clock_steps (clock_id, round, step, repeat_no, scheduled_at, done_at,
                                    escalation_id, recipient_ids)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (clock_id, round, step, repeat_no) DO NOTHING RETURNING id""",
        (clock_id, round, step, repeat_no, scheduled_at, done_at, escalation_id, recipient_ids),
    ).fetchone()
    return row["id"] if row else None


def link_step_outbox(conn, step_id: int, outbox_id: int) -> None:
    conn.execute("UPDATE clock_steps SET outbox_id = %s WHERE id = %s", (outbox_id, step_id))


# --- escalations --------------------------------------------------------------------------------


def raise_escalation(conn, clock: Clock, *, cause: str, at: datetime) -> int:
    """The round's escalation, created at level 1 if it does not exist yet; its id."""
    row = conn.execute(
        """INSERT INTO escalations (clock_id, round, cause, level, clock_kind, priority,
                                    subject_type, subject_id, child_id, region_id, agency_id,
                                    assignee_user_id, raised_at, level_changed_at)
           VALUES (%s, %s, %s, 1, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (clock_id, round) DO NOTHING RETURNING id""",
        (clock.id, clock.round, cause, clock.kind, clock.priority, clock.subject_type,
         clock.subject_id, clock.child_id, clock.region_id, clock.agency_id,
         clock.assignee_user_id, at, at)).fetchone()
    if row:
        return row["id"]
    return conn.execute("SELECT id FROM escalations WHERE clock_id = %s AND round = %s",
                        (clock.id, clock.round)).fetchone()["id"]


def climb(conn, escalation_id: int, level: int, at: datetime) -> None:
    """Move the escalation up to ``level``; the new owner has yet to acknowledge it."""
    conn.execute("UPDATE escalations SET level = %s, level_changed_at = %s,"
                 " state = CASE WHEN state = 'resolved' THEN state ELSE 'open' END"
                 " WHERE id = %s AND level < %s", (level, at, escalation_id, level))


def get_escalation(conn, escalation_id: int, *, lock: bool = False) -> Escalation | None:
    with conn.cursor(row_factory=class_row(Escalation)) as cur:
        return cur.execute(f"SELECT {ESCALATION_COLUMNS}, k.due_at FROM escalations e"
                           " JOIN clocks k ON k.id = e.clock_id WHERE e.id = %s"
                           + (" FOR UPDATE OF e" if lock else ""), (escalation_id,)).fetchone()


def round_escalation(conn, clock_id: int, round: int) -> Escalation | None:
    with conn.cursor(row_factory=class_row(Escalation)) as cur:
        return cur.execute(f"SELECT {ESCALATION_COLUMNS}, k.due_at FROM escalations e"
                           " JOIN clocks k ON k.id = e.clock_id"
                           " WHERE e.clock_id = %s AND e.round = %s", (clock_id, round)).fetchone()


def acknowledge(conn, escalation_id: int, *, by: int, level: int, at: datetime) -> None:
    conn.execute("UPDATE escalations SET state = 'acknowledged', acknowledged_at = %s,"
                 " acknowledged_by = %s, acknowledged_level = %s WHERE id = %s",
                 (at, by, level, escalation_id))


def resolve(conn, escalation_id: int, *, by: int | None, at: datetime, resolution: str,
            note: str | None) -> None:
    conn.execute("UPDATE escalations SET state = 'resolved', resolved_at = %s, resolved_by = %s,"
                 " resolution = %s, resolution_note = %s WHERE id = %s",
                 (at, by, resolution, note, escalation_id))


def queue(conn, *, include_resolved: bool, limit: int, everything: bool, user_id: int | None,
          agency_ids: list[int], unassigned_of: int | None, region_id: int | None) -> list[Escalation]:
    """Escalations the actor may see, most severe and oldest first.

    The conditions are those of ``clocks_may_see`` (the 0003 migration), given by the caller as
    the actor's assignments, the agencies whose whole queue they own (their own as supervisor,
    those they head), the agency whose unassigned work they see (as caseworker) and oversight's
    region; so the queue indexes return just those rows and row-level security checks each of
    them again, instead of being the only filter over every escalation."""
    with conn.cursor(row_factory=class_row(Escalation)) as cur:
        return cur.execute(
            f"""SELECT {ESCALATION_COLUMNS}, k.due_at FROM escalations e
                  JOIN clocks k ON k.id = e.clock_id
                 WHERE (%(resolved)s OR e.state <> 'resolved')
                   AND (%(everything)s OR e.assignee_user_id = %(user)s
                        OR e.agency_id = ANY (%(agencies)s)
                        OR (e.agency_id = %(unassigned_of)s AND e.assignee_user_id IS NULL)
                        OR e.region_id = %(region)s)
                 ORDER BY e.state = 'resolved', e.level DESC,
                          array_position(ARRAY['immediate','urgent','standard','low'], e.priority),
                          e.raised_at, e.id
                 LIMIT %(limit)s""",
            {"resolved": include_resolved, "everything": everything, "user": user_id,
             "agencies": agency_ids, "unassigned_of": unassigned_of, "region": region_id,
             "limit": limit}).fetchall()


def headed_agencies(conn, user_id: int | None) -> list[int]:
    """The agencies ``user_id`` is a head of."""
    if user_id is None:
        return []
    return [r["agency_id"] for r in conn.execute(
        "SELECT agency_id FROM agency_heads WHERE user_id = %s ORDER BY agency_id", (user_id,))]


# --- who is on the ladder -----------------------------------------------------------------------

ACTIVE_WITH_ROLE = """
SELECT u.id FROM users u JOIN user_roles r ON r.user_id = u.id AND r.role = %s
 WHERE u.disabled_at IS NULL AND """


def agency_users_with_role(conn, agency_id: int, role: str) -> list[int]:
    return [r["id"] for r in conn.execute(ACTIVE_WITH_ROLE + "u.agency_id = %s ORDER BY u.id",
                                          (role, agency_id))]


def region_users_with_role(conn, region_id: int, role: str) -> list[int]:
    return [r["id"] for r in conn.execute(
        ACTIVE_WITH_ROLE + "u.agency_id IN (SELECT id FROM agencies WHERE region_id = %s)"
        " ORDER BY u.id", (role, region_id))]


def active_heads(conn, agency_id: int) -> list[int]:
    return [r["user_id"] for r in conn.execute(
        "SELECT h.user_id FROM agency_heads h JOIN users u ON u.id = h.user_id"
        " WHERE h.agency_id = %s AND u.disabled_at IS NULL ORDER BY h.user_id", (agency_id,))]


def user_in_agency(conn, user_id: int, agency_id: int) -> dict | None:
    """The user's roles if they are an active member of the agency."""
    return conn.execute(
        "SELECT u.id, ARRAY(SELECT role FROM user_roles r WHERE r.user_id = u.id) AS roles"
        " FROM users u WHERE u.id = %s AND u.agency_id = %s AND u.disabled_at IS NULL",
        (user_id, agency_id)).fetchone()
