"""Row-level security refuses what the application might forget (DESIGN.md §4, "enforced twice"):
queries as the application role, with no application check in front of them."""
from __future__ import annotations

import psycopg
import pytest

from tests.clocks.conftest import SYSTEM, local, start, sweep_at


def _count(db, actor, sql, *params) -> int:
    with db.transaction(actor) as conn:
        return conn.execute(sql, params).fetchone()["n"]


def test_clocks_and_escalations_are_seen_by_the_ladder_only(cw, db, ctx):
    clock_id = start(cw, kind="screening_decision", priority="urgent", at=local(2026, 4, 10, 16))
    sweep_at(db, local(2026, 4, 13, 16))
    seen = {name: _count(db, cw.actor(name), "SELECT count(*) AS n FROM clocks WHERE id = %s", clock_id)
            for name in ("worker", "worker2", "supervisor", "head", "oversight", "teacher",
                         "school_supervisor", "outsider", "sysadmin")}
    assert seen == {"worker": 1, "worker2": 0, "supervisor": 1, "head": 1, "oversight": 1,
                    "teacher": 0, "school_supervisor": 0, "outsider": 0, "sysadmin": 0}
    escalation = "SELECT count(*) AS n FROM escalations WHERE clock_id = %s"
    assert _count(db, cw.actor("teacher"), escalation, clock_id) == 0
    assert _count(db, cw.actor("supervisor"), escalation, clock_id) == 1


def test_an_unassigned_clock_is_on_the_agency_queue(cw, db, ctx):
    clock_id = start(cw, kind="screening_decision", priority="urgent", at=local(2026, 4, 10, 16),
                     assignee=None)
    sql = "SELECT count(*) AS n FROM clocks WHERE id = %s"
    assert _count(db, cw.actor("worker2"), sql, clock_id) == 1
    assert _count(db, cw.actor("teacher"), sql, clock_id) == 0


def test_people_cannot_raise_escalations_or_write_steps_themselves(cw, db, ctx):
    clock_id = start(cw, kind="screening_decision", priority="urgent", at=local(2026, 4, 10, 16))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with db.transaction(cw.actor("supervisor")) as conn:
            conn.execute("INSERT INTO clock_steps (clock_id, round, step, scheduled_at, done_at)"
                         " VALUES (%s, 1, 'level_1', now(), now())", (clock_id,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with db.transaction(cw.actor("supervisor")) as conn:
            conn.execute("INSERT INTO clocks (kind, subject_type, subject_id, region_id, agency_id,"
                         " priority, policy_id, amount, unit, started_at, due_at, reminder_at,"
                         " level_2_at, level_3_at) SELECT kind, subject_type, subject_id + 1,"
                         " region_id, agency_id, priority, policy_id, amount, unit, started_at,"
                         " due_at, reminder_at, level_2_at, level_3_at FROM clocks WHERE id = %s",
                         (clock_id,))


def test_a_person_sees_and_marks_only_their_own_notifications(cw, db, ctx, admin_conn):
    from services import outbox

    with db.transaction(SYSTEM) as conn:
        row = outbox.enqueue(conn, "clock.reminder", user_ids=[cw.users["worker"].id])
        conn.execute("INSERT INTO notifications (outbox_id, user_id, kind) VALUES (%s, %s, 'x')",
                     (row, cw.users["worker"].id))
    mine = "SELECT count(*) AS n FROM notifications WHERE outbox_id = %s"
    assert _count(db, cw.actor("worker"), mine, row) == 1
    assert _count(db, cw.actor("worker2"), mine, row) == 0
    with db.transaction(cw.actor("worker2")) as conn:
        assert conn.execute("UPDATE notifications SET read_at = now() WHERE outbox_id = %s",
                            (row,)).rowcount == 0
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with db.transaction(cw.actor("worker")) as conn:
            conn.execute("INSERT INTO notifications (outbox_id, user_id, kind) VALUES (%s, %s, 'x')",
                         (row, cw.users["worker2"].id))
