"""Oversight reads every case of its region and writes one thing: instructions."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.case_factories import audit_events, clocks_of


def test_oversight_reads_the_case_and_lists_the_region(api, new_case, admin_conn, cw):
    case = new_case()
    response = api("oversight").get(f"/api/v1/cases/{case.id}")
    assert response.status_code == 200 and response.get_json()["access"] == "oversight"
    assert audit_events(admin_conn, "case_viewed", object_id=case.id)[-1]["purpose"] == "oversight"
    assert api("far_oversight").get(f"/api/v1/cases/{case.id}").status_code == 404


def test_oversight_issues_an_instruction(api, new_case, admin_conn, cw):
    case = new_case()
    due = (datetime.now(timezone.utc) + timedelta(days=3)).isoformat()
    response = api("oversight").post(f"/api/v1/cases/{case.id}/instructions", json={
        "body": "Convene a strategy meeting with police within 1 working day.",
        "addressed_agency_id": cw.agencies["police"].id, "due_at": due})
    assert response.status_code == 201, response.get_json()
    entry = response.get_json()
    assert (entry["kind"], entry["visibility"], entry["agency_id"], entry["addressed_agency_id"]) == (
        "instruction", "all_participants", cw.agencies["prosecutor"].id, cw.agencies["police"].id)
    assert entry["due_at"] is not None
    seen = api("caseworker").get(f"/api/v1/cases/{case.id}/chronology").get_json()["items"]
    assert seen[-1]["body"].startswith("Convene a strategy meeting")
    event = audit_events(admin_conn, "instruction_issued", object_id=case.id)[-1]
    assert event["actor_user_id"] == cw.users["oversight"].id and event["details"]["entry_id"] == entry["id"]
    queued = admin_conn.execute("SELECT payload FROM outbox WHERE topic = 'case.instruction_issued'"
                                " AND (payload->>'entry_id')::bigint = %s", (entry["id"],)).fetchall()
    assert len(queued) == 1 and queued[0]["payload"]["agency_id"] == cw.agencies["police"].id
    assert queued[0]["payload"]["child_id"] == case.child_id
    # The instruction's clock runs to the date oversight set, owned by the addressed agency.
    [clock] = clocks_of(admin_conn, "instruction", entry["id"])
    assert (clock["kind"], clock["agency_id"], clock["stopped_at"]) == ("instruction", cw.agencies["police"].id, None)
    assert clock["due_at"] == datetime.fromisoformat(due)


def test_an_instruction_defaults_to_the_lead_and_checks_its_fields(api, new_case, admin_conn, cw):
    case = new_case()
    oversight = api("oversight")
    plain = oversight.post(f"/api/v1/cases/{case.id}/instructions", json={"body": "Report on progress."})
    assert plain.status_code == 201 and plain.get_json()["addressed_agency_id"] == cw.agencies["social_services"].id
    [clock] = clocks_of(admin_conn, "instruction", plain.get_json()["id"])
    assert clock["due_at"] > datetime.now(timezone.utc) + timedelta(days=4)  # the policy's 5 working days
    past = oversight.post(f"/api/v1/cases/{case.id}/instructions",
                          json={"body": "x", "due_at": "2020-01-01T00:00:00+00:00"})
    assert past.status_code == 422 and past.get_json()["field"] == "due_at"
    nobody = oversight.post(f"/api/v1/cases/{case.id}/instructions",
                            json={"body": "x", "addressed_agency_id": cw.agencies["health"].id})
    assert nobody.status_code == 422 and nobody.get_json()["field"] == "addressed_agency_id"


def test_practitioners_and_other_regions_cannot_instruct(api, new_case, admin_conn, cw):
    case = new_case()
    for who in ("social_supervisor", "far_oversight"):
        response = api(who).post(f"/api/v1/cases/{case.id}/instructions", json={"body": "Do this."})
        assert response.status_code == 404, who
        assert audit_events(admin_conn, "access_denied", object_id=case.id, object_type="case",
                            actor=cw.users[who].id)[-1]["details"]["attempted"] == "instruction_issued"


def writes(case, cw):
    """Every write of the case API other than an instruction, as (method, path, body, attempted)."""
    police, social = cw.agencies["police"].id, cw.agencies["social_services"].id
    aid = case.assessment_ids["legal"]
    base = f"/api/v1/cases/{case.id}"
    return [
        ("post", f"{base}/transitions", {"to": "assessment"}, "case_transitioned"),
        ("post", f"{base}/closure-request", {"reason": "Oversight wants it closed."}, "case_closure_requested"),
        ("post", f"{base}/reopen", {"reason": "Oversight wants it reopened."}, "case_reopened"),
        ("post", f"{base}/participants", {"agency_id": cw.agencies["health"].id}, "participant_added"),
        ("delete", f"{base}/participants/{police}", None, "participant_left"),
        ("put", f"{base}/participants/{social}/assignee", {"user_id": cw.users["social_worker"].id},
         "worker_assigned"),
        ("post", f"{base}/lead", {"agency_id": police}, "lead_agency_changed"),
        ("post", f"{base}/assessments", {"kind": "social", "agency_id": police}, "assessment_created"),
        ("post", f"{base}/assessments/{aid}/complete", {"outcome": "inconclusive", "summary": "x"},
         "assessment_completed"),
        ("post", f"{base}/assessments/{aid}/skip-request", {"reason": "Oversight says skip it."},
         "assessment_skip_requested"),
        ("post", f"{base}/chronology", {"kind": "note", "visibility": "all_participants", "body": "x"},
         "chronology_entry_added"),
    ]


@pytest.mark.parametrize("index", range(11))
def test_every_other_oversight_write_is_refused_and_audited(api, new_case, admin_conn, cw, index):
    case = new_case()
    method, path, body, attempted = writes(case, cw)[index]
    before = admin_conn.execute("SELECT version FROM cases WHERE id = %s", (case.id,)).fetchone()["version"]
    oversight = api("oversight")
    response = getattr(oversight, method)(path, **({"json": body} if body is not None else {}))
    assert response.status_code in (403, 404), (path, response.get_json())
    denial = audit_events(admin_conn, "access_denied", object_id=case.id, object_type="case", actor=cw.users["oversight"].id)
    assert denial and denial[-1]["details"]["attempted"] == attempted and denial[-1]["outcome"] == "denied"
    assert admin_conn.execute("SELECT version FROM cases WHERE id = %s", (case.id,)).fetchone()["version"] == before
    assert admin_conn.execute("SELECT count(*) AS n FROM chronology_entries WHERE case_id = %s",
                              (case.id,)).fetchone()["n"] == 0


def test_oversight_cannot_decide_approvals_or_export(api, new_case, admin_conn, cw):
    case = new_case()
    assert api("oversight").get("/api/v1/approvals").status_code == 403
    assert api("oversight").get(f"/api/v1/cases/{case.id}/export").status_code == 404
