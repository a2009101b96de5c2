"""The escalation ladder walked by the sweep under a controllable clock (DESIGN.md §3)."""
from __future__ import annotations

from datetime import timedelta

from services.clocks import escalations
from services.db import transaction
from tests.clocks.conftest import clock_row, local, start, steps_of, sweep_at


def test_a_working_day_clock_walks_reminder_level_1_level_2_level_3(cw, db, admin_conn, ctx):
    # Urgent screening decision, 1 working day, from Friday 10 April 2026 16:00.
    clock_id = start(cw, kind="screening_decision", priority="urgent", at=local(2026, 4, 10, 16))
    row = clock_row(admin_conn, clock_id)
    assert row["due_at"] == local(2026, 4, 13, 16)
    assert row["reminder_at"] == local(2026, 4, 13, 13, 45)  # 75% of 9 working hours
    assert row["level_2_at"] == local(2026, 4, 14, 16)  # 1 working day after the breach
    assert row["level_3_at"] == local(2026, 4, 17, 16)  # 3 working days after level 2

    sweep_at(db, local(2026, 4, 13, 13, 44))
    assert steps_of(admin_conn, clock_id) == []
    sweep_at(db, local(2026, 4, 13, 13, 45))
    assert [s[0] for s in steps_of(admin_conn, clock_id)] == ["reminder"]
    sweep_at(db, local(2026, 4, 13, 15, 59))
    sweep_at(db, local(2026, 4, 13, 16))
    sweep_at(db, local(2026, 4, 14, 15, 59))
    assert [s[0] for s in steps_of(admin_conn, clock_id)] == ["reminder", "level_1"]
    sweep_at(db, local(2026, 4, 14, 16))
    sweep_at(db, local(2026, 4, 17, 16))
    sweep_at(db, local(2026, 4, 30, 16))
    assert [s[0] for s in steps_of(admin_conn, clock_id)] == ["reminder", "level_1", "level_2",
                                                              "level_3"]
    row = clock_row(admin_conn, clock_id)
    assert (row["escalation_level"], row["escalation_state"], row["next_action_at"]) == (3, "open", None)
    esc = admin_conn.execute("SELECT * FROM escalations WHERE clock_id = %s", (clock_id,)).fetchall()
    assert len(esc) == 1 and esc[0]["level"] == 3 and esc[0]["cause"] == "deadline_breached"


def test_each_level_notifies_its_own_people(cw, db, admin_conn, ctx):
    clock_id = start(cw, kind="screening_decision", priority="urgent", at=local(2026, 4, 10, 16))
    for at in (local(2026, 4, 13, 14), local(2026, 4, 13, 16), local(2026, 4, 14, 16),
               local(2026, 4, 17, 16)):
        sweep_at(db, at)
    rows = admin_conn.execute(
        "SELECT s.step, o.topic, o.payload FROM clock_steps s JOIN outbox o ON o.id = s.outbox_id"
        " WHERE s.clock_id = %s ORDER BY s.id", (clock_id,)).fetchall()
    u = cw.users
    assert [(r["step"], r["topic"], r["payload"]["user_ids"]) for r in rows] == [
        ("reminder", "clock.reminder", [u["worker"].id]),
        ("level_1", "escalation.raised", sorted([u["supervisor"].id, u["supervisor2"].id, u["head"].id])),
        ("level_2", "escalation.raised", [u["head"].id]),
        ("level_3", "escalation.raised", [u["oversight"].id]),
    ]


def test_a_late_sweep_takes_the_missed_levels_once_and_skips_the_stale_reminder(cw, db, admin_conn, ctx):
    clock_id = start(cw, kind="screening_decision", priority="urgent", at=local(2026, 4, 10, 16))
    sweep_at(db, local(2026, 4, 15, 12))  # the system was down from Monday to Wednesday
    assert [s[0] for s in steps_of(admin_conn, clock_id)] == ["level_1", "level_2"]
    assert clock_row(admin_conn, clock_id)["next_action_at"] == local(2026, 4, 17, 16)


def test_an_immediate_referral_unacknowledged_for_15_minutes_goes_to_level_1_and_repeats(
        cw, db, admin_conn, ctx):
    # A night-time immediate referral: acknowledgement due in 1 hour, day and night.
    t0 = local(2026, 4, 14, 2, 30)
    clock_id = start(cw, kind="acknowledgement", priority="immediate", at=t0, assignee=None)
    assert clock_row(admin_conn, clock_id)["due_at"] == local(2026, 4, 14, 3, 30)
    sweep_at(db, t0 + timedelta(minutes=14, seconds=59))
    assert steps_of(admin_conn, clock_id) == []
    sweep_at(db, t0 + timedelta(minutes=15))
    assert [s[:2] for s in steps_of(admin_conn, clock_id)] == [("level_1", 0)]
    sweep_at(db, t0 + timedelta(minutes=29))
    sweep_at(db, t0 + timedelta(minutes=30))
    sweep_at(db, t0 + timedelta(minutes=30))
    sweep_at(db, t0 + timedelta(minutes=45))
    assert [s[:2] for s in steps_of(admin_conn, clock_id)] == [("level_1", 0), ("repeat", 1),
                                                               ("repeat", 2)]
    esc = admin_conn.execute("SELECT id, cause FROM escalations WHERE clock_id = %s",
                             (clock_id,)).fetchone()
    assert esc["cause"] == "not_acknowledged"
    with transaction(cw.actor("supervisor")) as conn:
        escalations.acknowledge(conn, actor=cw.actor("supervisor"), escalation_id=esc["id"],
                                now=t0 + timedelta(minutes=50))
    for minutes in (60, 75, 90, 240):
        sweep_at(db, t0 + timedelta(minutes=minutes))
    assert [s[:2] for s in steps_of(admin_conn, clock_id)] == [("level_1", 0), ("repeat", 1),
                                                               ("repeat", 2)]
    # The ladder still climbs: level 2 one working day after the 03:30 breach (Tuesday 18:00).
    assert clock_row(admin_conn, clock_id)["next_action_at"] == local(2026, 4, 14, 18)


def test_a_repeat_missed_by_a_slow_sweep_is_sent_once_not_for_every_quarter_hour(cw, db, admin_conn, ctx):
    t0 = local(2026, 4, 14, 2, 30)
    clock_id = start(cw, kind="acknowledgement", priority="immediate", at=t0, assignee=None)
    sweep_at(db, t0 + timedelta(minutes=15))
    sweep_at(db, t0 + timedelta(minutes=61))
    assert [s[:2] for s in steps_of(admin_conn, clock_id)] == [("level_1", 0), ("repeat", 3)]
    assert clock_row(admin_conn, clock_id)["next_action_at"] == t0 + timedelta(minutes=75)


def test_stopping_a_clock_ends_its_ladder_and_resolves_its_escalation(cw, db, admin_conn, ctx):
    from services.clocks import actions
    from tests.clocks.conftest import SYSTEM, new_subject_id

    subject = new_subject_id()
    clock_id = start(cw, kind="screening_decision", priority="urgent", at=local(2026, 4, 10, 16),
                     subject_id=subject)
    sweep_at(db, local(2026, 4, 13, 16))
    with transaction(SYSTEM) as conn:
        assert actions.stop_clock(conn, actor=SYSTEM, subject_type="referral", subject_id=subject,
                                  kind="screening_decision", at=local(2026, 4, 13, 17)) == [clock_id]
        assert actions.stop_clock(conn, actor=SYSTEM, subject_type="referral", subject_id=subject,
                                  kind="screening_decision") == []
    sweep_at(db, local(2026, 4, 30, 16))
    assert [s[0] for s in steps_of(admin_conn, clock_id)] == ["level_1"]
    esc = admin_conn.execute("SELECT state, resolution FROM escalations WHERE clock_id = %s",
                             (clock_id,)).fetchone()
    assert (esc["state"], esc["resolution"]) == ("resolved", "clock_stopped")
