"""Case states: the transition table, 409s that list what is allowed, versions, who may move a case."""
from __future__ import annotations

import pytest

from services.cases.records import TRANSITIONS
from tests.case_factories import audit_events

ALLOWED = [(start, to) for start, targets in TRANSITIONS.items() for to in targets]
STATES = ("open", "assessment", "planning", "monitoring", "closed")
DISALLOWED = [(start, to) for start in STATES for to in STATES
              if to not in TRANSITIONS[start]]


def test_the_table_is_the_documented_one():
    assert TRANSITIONS == {"open": ("assessment",), "assessment": ("planning",),
                           "planning": ("assessment", "monitoring"), "monitoring": ("planning",),
                           "closed": ()}


@pytest.mark.parametrize("start, to", ALLOWED)
def test_every_allowed_transition(api, new_case, admin_conn, cw, start, to):
    case = new_case(state=start)
    response = api("social_worker").post(f"/api/v1/cases/{case.id}/transitions", json={"to": to})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["state"] == to and body["version"] == 2
    assert response.headers["ETag"] == '"2"'
    assert body["allowed_transitions"] == list(TRANSITIONS[to])
    event = audit_events(admin_conn, "case_transitioned", object_id=case.id)[-1]
    assert event["outcome"] == "allowed" and event["child_id"] == case.child_id
    assert event["actor_user_id"] == cw.users["social_worker"].id
    assert event["details"]["from_state"] == start and event["details"]["to_state"] == to


@pytest.mark.parametrize("start, to", DISALLOWED)
def test_every_disallowed_transition_is_409_naming_the_allowed_ones(api, new_case, admin_conn, start, to):
    case = new_case(state=start)
    response = api("social_worker").post(f"/api/v1/cases/{case.id}/transitions", json={"to": to})
    assert response.status_code == 409
    body = response.get_json()
    assert body["allowed"] == list(TRANSITIONS[start]) and body["state"] == start
    assert body["field"] == "to"
    assert admin_conn.execute("SELECT state, version FROM cases WHERE id = %s",
                              (case.id,)).fetchone() == {"state": start, "version": 1}


def test_closing_directly_points_to_the_closure_request(api, new_case):
    case = new_case(state="monitoring")
    body = api("social_worker").post(f"/api/v1/cases/{case.id}/transitions", json={"to": "closed"}).get_json()
    assert body["status"] == 409 and body["closure_request_allowed"] is True
    assert "closure request" in body["detail"]


def test_stale_version_in_body_or_if_match_is_409(api, new_case):
    case = new_case()
    worker = api("social_worker")
    path = f"/api/v1/cases/{case.id}/transitions"
    assert worker.post(path, json={"to": "assessment", "version": 1}).status_code == 200
    stale = worker.post(path, json={"to": "planning", "version": 1})
    assert stale.status_code == 409 and stale.get_json()["current_version"] == 2
    assert stale.get_json()["field"] == "version"
    assert worker.post(path, json={"to": "planning"}, headers={"If-Match": '"1"'}).status_code == 409
    assert worker.post(path, json={"to": "planning"}, headers={"If-Match": 'W/"2"'}).status_code == 200


def test_if_match_that_is_not_a_version_is_422(api, new_case):
    case = new_case()
    response = api("social_worker").post(f"/api/v1/cases/{case.id}/transitions", json={"to": "assessment"},
                                         headers={"If-Match": "yesterday"})
    assert response.status_code == 422 and response.get_json()["field"] == "If-Match"


def test_get_case_gives_its_etag_and_audits_the_read(api, new_case, admin_conn, cw):
    case = new_case()
    response = api("police_worker").get(f"/api/v1/cases/{case.id}")
    assert response.status_code == 200 and response.headers["ETag"] == '"1"'
    body = response.get_json()
    assert body["lead_agency_id"] == cw.agencies["social_services"].id and body["access"] == "participant"
    assert {p["agency_id"] for p in body["participants"]} == {
        cw.agencies[n].id for n in ("social_services", "school", "police")}
    assert body["referral_ids"] == [case.referral_id]
    event = audit_events(admin_conn, "case_viewed", object_id=case.id)[-1]
    assert (event["actor_user_id"], event["child_id"], event["outcome"]) == (
        cw.users["police_worker"].id, case.child_id, "allowed")


def test_only_the_lead_agency_moves_the_case(api, new_case, admin_conn, cw):
    case = new_case()
    response = api("police_worker").post(f"/api/v1/cases/{case.id}/transitions", json={"to": "assessment"})
    assert response.status_code == 403
    denial = audit_events(admin_conn, "access_denied", object_id=case.id, object_type="case", actor=cw.users["police_worker"].id)
    assert denial[-1]["details"] == {"attempted": "case_transitioned", "reason": "not_lead_agency"}
    assert admin_conn.execute("SELECT state FROM cases WHERE id = %s", (case.id,)).fetchone()["state"] == "open"


def test_an_agency_outside_the_case_gets_the_same_404_as_a_missing_case(api, new_case, admin_conn, cw):
    case = new_case()
    outsider = api("outsider")
    hidden = outsider.post(f"/api/v1/cases/{case.id}/transitions", json={"to": "assessment"})
    missing = outsider.post("/api/v1/cases/999999999/transitions", json={"to": "assessment"})
    assert hidden.status_code == missing.status_code == 404
    assert hidden.get_json()["detail"] == missing.get_json()["detail"]
    assert outsider.get(f"/api/v1/cases/{case.id}").status_code == 404
    denial = audit_events(admin_conn, "access_denied", object_id=case.id, object_type="case", actor=cw.users["outsider"].id)
    assert [d["details"]["attempted"] for d in denial] == ["case_transitioned", "case_viewed"]
    assert denial[0]["child_id"] == case.child_id and denial[0]["outcome"] == "denied"


def test_a_pending_closure_freezes_the_state(api, new_case, admin_conn):
    case = new_case(state="monitoring", assessments=())
    worker = api("social_worker")
    assert worker.post(f"/api/v1/cases/{case.id}/closure-request",
                       json={"reason": "Plan completed, family stable."}).status_code == 202
    response = worker.post(f"/api/v1/cases/{case.id}/transitions", json={"to": "planning"})
    assert response.status_code == 409 and "closure" in response.get_json()["detail"]
