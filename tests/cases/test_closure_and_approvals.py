"""Closure: requested by a caseworker, approved by a supervisor of the lead agency; reopening;
the approvals list and its decision rules."""
from __future__ import annotations

import importlib.util

import pytest

from services.clocks.actions import start_clock
from services.db import transaction
from tests.case_factories import audit_events, clocks_of, finish_assessments
from tests.factories import SYSTEM

REASON = "Plan goals met; family engaged with support."


def request_closure(api, case, who="social_worker"):
    response = api(who).post(f"/api/v1/cases/{case.id}/closure-request", json={"reason": REASON})
    assert response.status_code == 202, response.get_json()
    return response.get_json()["approval_id"]


def test_closure_request_then_approval_closes_the_case(app, api, new_case, admin_conn, cw):
    case = new_case(state="monitoring")
    finish_assessments(admin_conn, case)
    with app.app_context(), transaction(SYSTEM) as conn:  # the case's review clock is running
        start_clock(conn, actor=SYSTEM, kind="review", subject_type="case", subject_id=case.id,
                    child_id=case.child_id, region_id=cw.region_id,
                    agency_id=cw.agencies["social_services"].id, priority="standard")
    approval_id = request_closure(api, case)
    detail = api("social_worker").get(f"/api/v1/cases/{case.id}").get_json()
    assert detail["closure_requested"] is True and detail["state"] == "monitoring"
    pending = api("social_supervisor").get("/api/v1/approvals").get_json()["items"]
    mine = next(a for a in pending if a["id"] == approval_id)
    assert (mine["kind"], mine["case_id"], mine["child_id"], mine["reason"]) == (
        "closure", case.id, case.child_id, REASON)
    decided = api("social_supervisor").post(f"/api/v1/approvals/{approval_id}",
                                             json={"decision": "approve", "note": "Agreed."})
    assert decided.status_code == 200 and decided.get_json()["state"] == "approved"
    closed = api("social_worker").get(f"/api/v1/cases/{case.id}").get_json()
    assert closed["state"] == "closed" and closed["closed_at"] and closed["closure_requested"] is False
    assert approval_id not in {a["id"] for a in api("social_supervisor").get("/api/v1/approvals").get_json()["items"]}
    assert audit_events(admin_conn, "case_closure_requested", object_id=case.id)[-1]["details"]["approval_id"] == approval_id
    closed_event = audit_events(admin_conn, "case_closed", object_id=case.id)[-1]
    assert closed_event["actor_user_id"] == cw.users["social_supervisor"].id
    granted = audit_events(admin_conn, "approval_granted", object_id=approval_id)[-1]
    assert granted["details"]["kind"] == "closure" and granted["child_id"] == case.child_id
    assert [c["stop_reason"] for c in clocks_of(admin_conn, "case", case.id)] == ["completed"]


def test_closure_waits_for_every_assessment(api, new_case):
    case = new_case(state="assessment")
    response = api("social_worker").post(f"/api/v1/cases/{case.id}/closure-request", json={"reason": REASON})
    assert response.status_code == 409
    assert sorted(response.get_json()["assessment_ids"]) == sorted(case.assessment_ids.values())


@pytest.mark.parametrize("state", ["open", "planning"])
def test_closure_is_not_requested_from_open_or_planning(api, new_case, admin_conn, state):
    case = new_case(state=state)
    finish_assessments(admin_conn, case)
    response = api("social_worker").post(f"/api/v1/cases/{case.id}/closure-request", json={"reason": REASON})
    assert response.status_code == 409 and response.get_json()["state"] == state


def test_closure_is_requested_by_the_lead_only(api, new_case, admin_conn):
    case = new_case(state="monitoring")
    finish_assessments(admin_conn, case)
    response = api("police_worker").post(f"/api/v1/cases/{case.id}/closure-request", json={"reason": REASON})
    assert response.status_code == 403


def test_who_may_decide_a_closure(api, new_case, admin_conn, cw):
    case = new_case(state="monitoring")
    finish_assessments(admin_conn, case)
    approval_id = request_closure(api, case)
    path = f"/api/v1/approvals/{approval_id}"
    # A caseworker cannot decide, nor list approvals.
    assert api("social_worker2").post(path, json={"decision": "approve"}).status_code == 403
    assert api("social_worker2").get("/api/v1/approvals").status_code == 403
    # A supervisor of another agency neither sees nor decides it.
    assert approval_id not in {a["id"] for a in api("police_supervisor").get("/api/v1/approvals").get_json()["items"]}
    other = api("police_supervisor").post(path, json={"decision": "approve"})
    missing = api("police_supervisor").post("/api/v1/approvals/999999999", json={"decision": "approve"})
    assert other.status_code == missing.status_code == 404
    assert other.get_json()["detail"] == missing.get_json()["detail"]
    denials = audit_events(admin_conn, "access_denied", object_id=approval_id, object_type="approval")
    assert {d["actor_user_id"] for d in denials} == {cw.users["social_worker2"].id, cw.users["police_supervisor"].id}
    assert admin_conn.execute("SELECT state FROM approvals WHERE id = %s", (approval_id,)).fetchone()["state"] == "pending"
    # The supervisor decides once; a second decision is a conflict.
    assert api("social_supervisor").post(path, json={"decision": "approve"}).status_code == 200
    again = api("social_supervisor2").post(path, json={"decision": "reject", "note": "No."})
    assert again.status_code == 409 and again.get_json()["state"] == "approved"


def test_a_supervisor_does_not_approve_their_own_request(api, new_case, admin_conn):
    case = new_case(state="monitoring")
    finish_assessments(admin_conn, case)
    approval_id = request_closure(api, case, who="social_supervisor")
    own = api("social_supervisor").post(f"/api/v1/approvals/{approval_id}", json={"decision": "approve"})
    assert own.status_code == 403
    assert api("social_supervisor2").post(f"/api/v1/approvals/{approval_id}",
                                          json={"decision": "approve"}).status_code == 200


def test_a_rejected_closure_leaves_the_case_open_and_needs_a_reason(api, new_case, admin_conn, cw):
    case = new_case(state="monitoring")
    finish_assessments(admin_conn, case)
    approval_id = request_closure(api, case)
    path = f"/api/v1/approvals/{approval_id}"
    bare = api("social_supervisor").post(path, json={"decision": "reject"})
    assert bare.status_code == 422 and bare.get_json()["field"] == "note"
    rejected = api("social_supervisor").post(path, json={"decision": "reject", "note": "Monitor 3 more months."})
    assert rejected.status_code == 200 and rejected.get_json()["decision_note"] == "Monitor 3 more months."
    body = api("social_worker").get(f"/api/v1/cases/{case.id}").get_json()
    assert body["state"] == "monitoring" and body["closure_requested"] is False
    assert audit_events(admin_conn, "approval_rejected", object_id=approval_id)[-1]["actor_user_id"] == \
        cw.users["social_supervisor"].id
    # And it may be asked for again later.
    request_closure(api, case)


def test_a_second_closure_request_while_one_is_pending_is_409(api, new_case, admin_conn):
    case = new_case(state="monitoring")
    finish_assessments(admin_conn, case)
    request_closure(api, case)
    again = api("social_worker2").post(f"/api/v1/cases/{case.id}/closure-request", json={"reason": REASON})
    assert again.status_code == 409


def test_reopening_a_closed_case(api, new_case, admin_conn, cw):
    case = new_case(state="closed", assessments=())
    response = api("social_worker").post(f"/api/v1/cases/{case.id}/reopen",
                                         json={"reason": "New disclosure at school today."})
    assert response.status_code == 200
    body = response.get_json()
    assert body["state"] == "open" and body["reopen_count"] == 1 and body["closed_at"] is None
    event = audit_events(admin_conn, "case_reopened", object_id=case.id)[-1]
    assert event["actor_user_id"] == cw.users["social_worker"].id and event["details"]["reopen_count"] == 1
    entries = api("police_worker").get(f"/api/v1/cases/{case.id}/chronology").get_json()["items"]
    assert entries[-1]["kind"] == "decision" and entries[-1]["body"] == "New disclosure at school today."


def test_reopening_is_refused_when_the_child_has_another_open_case(api, new_case, admin_conn):
    old = new_case(state="closed", assessments=())
    new_case(child_id=old.child_id, assessments=())
    response = api("social_worker").post(f"/api/v1/cases/{old.id}/reopen",
                                         json={"reason": "New disclosure at school today."})
    assert response.status_code == 409
    assert admin_conn.execute("SELECT state FROM cases WHERE id = %s", (old.id,)).fetchone()["state"] == "closed"


def test_only_a_closed_case_is_reopened(api, new_case):
    case = new_case(state="planning")
    response = api("social_worker").post(f"/api/v1/cases/{case.id}/reopen",
                                         json={"reason": "New disclosure at school today."})
    assert response.status_code == 409 and response.get_json()["allowed"] == ["assessment", "monitoring"]


def test_the_approval_list_pages_oldest_first_with_a_cursor(api, new_case, admin_conn, cw):
    ids = []
    for _ in range(3):
        case = new_case(state="monitoring", lead="health", participants=(), assessments=())
        ids.append(request_closure(api, case, who="health_worker"))
    supervisor = api("health_supervisor")
    seen, cursor, sizes = [], None, []
    while True:
        page = supervisor.get("/api/v1/approvals?limit=2" + (f"&cursor={cursor}" if cursor else "")).get_json()
        sizes.append(len(page["items"]))
        seen += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [i for i in seen if i in ids] == ids and len(seen) == len(set(seen))
    assert max(sizes) == 2 and len(sizes) >= 2
    assert not set(ids) & {a["id"] for a in supervisor.get("/api/v1/approvals?kind=screen_out").get_json()["items"]}
    assert supervisor.get("/api/v1/approvals?kind=everything").status_code == 422
    assert supervisor.get("/api/v1/approvals?cursor=not-a-cursor").status_code == 422
    listed = audit_events(admin_conn, "approval_listed", actor=cw.users["health_supervisor"].id)
    assert listed and listed[-1]["outcome"] == "allowed" and "count" in listed[-1]["details"]


def test_referral_approvals_go_to_the_referrals_handlers(api, new_case, admin_conn, cw):
    case = new_case()
    approval_id = admin_conn.execute(
        """INSERT INTO approvals (kind, agency_id, referral_id, requested_by, reason)
           VALUES ('screen_out', %s, %s, %s, 'No role for this agency here.') RETURNING id""",
        (cw.agencies["school"].id, case.referral_id, cw.users["caseworker"].id)).fetchone()["id"]
    handler = importlib.util.find_spec("services.referrals.actions")
    response = api("supervisor").post(f"/api/v1/approvals/{approval_id}", json={"decision": "approve"})
    if handler is None:
        assert response.status_code == 409 and "not available" in response.get_json()["detail"]
    else:
        assert response.status_code < 500
    if response.status_code >= 400:
        assert admin_conn.execute("SELECT state FROM approvals WHERE id = %s",
                                  (approval_id,)).fetchone()["state"] == "pending"
