"""Assessments: completing with an outcome, skipping with a supervisor's recorded reason."""
from __future__ import annotations

from tests.case_factories import audit_events, clocks_of

SUMMARY = "Child presents as anxious; school attendance low; mother cooperative."


def test_the_case_lists_its_assessments(api, new_case, admin_conn, cw):
    case = new_case()
    body = api("police_worker").get(f"/api/v1/cases/{case.id}/assessments").get_json()
    assert {(a["kind"], a["agency_id"], a["state"]) for a in body["items"]} == {
        ("psychological", cw.agencies["social_services"].id, "assigned"),
        ("legal", cw.agencies["police"].id, "assigned")}
    event = audit_events(admin_conn, "case_viewed", object_id=case.id)[-1]
    assert event["details"] == {"section": "assessments", "count": 2}


def test_completing_records_the_outcome_and_a_result_entry(api, new_case, admin_conn, cw):
    case = new_case()
    aid = case.assessment_ids["psychological"]
    response = api("social_worker").post(f"/api/v1/cases/{case.id}/assessments/{aid}/complete",
                                         json={"outcome": "support_needed", "summary": SUMMARY,
                                               "visibility": "own_agency"})
    assert response.status_code == 200, response.get_json()
    done = response.get_json()
    assert done["state"] == "completed" and done["outcome"] == "support_needed" and done["completed_at"]
    entries = api("social_worker").get(f"/api/v1/cases/{case.id}/chronology").get_json()["items"]
    result = next(e for e in entries if e["id"] == done["result_entry_id"])
    assert result["kind"] == "assessment_result" and result["body"] == SUMMARY
    # The outcome code is shared; the written summary keeps the visibility its author chose.
    police_view = api("police_worker").get(f"/api/v1/cases/{case.id}/chronology").get_json()["items"]
    hidden = next(e for e in police_view if e["id"] == done["result_entry_id"])
    assert hidden["body"] is None and hidden["restricted"] is True
    assert audit_events(admin_conn, "assessment_completed", object_id=case.id)[-1]["details"] == {
        "assessment_id": aid, "outcome": "support_needed", "entry_id": done["result_entry_id"]}
    again = api("social_worker").post(f"/api/v1/cases/{case.id}/assessments/{aid}/complete",
                                      json={"outcome": "inconclusive", "summary": SUMMARY})
    assert again.status_code == 409


def test_only_the_assessing_agency_completes(api, new_case, admin_conn, cw):
    case = new_case()
    aid = case.assessment_ids["legal"]
    response = api("social_worker").post(f"/api/v1/cases/{case.id}/assessments/{aid}/complete",
                                         json={"outcome": "no_further_action", "summary": SUMMARY})
    assert response.status_code == 403
    assert admin_conn.execute("SELECT state FROM assessments WHERE id = %s", (aid,)).fetchone()["state"] == "assigned"
    assert api("social_worker").post(f"/api/v1/cases/{case.id}/assessments/999999/complete",
                                     json={"outcome": "no_further_action", "summary": SUMMARY}).status_code == 404


def test_an_unknown_outcome_is_422(api, new_case):
    case = new_case()
    aid = case.assessment_ids["psychological"]
    response = api("social_worker").post(f"/api/v1/cases/{case.id}/assessments/{aid}/complete",
                                         json={"outcome": "fine", "summary": SUMMARY})
    assert response.status_code == 422 and response.get_json()["field"] == "outcome"


def test_skipping_needs_a_supervisors_recorded_reason(api, new_case, admin_conn, cw):
    case = new_case()
    aid = case.assessment_ids["legal"]
    asked = api("police_worker").post(f"/api/v1/cases/{case.id}/assessments/{aid}/skip-request",
                                      json={"reason": "Already assessed in the linked 2024 case."})
    assert asked.status_code == 202
    approval_id = asked.get_json()["approval_id"]
    listed = api("police_worker").get(f"/api/v1/cases/{case.id}/assessments").get_json()["items"]
    assert next(a for a in listed if a["id"] == aid)["state"] == "skip_requested"
    pending = api("police_supervisor").get("/api/v1/approvals?kind=skip_assessment").get_json()["items"]
    assert any(a["id"] == approval_id and a["assessment_id"] == aid for a in pending)
    path = f"/api/v1/approvals/{approval_id}"
    no_reason = api("police_supervisor").post(path, json={"decision": "approve"})
    assert no_reason.status_code == 422 and no_reason.get_json()["field"] == "note"
    assert api("social_supervisor").post(path, json={"decision": "approve", "note": "x"}).status_code == 404
    approved = api("police_supervisor").post(path, json={"decision": "approve",
                                                         "note": "The 2024 legal assessment still holds."})
    assert approved.status_code == 200
    row = admin_conn.execute("SELECT state, skip_reason FROM assessments WHERE id = %s", (aid,)).fetchone()
    assert row == {"state": "skipped", "skip_reason": "The 2024 legal assessment still holds."}
    assert audit_events(admin_conn, "assessment_skipped", object_id=case.id)[-1]["actor_user_id"] == \
        cw.users["police_supervisor"].id
    assert audit_events(admin_conn, "assessment_skip_requested", object_id=case.id)[-1]["details"] == {
        "assessment_id": aid, "approval_id": approval_id}


def test_a_rejected_skip_puts_the_assessment_back(api, new_case, admin_conn):
    case = new_case()
    aid = case.assessment_ids["legal"]
    approval_id = api("police_worker").post(f"/api/v1/cases/{case.id}/assessments/{aid}/skip-request",
                                            json={"reason": "We think it is not needed here."}).get_json()["approval_id"]
    again = api("police_worker").post(f"/api/v1/cases/{case.id}/assessments/{aid}/skip-request",
                                      json={"reason": "We think it is not needed here."})
    assert again.status_code == 409
    rejected = api("police_supervisor").post(f"/api/v1/approvals/{approval_id}",
                                             json={"decision": "reject", "note": "Do the assessment."})
    assert rejected.status_code == 200
    assert admin_conn.execute("SELECT state FROM assessments WHERE id = %s", (aid,)).fetchone()["state"] == "assigned"


def test_the_lead_assigns_a_further_assessment(api, new_case, admin_conn, cw):
    case = new_case()
    response = api("social_worker").post(f"/api/v1/cases/{case.id}/assessments",
                                         json={"kind": "social", "agency_id": cw.agencies["school"].id,
                                               "assignee_user_id": cw.users["caseworker"].id})
    assert response.status_code == 201
    created = response.get_json()
    assert (created["kind"], created["state"], created["assignee_user_id"]) == (
        "social", "assigned", cw.users["caseworker"].id)
    # Assigned to one worker: another caseworker of the agency may not complete it.
    other = api("caseworker2").post(f"/api/v1/cases/{case.id}/assessments/{created['id']}/complete",
                                    json={"outcome": "support_needed", "summary": SUMMARY})
    assert other.status_code == 403
    assert api("police_worker").post(f"/api/v1/cases/{case.id}/assessments",
                                     json={"kind": "social", "agency_id": cw.agencies["police"].id}).status_code == 403
    outside = api("social_worker").post(f"/api/v1/cases/{case.id}/assessments",
                                        json={"kind": "social", "agency_id": cw.agencies["health"].id})
    assert outside.status_code == 422 and outside.get_json()["field"] == "agency_id"
    assert audit_events(admin_conn, "assessment_created", object_id=case.id)[-1]["details"]["assessment_id"] == created["id"]
    [clock] = clocks_of(admin_conn, "assessment", created["id"])
    assert (clock["kind"], clock["agency_id"], clock["stopped_at"]) == ("assessment", cw.agencies["school"].id, None)
    done = api("caseworker").post(f"/api/v1/cases/{case.id}/assessments/{created['id']}/complete",
                                  json={"outcome": "support_needed", "summary": SUMMARY})
    assert done.status_code == 200
    [clock] = clocks_of(admin_conn, "assessment", created["id"])
    assert clock["stopped_at"] is not None and clock["stop_reason"] == "completed"
