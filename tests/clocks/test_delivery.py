"""Delivering outbox rows: in-app rows and e-mail in the recipient's language, at most once per
recipient, retried with backoff, dead-lettered after N failures (issue 5 item 5)."""
from __future__ import annotations

import random
from datetime import timedelta

import pytest

from audit import Actor
from services import outbox
from services.db import transaction
from services.notifications import delivery, mailer, messages
from tests.clocks.conftest import api, local, start, sweep_at
from tests.clocks.smtp import smtp_server

SYSTEM = Actor.system("tests")
MAIL_FROM = "qorgau@example.kz"


def _deliver(db, outbox_id, smtp_url, **kw):
    return delivery.deliver(db, outbox_id, smtp_url=smtp_url, mail_from=MAIL_FROM,
                            base_url="https://qorgau.example.kz", **kw)


def _escalate(cw, db, admin_conn):
    """An urgent screening clock breached: its level-1 outbox row."""
    clock_id = start(cw, kind="screening_decision", priority="urgent", at=local(2026, 4, 10, 16))
    sweep_at(db, local(2026, 4, 13, 16))
    return admin_conn.execute("SELECT outbox_id FROM clock_steps WHERE clock_id = %s"
                              " AND step = 'level_1'", (clock_id,)).fetchone()["outbox_id"]


def test_an_escalation_reaches_each_recipient_in_their_language(cw, db, admin_conn, ctx):
    outbox_id = _escalate(cw, db, admin_conn)
    with smtp_server() as (smtp, url):
        assert _deliver(db, outbox_id, url) == "delivered"
    by_to = {m.to[0]: m for m in smtp.messages}
    assert set(by_to) == {"sup@example.kz", "head@example.kz"}  # supervisor2 has no address
    kk, en = by_to["sup@example.kz"], by_to["head@example.kz"]
    assert kk.language == "kk" and "Эскалация, 1-деңгей" in kk.subject
    assert en.language == "en" and en.subject == "Qorgau: Escalation, level 1: a deadline has passed"
    assert "Screening decision" in en.body and "13.04.2026 16:00 (Asia/Aqtau)" in en.body
    assert kk.message_id == f"<qorgau.{outbox_id}.{cw.users['supervisor'].id}@example.kz>"
    in_app = admin_conn.execute("SELECT user_id, kind FROM notifications WHERE outbox_id = %s"
                                " ORDER BY user_id", (outbox_id,)).fetchall()
    assert {r["user_id"] for r in in_app} == {cw.users[u].id for u in ("supervisor", "supervisor2", "head")}
    assert admin_conn.execute("SELECT delivered_at FROM outbox WHERE id = %s",
                              (outbox_id,)).fetchone()["delivered_at"] is not None


def test_a_redelivered_task_sends_and_adds_nothing(cw, db, admin_conn, ctx):
    outbox_id = _escalate(cw, db, admin_conn)
    with smtp_server() as (smtp, url):
        assert _deliver(db, outbox_id, url) == "delivered"
        assert _deliver(db, outbox_id, url) == "done"
        # As if the worker died after sending but before marking the row delivered.
        admin_conn.execute("UPDATE outbox SET delivered_at = NULL WHERE id = %s", (outbox_id,))
        assert _deliver(db, outbox_id, url) == "delivered"
    assert len(smtp.messages) == 2
    assert admin_conn.execute("SELECT count(*) AS n FROM notifications WHERE outbox_id = %s",
                              (outbox_id,)).fetchone()["n"] == 3


def test_a_failing_server_is_retried_with_backoff_then_dead_lettered(cw, db, admin_conn, ctx, client):
    outbox_id = _escalate(cw, db, admin_conn)
    with smtp_server() as (smtp, url):
        smtp.transient = 100
        results = []
        for _ in range(3):
            results.append(_deliver(db, outbox_id, url, max_attempts=3))
            row = admin_conn.execute("SELECT attempts, next_attempt_at - now() AS wait, last_error,"
                                     " dead_at FROM outbox WHERE id = %s", (outbox_id,)).fetchone()
            if row["dead_at"] is None:
                ceiling = outbox.BACKOFF_BASE * 2 ** (row["attempts"] - 1)
                assert ceiling / 2 - timedelta(seconds=1) <= row["wait"] <= ceiling
            assert "451" in row["last_error"]
    assert results == ["retry", "retry", "dead"]
    assert smtp.messages == []
    # In-app notifications were written on the first attempt and are not repeated.
    assert admin_conn.execute("SELECT count(*) AS n FROM notifications WHERE outbox_id = %s",
                              (outbox_id,)).fetchone()["n"] == 3
    dead = api(client, cw, "sysadmin").get("/api/v1/admin/outbox/dead").get_json()["items"]
    assert outbox_id in [d["id"] for d in dead]
    assert api(client, cw, "supervisor").get("/api/v1/admin/outbox/dead").status_code == 403
    res = api(client, cw, "sysadmin").post(f"/api/v1/admin/outbox/{outbox_id}/requeue")
    assert res.status_code == 200
    with smtp_server() as (smtp, url):
        assert _deliver(db, outbox_id, url) == "delivered"
    assert len(smtp.messages) == 2


def test_a_refused_address_is_not_retried_and_the_others_are_delivered(cw, db, admin_conn, ctx):
    outbox_id = _escalate(cw, db, admin_conn)
    with smtp_server() as (smtp, url):
        smtp.reject = {"head@example.kz"}
        assert _deliver(db, outbox_id, url) == "delivered"
    assert [m.to for m in smtp.messages] == [("sup@example.kz",)]
    states = {r["recipient_user_id"]: r["state"] for r in admin_conn.execute(
        "SELECT recipient_user_id, state FROM deliveries WHERE outbox_id = %s", (outbox_id,))}
    assert states == {cw.users["supervisor"].id: "sent", cw.users["head"].id: "rejected"}


def test_an_unfinished_message_is_dropped_by_the_server(ctx):
    with smtp_server() as (smtp, url):
        session = mailer.open_session(url)
        msg = messages.email(delivery.Notice(outbox_id=1, kind="clock.reminder", refs={}),
                             lang="ru", to="a@example.kz", sender=MAIL_FROM, url="https://x/",
                             message_id="<m1@example.kz>")
        pending = session.prepare(msg, MAIL_FROM, "a@example.kz")
        pending.abort()  # what happens when the "sent" commit fails
        session = mailer.open_session(url)
        session.prepare(msg, MAIL_FROM, "a@example.kz").finish()
        session.close()
    assert smtp.ids() == ["<m1@example.kz>"]


def test_without_smtp_url_mail_goes_to_a_folder_or_the_log(cw, db, admin_conn, ctx, tmp_path, caplog):
    outbox_id = _escalate(cw, db, admin_conn)
    assert _deliver(db, outbox_id, f"file://{tmp_path}") == "delivered"
    assert len(list(tmp_path.glob("*.eml"))) == 2
    other = _escalate(cw, db, admin_conn)
    with caplog.at_level("INFO", logger="qorgau.mail"):
        assert _deliver(db, other, None) == "delivered"
    assert sum("e-mail (no SMTP_URL set)" in r.message for r in caplog.records) == 2


def test_other_capabilities_topics_reach_supervisors_and_oversight(cw, db, admin_conn, ctx):
    with transaction(SYSTEM) as conn:
        outbox_id = outbox.enqueue(conn, "grants.emergency_access_granted", grant_id=7,
                                   agency_id=cw.agency_id, region_id=cw.region_id, child_id=None)
    with smtp_server() as (smtp, url):
        assert _deliver(db, outbox_id, url) == "delivered"
    users = {r["user_id"] for r in admin_conn.execute(
        "SELECT user_id FROM notifications WHERE outbox_id = %s", (outbox_id,))}
    assert users == {cw.users[u].id for u in ("supervisor", "supervisor2", "head", "oversight")}
    assert "prosecutor@example.kz" in {m.to[0] for m in smtp.messages}


def test_payloads_carry_ids_and_codes_only(ctx):
    with pytest.raises(outbox.PayloadError):
        outbox.check_payload({"note": "the child said her father hits her"})
    with pytest.raises(outbox.PayloadError):
        outbox.check_payload({"Bad-Key": 1})
    assert outbox.check_payload({"user_ids": [1, 2], "level": 2, "kind": "screening_decision"}) == {
        "user_ids": [1, 2], "level": 2, "kind": "screening_decision"}


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    rng = random.Random(5)
    for attempts in range(1, 20):
        ceiling = min(outbox.BACKOFF_CAP, outbox.BACKOFF_BASE * 2 ** (attempts - 1))
        wait = outbox.backoff(attempts, rng=rng)
        assert ceiling / 2 <= wait <= ceiling
    assert len({outbox.backoff(4, rng=rng) for _ in range(20)}) > 1


def test_the_notification_list_is_each_users_own(client, cw, db, admin_conn, ctx):
    outbox_id = _escalate(cw, db, admin_conn)
    with smtp_server() as (_, url):
        _deliver(db, outbox_id, url)
    sup = api(client, cw, "supervisor")
    body = sup.get("/api/v1/notifications?unread_only=true").get_json()
    mine = [n for n in body["items"] if n["refs"].get("escalation_id") is not None]
    assert mine and body["unread_count"] >= 1
    assert mine[0]["title"] == "Эскалация, 1-деңгей: мерзім өтіп кетті"  # Kazakh, her language
    other = api(client, cw, "worker")
    assert other.post(f"/api/v1/notifications/{mine[0]['id']}/read").status_code == 404
    res = sup.post(f"/api/v1/notifications/{mine[0]['id']}/read")
    assert res.status_code == 200
    assert res.get_json()["unread_count"] == sup.get("/api/v1/notifications/unread-count").get_json()["unread_count"]
    assert sup.post("/api/v1/notifications/read-all").get_json() == {"unread_count": 0}
    assert sup.get("/api/v1/notifications/unread-count").get_json() == {"unread_count": 0}


def test_rows_about_a_referral_an_approval_or_a_grant_name_it_as_their_subject(cw, db, admin_conn, ctx):
    """The in-app notification leads straight to its record, and the e-mail names its number."""
    rows = [("referral.received", dict(referral_id=9001, agency_id=cw.agency_id), ("referral", 9001)),
            ("referral.status_changed", dict(referral_id=9002, agency_id=cw.agency_id, update_id=5),
             ("referral", 9002)),
            ("approval.requested", dict(approval_id=9003, agency_id=cw.agency_id), ("approval", 9003)),
            ("grants.emergency_access_granted", dict(grant_id=9004, agency_id=cw.agency_id,
                                                     region_id=cw.region_id, child_id=9005),
             ("grant", 9004))]
    with smtp_server() as (smtp, url):
        for topic, payload, (subject_type, subject_id) in rows:
            with transaction(SYSTEM) as conn:
                outbox_id = outbox.enqueue(conn, topic, **payload)
            assert _deliver(db, outbox_id, url) == "delivered"
            found = admin_conn.execute("SELECT DISTINCT subject_type, subject_id, child_id"
                                       " FROM notifications WHERE outbox_id = %s",
                                       (outbox_id,)).fetchall()
            assert [(r["subject_type"], r["subject_id"]) for r in found] == [(subject_type, subject_id)]
            assert found[0]["child_id"] == payload.get("child_id")
    english = [m for m in smtp.messages if m.language == "en"]
    assert any("referral no. 9001" in m.body for m in english)
