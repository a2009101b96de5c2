"""Issue 5, "Done when": a Friday-afternoon urgent referral, a night-time immediate one and a
holiday-week standard one each get the right due times and ladder steps, under a controllable
clock. Each referral starts the clocks DESIGN.md §3 gives its priority."""
from __future__ import annotations

from datetime import timedelta

from services import clock
from services.clocks import escalations
from services.db import transaction
from tests.clocks.conftest import clock_row, local, new_subject_id, start, steps_of, sweep_at

URGENT = ("screening_decision", "first_contact", "strategy_meeting")


def _file(cw, priority, kinds, at, assignee="worker"):
    referral = new_subject_id()
    return {k: start(cw, kind=k, priority=priority, at=at, subject_id=referral, assignee=assignee)
            for k in kinds}


def test_friday_afternoon_urgent_referral(cw, db, admin_conn, ctx):
    # Submitted Friday 13 March 2026, 16:00 in Aqtau.
    clocks = _file(cw, "urgent", URGENT, local(2026, 3, 13, 16))
    due = {k: clock_row(admin_conn, c)["due_at"] for k, c in clocks.items()}
    assert due == {
        "screening_decision": local(2026, 3, 16, 16),  # 1 working day: Monday 16:00
        "first_contact": local(2026, 3, 14, 16),  # 24 hours, weekend or not
        "strategy_meeting": local(2026, 3, 16, 16),  # 1 working day
    }
    screening = clocks["screening_decision"]
    instants = [local(2026, 3, 14, 4), local(2026, 3, 14, 10), local(2026, 3, 14, 16),
                local(2026, 3, 16, 13, 45), local(2026, 3, 16, 16), local(2026, 3, 17, 16),
                local(2026, 3, 20, 16)]
    for at in instants:
        sweep_at(db, at)
    assert [(s[0], s[2]) for s in steps_of(admin_conn, screening)] == [
        ("reminder", local(2026, 3, 16, 13, 45)), ("level_1", local(2026, 3, 16, 16)),
        ("level_2", local(2026, 3, 17, 16)), ("level_3", local(2026, 3, 20, 16))]
    # First contact: 75% of 24 hours is Saturday 10:00, the breach Saturday 16:00; level 2 is a
    # working day after it (from Monday 09:00: Monday 18:00), level 3 three more (Thursday 18:00).
    contact = clocks["first_contact"]
    assert [(s[0], s[2]) for s in steps_of(admin_conn, contact)] == [
        ("reminder", local(2026, 3, 14, 10)), ("level_1", local(2026, 3, 14, 16)),
        ("level_2", local(2026, 3, 16, 18)), ("level_3", local(2026, 3, 19, 18))]


def test_night_time_immediate_referral(cw, db, admin_conn, ctx):
    # Submitted Tuesday 14 April 2026 at 02:30, unassigned: the duty queue of social services.
    t0 = local(2026, 4, 14, 2, 30)
    clocks = _file(cw, "immediate", ("acknowledgement", "first_contact", "strategy_meeting"), t0,
                   assignee=None)
    ack, contact = clocks["acknowledgement"], clocks["first_contact"]
    assert clock_row(admin_conn, ack)["due_at"] == local(2026, 4, 14, 3, 30)
    assert clock_row(admin_conn, contact)["due_at"] == local(2026, 4, 14, 6, 30)
    assert clock_row(admin_conn, clocks["strategy_meeting"])["due_at"] == local(2026, 4, 14, 18)
    with clock.frozen_at(t0):
        for minutes in range(0, 61, 5):
            clock.set_now(t0 + timedelta(minutes=minutes))
            sweep_at(db, clock.now())
    assert [s[:2] for s in steps_of(admin_conn, ack)] == [
        ("level_1", 0), ("repeat", 1), ("repeat", 2), ("repeat", 3)]
    esc = admin_conn.execute("SELECT id, level, state FROM escalations WHERE clock_id = %s",
                             (ack,)).fetchone()
    assert (esc["level"], esc["state"]) == (1, "open")
    with transaction(cw.actor("supervisor2")) as conn:
        escalations.acknowledge(conn, actor=cw.actor("supervisor2"), escalation_id=esc["id"],
                                now=t0 + timedelta(minutes=62))
    for minutes in range(75, 241, 15):  # beat keeps sweeping through the night
        sweep_at(db, t0 + timedelta(minutes=minutes))
    assert len(steps_of(admin_conn, ack)) == 4
    # First contact, 4 hours: the reminder at 05:30 goes to the supervisors (nobody is assigned
    # yet), the breach at 06:30.
    assert [(s[0], s[2]) for s in steps_of(admin_conn, contact)] == [
        ("reminder", local(2026, 4, 14, 5, 30)), ("level_1", local(2026, 4, 14, 6, 30))]
    outbox = admin_conn.execute(
        "SELECT o.topic, o.payload FROM clock_steps s JOIN outbox o ON o.id = s.outbox_id"
        " WHERE s.clock_id = %s ORDER BY s.id", (ack,)).fetchall()
    assert [o["topic"] for o in outbox] == ["escalation.raised"] + ["escalation.repeated"] * 3


def test_holiday_week_standard_referral(cw, db, admin_conn, ctx):
    # Submitted Friday 20 March 2026 at 15:00, the eve of Nauryz (21-23 March, carried over to
    # 24-25 March): the office reopens on Thursday 26 March.
    clocks = _file(cw, "standard", ("screening_decision", "first_contact"), local(2026, 3, 20, 15))
    screening, contact = clocks["screening_decision"], clocks["first_contact"]
    row = clock_row(admin_conn, screening)
    assert row["due_at"] == local(2026, 3, 26, 15)
    assert row["reminder_at"] == local(2026, 3, 26, 12, 45)
    assert row["level_2_at"] == local(2026, 3, 27, 15)
    assert row["level_3_at"] == local(2026, 4, 1, 15)
    assert clock_row(admin_conn, contact)["due_at"] == local(2026, 3, 30, 15)
    for day in range(21, 26):  # nothing happens during the holiday
        sweep_at(db, local(2026, 3, day, 12))
    assert steps_of(admin_conn, screening) == []
    for at in (local(2026, 3, 26, 12, 45), local(2026, 3, 26, 15), local(2026, 3, 27, 15),
               local(2026, 4, 1, 15)):
        sweep_at(db, at)
    assert [s[0] for s in steps_of(admin_conn, screening)] == ["reminder", "level_1", "level_2",
                                                               "level_3"]
