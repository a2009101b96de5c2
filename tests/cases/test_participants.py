"""Participating agencies (add, leave, hand over the lead) and assigned workers."""
from __future__ import annotations

from tests.case_factories import audit_events


def agency_ids(body) -> set[int]:
    return {p["agency_id"] for p in body["participants"] if p["left_at"] is None}


def test_the_lead_adds_an_agency_whose_people_then_see_the_case(api, new_case, admin_conn, cw):
    case = new_case(participants=())
    health = cw.agencies["health"].id
    assert api("health_worker").get(f"/api/v1/cases/{case.id}").status_code == 404
    response = api("social_worker").post(f"/api/v1/cases/{case.id}/participants", json={"agency_id": health})
    assert response.status_code == 201 and health in agency_ids(response.get_json())
    assert api("health_worker").get(f"/api/v1/cases/{case.id}").status_code == 200
    event = audit_events(admin_conn, "participant_added", object_id=case.id)[-1]
    assert event["details"]["agency_id"] == health and event["details"]["rejoined"] is False


def test_only_the_lead_adds_agencies(api, new_case, admin_conn, cw):
    case = new_case()
    response = api("police_worker").post(f"/api/v1/cases/{case.id}/participants",
                                         json={"agency_id": cw.agencies["health"].id})
    assert response.status_code == 403
    assert audit_events(admin_conn, "access_denied", object_id=case.id, object_type="case",
                        actor=cw.users["police_worker"].id)[-1]["details"]["reason"] == "not_lead_agency"


def test_agencies_that_cannot_take_part(api, new_case, cw):
    case = new_case()
    lead = api("social_worker")
    path = f"/api/v1/cases/{case.id}/participants"
    already = lead.post(path, json={"agency_id": cw.agencies["police"].id})
    assert already.status_code == 409 and already.get_json()["field"] == "agency_id"
    for name in ("prosecutor", "far_school"):
        refused = lead.post(path, json={"agency_id": cw.agencies[name].id})
        assert refused.status_code == 422 and refused.get_json()["field"] == "agency_id", name
    assert lead.post(path, json={"agency_id": 987654321}).status_code == 422


def test_a_leaving_agency_loses_access_on_its_next_request(api, new_case, admin_conn, cw):
    case = new_case(assessments=(("psychological", "social_services"),))
    police_worker = api("police_worker")
    assert police_worker.get(f"/api/v1/cases/{case.id}/chronology").status_code == 200
    response = api("police_supervisor").delete(f"/api/v1/cases/{case.id}/participants/{cw.agencies['police'].id}")
    assert response.status_code == 204
    for path in ("", "/chronology", "/assessments"):
        assert police_worker.get(f"/api/v1/cases/{case.id}{path}").status_code == 404, path
    assert police_worker.post(f"/api/v1/cases/{case.id}/chronology",
                              json={"kind": "note", "visibility": "all_participants",
                                    "body": "Late note"}).status_code == 404
    left = admin_conn.execute("SELECT left_at FROM case_participants WHERE case_id = %s AND agency_id = %s",
                              (case.id, cw.agencies["police"].id)).fetchone()
    assert left["left_at"] is not None
    assert audit_events(admin_conn, "participant_left", object_id=case.id)[-1]["details"]["agency_id"] == \
        cw.agencies["police"].id
    # The history stays: the lead still sees the agency, marked as having left.
    body = api("social_worker").get(f"/api/v1/cases/{case.id}").get_json()
    assert cw.agencies["police"].id not in agency_ids(body)
    assert any(p["agency_id"] == cw.agencies["police"].id and p["left_at"] for p in body["participants"])


def test_an_agency_that_left_can_be_brought_back(api, new_case, admin_conn, cw):
    case = new_case(participants=("police",), assessments=())
    police = cw.agencies["police"].id
    api("police_supervisor").delete(f"/api/v1/cases/{case.id}/participants/{police}")
    back = api("social_worker").post(f"/api/v1/cases/{case.id}/participants", json={"agency_id": police})
    assert back.status_code == 201 and police in agency_ids(back.get_json())
    assert audit_events(admin_conn, "participant_added", object_id=case.id)[-1]["details"]["rejoined"] is True
    assert api("police_worker").get(f"/api/v1/cases/{case.id}").status_code == 200


def test_an_agency_with_open_assessments_cannot_leave(api, new_case, cw):
    case = new_case()
    response = api("police_supervisor").delete(f"/api/v1/cases/{case.id}/participants/{cw.agencies['police'].id}")
    assert response.status_code == 409 and response.get_json()["assessment_ids"] == [case.assessment_ids["legal"]]


def test_caseworkers_do_not_withdraw_agencies_and_supervisors_only_their_own(api, new_case, admin_conn, cw):
    case = new_case(assessments=())
    police = cw.agencies["police"].id
    assert api("police_worker").delete(f"/api/v1/cases/{case.id}/participants/{police}").status_code == 403
    assert api("supervisor").delete(f"/api/v1/cases/{case.id}/participants/{police}").status_code == 403
    reasons = [e["details"]["reason"] for e in audit_events(admin_conn, "access_denied", object_id=case.id, object_type="case")]
    assert reasons[-2:] == ["not_supervisor", "not_own_agency"]
    # The lead's supervisor may withdraw another agency.
    assert api("social_supervisor").delete(f"/api/v1/cases/{case.id}/participants/{police}").status_code == 204


def test_the_lead_cannot_leave_until_it_hands_the_lead_over(api, new_case, admin_conn, cw):
    case = new_case(assessments=())
    social, police = cw.agencies["social_services"].id, cw.agencies["police"].id
    stuck = api("social_supervisor").delete(f"/api/v1/cases/{case.id}/participants/{social}")
    assert stuck.status_code == 409 and "hand the lead over" in stuck.get_json()["detail"]
    assert api("social_worker").post(f"/api/v1/cases/{case.id}/lead", json={"agency_id": police}).status_code == 403
    handed = api("social_supervisor").post(f"/api/v1/cases/{case.id}/lead", json={"agency_id": police})
    assert handed.status_code == 200 and handed.get_json()["lead_agency_id"] == police
    event = audit_events(admin_conn, "lead_agency_changed", object_id=case.id)[-1]
    assert event["details"] == {"from_agency_id": social, "to_agency_id": police, "version": 2}
    assert api("social_supervisor").delete(f"/api/v1/cases/{case.id}/participants/{social}").status_code == 204
    assert api("social_worker").get(f"/api/v1/cases/{case.id}").status_code == 404
    # The new lead now moves the case.
    assert api("police_worker").post(f"/api/v1/cases/{case.id}/transitions",
                                     json={"to": "assessment"}).status_code == 200


def test_the_lead_goes_only_to_an_agency_taking_part(api, new_case, cw):
    case = new_case(participants=())
    response = api("social_supervisor").post(f"/api/v1/cases/{case.id}/lead",
                                             json={"agency_id": cw.agencies["health"].id})
    assert response.status_code == 422 and response.get_json()["field"] == "agency_id"


# --- Assigned workers ---------------------------------------------------------------------------

def assignee_of(body, agency_id):
    return next(p["assigned_user_id"] for p in body["participants"] if p["agency_id"] == agency_id)


def test_a_supervisor_assigns_within_their_agency(api, new_case, admin_conn, cw):
    case = new_case()
    social = cw.agencies["social_services"].id
    path = f"/api/v1/cases/{case.id}/participants/{social}/assignee"
    response = api("social_supervisor").put(path, json={"user_id": cw.users["social_worker"].id})
    assert response.status_code == 200 and assignee_of(response.get_json(), social) == cw.users["social_worker"].id
    event = audit_events(admin_conn, "worker_assigned", object_id=case.id)[-1]
    assert event["details"]["assigned_user_id"] == cw.users["social_worker"].id
    assert event["actor_user_id"] == cw.users["social_supervisor"].id
    # Someone of another agency cannot be assigned, nor can a supervisor assign for another agency.
    wrong = api("social_supervisor").put(path, json={"user_id": cw.users["police_worker"].id})
    assert wrong.status_code == 422 and wrong.get_json()["field"] == "user_id"
    other = api("police_supervisor").put(path, json={"user_id": cw.users["police_worker"].id})
    assert other.status_code == 403
    cleared = api("social_supervisor").put(path, json={"user_id": None})
    assert assignee_of(cleared.get_json(), social) is None


def test_caseworkers_see_their_own_and_the_unassigned_queue_only(api, new_case, cw):
    case = new_case()
    social = cw.agencies["social_services"].id
    first, second = api("social_worker"), api("social_worker2")
    assert first.get(f"/api/v1/cases/{case.id}").status_code == 200
    assert second.get(f"/api/v1/cases/{case.id}").status_code == 200
    taken = first.put(f"/api/v1/cases/{case.id}/participants/{social}/assignee",
                      json={"user_id": cw.users["social_worker"].id})
    assert taken.status_code == 200
    assert first.get(f"/api/v1/cases/{case.id}").status_code == 200
    assert second.get(f"/api/v1/cases/{case.id}").status_code == 404
    assert second.put(f"/api/v1/cases/{case.id}/participants/{social}/assignee",
                      json={"user_id": cw.users["social_worker2"].id}).status_code == 404
    # The supervisor still sees it and can give it to the other worker.
    moved = api("social_supervisor").put(f"/api/v1/cases/{case.id}/participants/{social}/assignee",
                                         json={"user_id": cw.users["social_worker2"].id})
    assert moved.status_code == 200
    assert first.get(f"/api/v1/cases/{case.id}").status_code == 404
    assert second.get(f"/api/v1/cases/{case.id}").status_code == 200


def test_a_caseworker_takes_only_for_themselves(api, new_case, admin_conn, cw):
    case = new_case()
    social = cw.agencies["social_services"].id
    response = api("social_worker").put(f"/api/v1/cases/{case.id}/participants/{social}/assignee",
                                        json={"user_id": cw.users["social_worker2"].id})
    assert response.status_code == 403
    assert audit_events(admin_conn, "access_denied", object_id=case.id, object_type="case",
                        actor=cw.users["social_worker"].id)[-1]["details"]["reason"] == "not_supervisor"
    assert admin_conn.execute("SELECT assigned_user_id FROM case_participants WHERE case_id = %s"
                              " AND agency_id = %s", (case.id, social)).fetchone()["assigned_user_id"] is None


def test_assignment_of_another_agency_is_refused(api, new_case, cw):
    case = new_case()
    police = cw.agencies["police"].id
    response = api("social_supervisor").put(f"/api/v1/cases/{case.id}/participants/{police}/assignee",
                                            json={"user_id": cw.users["social_worker"].id})
    assert response.status_code == 403
