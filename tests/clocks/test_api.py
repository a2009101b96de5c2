"""The clocks API over HTTP: the queue and its actions, time left, and bad input refused with a
problem naming the reason while nothing changes (issue 5, "Bad input")."""
from __future__ import annotations

import pytest

from services import clock
from tests.clocks.conftest import api, clock_row, local, new_subject_id, start, sweep_at

T0 = local(2026, 4, 10, 16)  # Friday 16:00; the urgent screening clock is due Monday 16:00


@pytest.fixture
def escalated(cw, db, ctx):
    """An urgent screening clock assigned to the worker, escalated to level 1 on Monday 16:00."""
    subject = new_subject_id()
    clock_id = start(cw, kind="screening_decision", priority="urgent", at=T0, subject_id=subject)
    sweep_at(db, local(2026, 4, 13, 16))
    clock.set_now(local(2026, 4, 13, 16, 30))
    return subject, clock_id


def _escalation_id(admin_conn, clock_id):
    return admin_conn.execute("SELECT id FROM escalations WHERE clock_id = %s",
                              (clock_id,)).fetchone()["id"]


def test_the_subject_shows_its_clocks_with_time_left(client, cw, ctx, db):
    subject = new_subject_id()
    start(cw, kind="screening_decision", priority="urgent", at=T0, subject_id=subject)
    start(cw, kind="first_contact", priority="urgent", at=T0, subject_id=subject)
    clock.set_now(local(2026, 4, 13, 10))
    res = api(client, cw, "supervisor").get(f"/api/v1/clocks?subject_type=referral&subject_id={subject}")
    assert res.status_code == 200, res.get_json()
    items = {c["kind"]: c for c in res.get_json()["items"]}
    screening, contact = items["screening_decision"], items["first_contact"]
    assert screening["time_left_seconds"] == 6 * 3600 and not screening["overdue"]
    assert screening["working_time_left_seconds"] == 6 * 3600
    assert screening["policy_version"] == 1 and screening["duration"] == {"amount": 1, "unit": "working_days"}
    assert contact["overdue"] and contact["time_left_seconds"] == -42 * 3600
    # Someone from another agency sees none of them, and the read is audited either way.
    other = api(client, cw, "teacher").get(f"/api/v1/clocks?subject_type=referral&subject_id={subject}")
    assert other.status_code == 200 and other.get_json()["items"] == []


def test_the_queue_is_sorted_by_level_then_priority_then_age(client, fresh_cw, db, ctx, admin_conn):
    cw = fresh_cw
    old_standard = start(cw, kind="screening_decision", priority="standard", at=local(2026, 4, 6, 10))
    urgent = start(cw, kind="screening_decision", priority="urgent", at=local(2026, 4, 8, 10))
    late_urgent = start(cw, kind="first_contact", priority="urgent", at=local(2026, 4, 8, 12))
    high = start(cw, kind="screening_decision", priority="low", at=local(2026, 4, 1, 10))
    for day in range(6, 16):
        sweep_at(db, local(2026, 4, day, 17))
    clock.set_now(local(2026, 4, 15, 17))
    res = api(client, cw, "supervisor").get("/api/v1/escalations")
    assert res.status_code == 200
    items = res.get_json()["items"]
    assert {e["clock_id"] for e in items} == {old_standard, urgent, late_urgent, high}
    rank = {"immediate": 0, "urgent": 1, "standard": 2, "low": 3}
    keys = [(-e["level"], rank[e["priority"]], e["raised_at"]) for e in items]
    assert keys == sorted(keys)
    assert [e["priority"] for e in items] == ["urgent", "urgent", "standard", "low"]
    assert all(e["level"] == 3 for e in items)
    assert api(client, cw, "teacher").get("/api/v1/escalations").get_json()["items"] == []


def test_acknowledge_reassign_extend_and_resolve(client, cw, escalated, admin_conn):
    subject, clock_id = escalated
    esc = _escalation_id(admin_conn, clock_id)
    sup = api(client, cw, "supervisor")
    res = sup.post(f"/api/v1/escalations/{esc}/acknowledge")
    assert res.status_code == 200 and res.get_json()["state"] == "acknowledged"
    res = sup.post(f"/api/v1/escalations/{esc}/reassign",
                   json={"assignee_user_id": cw.users["worker2"].id})
    assert res.status_code == 200 and res.get_json()["assignee_user_id"] == cw.users["worker2"].id
    assert clock_row(admin_conn, clock_id)["assignee_user_id"] == cw.users["worker2"].id
    res = sup.post(f"/api/v1/escalations/{esc}/extend",
                   json={"extend_working_days": 2, "reason": "Family away until Wednesday"})
    assert res.status_code == 200, res.get_json()
    assert (res.get_json()["state"], res.get_json()["resolution"]) == ("resolved", "due_changed")
    row = clock_row(admin_conn, clock_id)
    assert (row["due_at"], row["round"], row["escalation_level"]) == (local(2026, 4, 15, 16), 2, 0)
    change = admin_conn.execute("SELECT reason FROM clock_changes WHERE clock_id = %s",
                                (clock_id,)).fetchone()
    assert change["reason"] == "Family away until Wednesday"
    # The new round escalates again if the new due time passes, and a note resolves it.
    sweep_at(client.application.extensions["qorgau_db"], local(2026, 4, 15, 16))
    second = admin_conn.execute("SELECT id FROM escalations WHERE clock_id = %s AND round = 2",
                                (clock_id,)).fetchone()["id"]
    res = sup.post(f"/api/v1/escalations/{second}/resolve", json={"note": "Visit done, recorded late"})
    assert res.status_code == 200 and res.get_json()["state"] == "resolved"
    assert clock_row(admin_conn, clock_id)["next_action_at"] is None


def test_an_extension_without_a_reason_is_refused_and_nothing_changes(client, cw, escalated, admin_conn):
    subject, clock_id = escalated
    esc = _escalation_id(admin_conn, clock_id)
    before = clock_row(admin_conn, clock_id)
    res = api(client, cw, "supervisor").post(f"/api/v1/escalations/{esc}/extend",
                                             json={"due_at": "2026-04-20T10:00:00+05:00"})
    assert res.status_code == 422
    assert res.mimetype == "application/problem+json" and res.get_json()["field"] == "reason"
    assert clock_row(admin_conn, clock_id) == before
    # Shortening needs no reason.
    res = api(client, cw, "supervisor").post(f"/api/v1/clocks/{clock_id}/due",
                                             json={"due_at": "2026-04-13T15:00:00+05:00"})
    assert res.status_code == 200, res.get_json()
    assert clock_row(admin_conn, clock_id)["due_at"] == local(2026, 4, 13, 15)


def test_only_the_ladder_may_acknowledge_and_nothing_changes_otherwise(client, cw, escalated, admin_conn):
    subject, clock_id = escalated
    esc = _escalation_id(admin_conn, clock_id)
    res = api(client, cw, "worker").post(f"/api/v1/escalations/{esc}/acknowledge")
    assert res.status_code == 403 and res.get_json()["reason"] == "not_on_ladder"
    res = api(client, cw, "oversight").post(f"/api/v1/escalations/{esc}/acknowledge")
    assert res.status_code == 403 and res.get_json()["reason"] == "not_yet_at_oversight"
    res = api(client, cw, "teacher").post(f"/api/v1/escalations/{esc}/acknowledge")
    assert res.status_code == 404
    row = admin_conn.execute("SELECT state, acknowledged_at FROM escalations WHERE id = %s",
                             (esc,)).fetchone()
    assert (row["state"], row["acknowledged_at"]) == ("open", None)
    denied = admin_conn.execute(
        "SELECT count(*) AS n FROM audit.events WHERE action = 'access_denied' AND object_id = %s"
        " AND details->>'attempted' = 'escalation_acknowledged'", (str(esc),)).fetchone()["n"]
    assert denied == 3


def test_a_second_resolution_is_a_conflict(client, cw, escalated, admin_conn):
    subject, clock_id = escalated
    esc = _escalation_id(admin_conn, clock_id)
    head = api(client, cw, "head")
    assert head.post(f"/api/v1/escalations/{esc}/resolve", json={"note": "Handled"}).status_code == 200
    res = head.post(f"/api/v1/escalations/{esc}/resolve", json={"note": "Again"})
    assert res.status_code == 409 and res.get_json()["type"].endswith("/invalid-transition")
    assert admin_conn.execute("SELECT resolution_note FROM escalations WHERE id = %s",
                              (esc,)).fetchone()["resolution_note"] == "Handled"
    assert head.post(f"/api/v1/escalations/{esc}/resolve", json={}).status_code == 422


def test_a_caseworker_cannot_change_a_due_time(client, cw, escalated, admin_conn):
    subject, clock_id = escalated
    before = clock_row(admin_conn, clock_id)
    res = api(client, cw, "worker").post(f"/api/v1/clocks/{clock_id}/due",
                                         json={"extend_working_days": 1, "reason": "More time"})
    assert res.status_code == 403
    assert clock_row(admin_conn, clock_id) == before


def test_ids_beyond_bigint_are_not_found_not_errors(client, cw, ctx):
    res = api(client, cw, "supervisor").post(f"/api/v1/escalations/{2**70}/acknowledge")
    assert res.status_code == 404
