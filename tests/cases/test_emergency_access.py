"""Emergency ("break-glass") access: password re-entry, four hours, never restricted content or
exports, notification, and the supervisor's review."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.case_factories import audit_events, grant_emergency_access

REASON = "Child brought to our office at night with injuries; need history now."


def ask(api_client, child, **overrides):
    body = {"child_id": child, "reason": REASON, "password": api_client.user.password, **overrides}
    return api_client.post("/api/v1/access-grants", json=body)


def grants_of(admin_conn, user_id, child_id):
    return admin_conn.execute("SELECT * FROM access_grants WHERE user_id = %s AND child_id = %s",
                              (user_id, child_id)).fetchall()


def test_a_grant_opens_the_childs_cases_for_four_hours(api, new_case, admin_conn, cw):
    case = new_case()
    outsider = api("outsider")
    assert outsider.get(f"/api/v1/cases/{case.id}").status_code == 404
    before = datetime.now(timezone.utc)
    grant = grant_emergency_access(outsider, case.child_id, reason=REASON)
    expires = datetime.fromisoformat(grant["expires_at"])
    assert timedelta(hours=3, minutes=59) < expires - before < timedelta(hours=4, minutes=1)
    assert grant["live"] is True and grant["reviewed_at"] is None
    response = outsider.get(f"/api/v1/cases/{case.id}")
    assert response.status_code == 200 and response.get_json()["access"] == "emergency_grant"
    assert outsider.get(f"/api/v1/children/{case.child_id}/chronology").status_code == 200
    listed = outsider.get("/api/v1/cases").get_json()["items"]
    assert any(c["id"] == case.id and c["via_emergency_grant"] for c in listed)
    event = audit_events(admin_conn, "emergency_access_granted", object_id=grant["id"])[-1]
    assert (event["actor_user_id"], event["child_id"], event["purpose"]) == (
        cw.users["outsider"].id, case.child_id, "emergency_access")
    viewed = audit_events(admin_conn, "case_viewed", object_id=case.id, actor=cw.users["outsider"].id)[-1]
    assert viewed["purpose"] == "emergency_access"


def test_the_grant_notifies_the_supervisor_and_oversight_through_the_outbox(api, new_case, admin_conn, cw):
    case = new_case()
    grant = grant_emergency_access(api("outsider"), case.child_id)
    rows = admin_conn.execute("SELECT payload FROM outbox WHERE topic = 'grants.emergency_access_granted'"
                              " AND (payload->>'grant_id')::bigint = %s", (grant["id"],)).fetchall()
    assert len(rows) == 1
    assert rows[0]["payload"] == {"grant_id": grant["id"], "agency_id": cw.agencies["other_school"].id,
                                  "region_id": cw.region_id, "child_id": case.child_id}


def test_a_wrong_password_grants_nothing_and_counts_as_a_failed_sign_in(api, new_case, admin_conn, cw):
    case = new_case()
    outsider = api("outsider")
    response = ask(outsider, case.child_id, password="not my password at all")
    assert response.status_code == 401 and response.get_json()["field"] == "password"
    assert grants_of(admin_conn, cw.users["outsider"].id, case.child_id) == []
    assert outsider.get(f"/api/v1/cases/{case.id}").status_code == 404
    throttle = admin_conn.execute("SELECT failures FROM sign_in_throttle WHERE username_key = %s",
                                  (cw.users["outsider"].username,)).fetchone()
    assert throttle["failures"] >= 1
    assert audit_events(admin_conn, "sign_in_failed", actor=cw.users["outsider"].id)
    denial = audit_events(admin_conn, "access_denied", object_id=case.child_id, object_type="child",
                          actor=cw.users["outsider"].id)[-1]
    assert denial["details"] == {"attempted": "emergency_access_granted", "reason": "password"}
    admin_conn.execute("DELETE FROM sign_in_throttle WHERE username_key = %s", (cw.users["outsider"].username,))


def test_five_wrong_passwords_lock_the_name(api, new_case, admin_conn, cw):
    case = new_case()
    worker = api("far_worker")  # another region's worker: the lock, not the child, is what matters
    statuses = [ask(worker, case.child_id, password=f"wrong password {i}").status_code for i in range(6)]
    assert statuses[:5] == [401] * 5 and statuses[5] == 429
    assert ask(worker, case.child_id).status_code == 429  # even the right password, while locked
    admin_conn.execute("DELETE FROM sign_in_throttle WHERE username_key = %s", (cw.users["far_worker"].username,))


@pytest.mark.parametrize("overrides, field", [
    ({"reason": "Too short reason"}, "reason"),
    ({"reason": "                      "}, "reason"),
    ({"reason": None}, "reason"),
    ({"child_id": "12"}, "child_id"),
    ({"child_id": 0}, "child_id"),
    ({"password": ""}, "password"),
    ({"extra": True}, "extra"),
])
def test_bad_requests_name_the_field_and_grant_nothing(api, new_case, admin_conn, cw, overrides, field):
    case = new_case()
    response = ask(api("outsider"), case.child_id, **overrides)
    assert response.status_code == 422 and response.get_json()["field"] == field
    assert grants_of(admin_conn, cw.users["outsider"].id, case.child_id) == []


def test_only_caseworkers_ask_and_only_for_children_of_their_region(api, new_case, admin_conn, cw):
    case = new_case()
    assert ask(api("outsider_supervisor"), case.child_id).status_code == 403
    assert ask(api("oversight"), case.child_id).status_code == 403
    far = ask(api("far_worker"), case.child_id)
    assert far.status_code == 404 and far.get_json()["field"] == "child_id"
    assert ask(api("outsider"), 999999999).status_code == 404


def test_a_grant_never_shows_restricted_entries_nor_allows_export(api, new_case, cw):
    case = new_case()
    api("social_worker").post(f"/api/v1/cases/{case.id}/chronology",
                              json={"kind": "note", "visibility": "restricted", "body": "Sexual abuse details."})
    api("social_worker").post(f"/api/v1/cases/{case.id}/chronology",
                              json={"kind": "note", "visibility": "all_participants", "body": "Shared note."})
    outsider = api("outsider")
    grant_emergency_access(outsider, case.child_id)
    items = outsider.get(f"/api/v1/cases/{case.id}/chronology").get_json()["items"]
    assert [(e["visibility"], e["body"]) for e in items] == [("restricted", None), ("all_participants", "Shared note.")]
    assert outsider.get(f"/api/v1/cases/{case.id}/export").status_code == 404
    # A participant may export, and the export keeps the same per-entry rule.
    exported = api("caseworker").get(f"/api/v1/cases/{case.id}/export")
    assert exported.status_code == 200 and "attachment" in exported.headers["Content-Disposition"]
    assert [e["body"] for e in exported.get_json()["chronology"]] == [None, "Shared note."]


def test_a_grant_is_read_only(api, new_case, admin_conn, cw):
    """Break-glass access opens the record (DESIGN.md §4); it never writes to the case."""
    case = new_case()
    outsider = api("outsider")
    grant_emergency_access(outsider, case.child_id)
    assert outsider.get(f"/api/v1/cases/{case.id}").status_code == 200
    before = admin_conn.execute("SELECT count(*) FROM chronology_entries WHERE case_id = %s",
                                (case.id,)).fetchone()["count"]
    note = outsider.post(f"/api/v1/cases/{case.id}/chronology",
                         json={"kind": "contact", "visibility": "all_participants", "body": "Seen at night."})
    assert note.status_code == 404
    assert outsider.post(f"/api/v1/cases/{case.id}/transitions", json={"to": "assessment"}).status_code == 404
    assert outsider.post(f"/api/v1/cases/{case.id}/participants",
                         json={"agency_id": cw.agencies["other_school"].id}).status_code == 404
    assert admin_conn.execute("SELECT count(*) FROM chronology_entries WHERE case_id = %s",
                              (case.id,)).fetchone()["count"] == before
    assert admin_conn.execute("SELECT state FROM cases WHERE id = %s", (case.id,)).fetchone()["state"] == "open"


def test_an_expired_grant_stops_working_on_the_next_request(api, new_case, admin_conn):
    case = new_case()
    outsider = api("outsider")
    grant = grant_emergency_access(outsider, case.child_id)
    assert outsider.get(f"/api/v1/cases/{case.id}").status_code == 200
    admin_conn.execute("UPDATE access_grants SET expires_at = now() - interval '1 second' WHERE id = %s",
                       (grant["id"],))
    assert outsider.get(f"/api/v1/cases/{case.id}").status_code == 404
    assert outsider.get(f"/api/v1/children/{case.child_id}/chronology").status_code == 404
    assert all(c["id"] != case.id for c in outsider.get("/api/v1/cases").get_json()["items"])


def test_the_supervisor_reviews_grants_until_each_is_reviewed(api, new_case, admin_conn, cw):
    case = new_case()
    outsider = api("outsider")
    grant = grant_emergency_access(outsider, case.child_id)
    supervisor = api("outsider_supervisor")
    pending = supervisor.get("/api/v1/access-grants?pending_review=1").get_json()["items"]
    assert grant["id"] in {g["id"] for g in pending}
    assert next(g for g in pending if g["id"] == grant["id"])["reason"] == REASON
    # Other supervisors do not see it, caseworkers cannot review, and nobody reviews twice.
    assert grant["id"] not in {g["id"] for g in api("social_supervisor").get(
        "/api/v1/access-grants?pending_review=1").get_json()["items"]}
    assert api("social_supervisor").post(f"/api/v1/access-grants/{grant['id']}/review",
                                         json={"outcome": "justified"}).status_code == 404
    assert outsider.post(f"/api/v1/access-grants/{grant['id']}/review",
                         json={"outcome": "justified"}).status_code == 403
    reviewed = supervisor.post(f"/api/v1/access-grants/{grant['id']}/review",
                               json={"outcome": "justified", "note": "Night emergency, proportionate."})
    assert reviewed.status_code == 200
    assert reviewed.get_json()["review_outcome"] == "justified" and reviewed.get_json()["live"] is True
    assert grant["id"] not in {g["id"] for g in supervisor.get(
        "/api/v1/access-grants?pending_review=1").get_json()["items"]}
    assert grant["id"] in {g["id"] for g in supervisor.get("/api/v1/access-grants").get_json()["items"]}
    again = supervisor.post(f"/api/v1/access-grants/{grant['id']}/review", json={"outcome": "justified"})
    assert again.status_code == 409
    event = audit_events(admin_conn, "emergency_access_reviewed", object_id=grant["id"])[-1]
    assert event["actor_user_id"] == cw.users["outsider_supervisor"].id and event["child_id"] == case.child_id
    assert audit_events(admin_conn, "emergency_access_listed", actor=cw.users["outsider_supervisor"].id)


def test_an_unjustified_grant_ends_at_once(api, new_case, cw):
    case = new_case()
    outsider = api("outsider")
    grant = grant_emergency_access(outsider, case.child_id)
    supervisor = api("outsider_supervisor")
    bare = supervisor.post(f"/api/v1/access-grants/{grant['id']}/review", json={"outcome": "unjustified"})
    assert bare.status_code == 422 and bare.get_json()["field"] == "note"
    ended = supervisor.post(f"/api/v1/access-grants/{grant['id']}/review",
                            json={"outcome": "unjustified", "note": "No emergency; use a referral."})
    assert ended.status_code == 200 and ended.get_json()["live"] is False
    assert outsider.get(f"/api/v1/cases/{case.id}").status_code == 404


def test_oversight_and_the_holder_see_the_grant(api, new_case, cw):
    case = new_case()
    grant = grant_emergency_access(api("outsider"), case.child_id)
    assert grant["id"] in {g["id"] for g in api("oversight").get("/api/v1/access-grants").get_json()["items"]}
    assert grant["id"] not in {g["id"] for g in api("far_oversight").get("/api/v1/access-grants").get_json()["items"]}
    own = api("outsider").get("/api/v1/access-grants").get_json()["items"]
    assert {g["user_id"] for g in own} == {cw.users["outsider"].id}
    assert api("agency_admin").get("/api/v1/access-grants").status_code == 403
