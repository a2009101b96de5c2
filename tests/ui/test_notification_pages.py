"""The notifications page over HTTP: one's own list, the unread count in the navigation, marking
one or all read; someone else's notification is a 404."""
from __future__ import annotations

import re

from psycopg.types.json import Jsonb

from tests.case_factories import audit_events


def notify(admin_conn, user, kind: str, subject_type: str, subject_id: int, refs: dict) -> int:
    """A delivered notification for ``user``, as the delivery task writes it."""
    outbox_id = admin_conn.execute(
        "INSERT INTO outbox (topic, payload, delivered_at) VALUES (%s, '{}', now()) RETURNING id",
        (kind,)).fetchone()["id"]
    return admin_conn.execute(
        """INSERT INTO notifications (outbox_id, user_id, kind, subject_type, subject_id, refs)
           VALUES (%s, %s, %s, %s, %s, %s) RETURNING id""",
        (outbox_id, user.id, kind, subject_type, subject_id, Jsonb(refs))).fetchone()["id"]


def nav_unread(html: str) -> int | None:
    found = re.search(r'id="nav-unread">(\d+)', html)
    return int(found.group(1)) if found else None


def test_the_list_shows_ones_notifications_and_marks_them_read(page_as, cw, admin_conn):
    user = cw.users["health_supervisor"]
    admin_conn.execute("UPDATE notifications SET read_at = now() WHERE user_id = %s", (user.id,))
    first = notify(admin_conn, user, "escalation.raised", "case", 41, {"level": 1, "clock_id": 7})
    second = notify(admin_conn, user, "disagreement.advanced", "disagreement", 5,
                    {"disagreement_id": 5, "case_id": 42, "stage": 2})
    received = notify(admin_conn, user, "referral.received", None, None, {"referral_id": 43})
    approval = notify(admin_conn, user, "approval.requested", "approval", 44, {"approval_id": 44})
    grant = notify(admin_conn, user, "grants.emergency_access_granted", "grant", 45,
                   {"grant_id": 45, "child_id": 46})
    client = page_as("health_supervisor")
    page = client.get("/notifications").get_data(as_text=True)
    assert nav_unread(page) == 5 and 'href="/referrals/43"' in page
    assert 'href="/supervisor/approvals#approval-44"' in page
    assert 'href="/supervisor/emergency-access#grant-45"' in page
    assert "Escalation, level 1: a deadline has passed" in page and 'href="/cases/41"' in page
    assert "A professional disagreement has moved to stage 2" in page and 'href="/cases/42"' in page
    assert page.index(f'id="notification-{second}"') < page.index(f'id="notification-{first}"')
    assert audit_events(admin_conn, "notifications_listed", actor=user.id)

    assert client.post(f"/notifications/{first}/read").status_code == 302
    page = client.get("/notifications?unread=1").get_data(as_text=True)
    assert nav_unread(page) == 4 and f'id="notification-{first}"' not in page
    assert all(f'id="notification-{n}"' in page for n in (received, approval, grant))
    assert client.post("/notifications/read-all").status_code == 302
    page = client.get("/notifications").get_data(as_text=True)
    assert nav_unread(page) is None and 'data-read="no"' not in page


def test_anothers_notification_is_a_404_and_bad_input_no_500(page_as, cw, admin_conn):
    theirs = notify(admin_conn, cw.users["health_worker"], "clock.reminder", "referral", 3, {})
    client = page_as("health_supervisor")
    assert client.post(f"/notifications/{theirs}/read").status_code == 404
    assert admin_conn.execute("SELECT read_at FROM notifications WHERE id = %s",
                              (theirs,)).fetchone()["read_at"] is None
    assert client.post("/notifications/99999999999999999999/read").status_code == 404
    assert client.get("/notifications?before=abc").status_code == 400
