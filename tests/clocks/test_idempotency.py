"""Every ladder step is taken once: sweeping twice, or in two workers at once (issue 5 item 3)."""
from __future__ import annotations

import threading

from tests.clocks.conftest import local, start, sweep_at


def test_sweeping_twice_at_the_same_instant_takes_each_step_once(cw, db, admin_conn, ctx):
    ids = [start(cw, kind="screening_decision", priority="urgent", at=local(2026, 4, 10, 16))
           for _ in range(5)]
    first = sweep_at(db, local(2026, 4, 13, 16))
    second = sweep_at(db, local(2026, 4, 13, 16))
    assert second.steps == 0
    counts = admin_conn.execute(
        "SELECT count(*) FILTER (WHERE step = 'level_1') AS l1, count(*) AS n FROM clock_steps"
        " WHERE clock_id = ANY(%s)", (ids,)).fetchone()
    assert counts["l1"] == 5 and first.steps >= 5


def test_two_sweeps_at_once_escalate_each_clock_once(cw, db, admin_conn, ctx, app):
    ids = [start(cw, kind="first_contact", priority="urgent", at=local(2026, 4, 10, 16))
           for _ in range(60)]
    barrier = threading.Barrier(3)
    errors = []

    def worker():
        try:
            with app.app_context():
                barrier.wait()
                from services.clocks import sweep

                sweep.sweep(db, now=local(2026, 4, 11, 16), batch=7)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    rows = admin_conn.execute(
        """SELECT (SELECT count(*) FROM escalations WHERE clock_id = ANY(%(ids)s)) AS escalations,
                  (SELECT count(*) FROM clock_steps WHERE clock_id = ANY(%(ids)s)
                      AND step = 'level_1') AS level_1,
                  (SELECT count(*) FROM clock_steps WHERE clock_id = ANY(%(ids)s)
                      AND step = 'reminder') AS reminders,
                  (SELECT count(*) FROM outbox o WHERE o.topic = 'escalation.raised'
                      AND (o.payload->>'clock_id')::bigint = ANY(%(ids)s)) AS messages""",
        {"ids": ids}).fetchone()
    # 24 hours elapsed: the reminder is overtaken by the breach, so only level 1 is taken.
    assert dict(rows) == {"escalations": 60, "level_1": 60, "reminders": 0, "messages": 60}
    audited = admin_conn.execute(
        "SELECT count(*) AS n FROM audit.events WHERE action = 'escalation_raised'"
        " AND (details->>'clock_id')::bigint = ANY(%s)", (ids,)).fetchone()["n"]
    assert audited == 60


def test_an_owner_acting_while_the_sweep_holds_the_clock_waits_instead_of_deadlocking(
        cw, db, admin_conn, ctx, app, database_url):
    import psycopg

    from services.clocks import escalations
    from services.db import transaction

    clock_id = start(cw, kind="screening_decision", priority="urgent", at=local(2026, 4, 10, 16))
    sweep_at(db, local(2026, 4, 13, 16))
    esc = admin_conn.execute("SELECT id FROM escalations WHERE clock_id = %s", (clock_id,)).fetchone()["id"]
    outcome = {}
    # A sweep in the middle of its batch: the clock locked, the escalation about to be climbed.
    with psycopg.connect(database_url) as sweeper:
        sweeper.execute("SELECT id FROM clocks WHERE id = %s FOR UPDATE", (clock_id,))

        def acknowledge():
            try:
                with app.app_context(), transaction(cw.actor("supervisor")) as conn:
                    escalations.acknowledge(conn, actor=cw.actor("supervisor"), escalation_id=esc,
                                            now=local(2026, 4, 13, 17))
                outcome["ok"] = True
            except Exception as exc:  # a deadlock would surface here
                outcome["error"] = exc

        thread = threading.Thread(target=acknowledge)
        thread.start()
        thread.join(timeout=2)
        assert thread.is_alive()  # waiting on the clock, holding nothing the sweep needs
        sweeper.execute("UPDATE escalations SET level_changed_at = level_changed_at WHERE id = %s",
                        (esc,))
        sweeper.commit()
    thread.join(timeout=30)
    assert outcome == {"ok": True}
