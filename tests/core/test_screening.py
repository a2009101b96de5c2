"""Screening through the API: accept (open or link the child's case, with its assessments), screen
out (a supervisor approves), redirect, priority changes, and what the referrer sees afterwards."""
from __future__ import annotations

import pytest

from tests.core_factories import (Api, assert_problem, at_once, audit_events, count, create_child,
                                  file_referral, key)

REFERRALS = "/api/v1/referrals"


@pytest.fixture
def child(api):
    return create_child(api("caseworker"))["id"]


@pytest.fixture
def agencies(core):
    return {name: a.id for name, a in core.agencies.items()}


def screen(api, referral, **body):
    return api.post(f"{REFERRALS}/{referral['id']}/screening", json={"version": referral["version"], **body})


def case_rows(admin_conn, child_id):
    return admin_conn.execute("SELECT * FROM cases WHERE child_id = %s ORDER BY id", (child_id,)).fetchall()


def test_accepting_opens_the_childs_case_with_both_assessments(api, core, child, agencies, admin_conn, mark):
    referral = file_referral(api("caseworker"), [child], [agencies["social_services"]])
    response = screen(api("social_worker"), referral, decision="accept")
    assert response.status_code == 200, response.get_json()
    result = response.get_json()
    assert result["state"] == "accepted"
    [case] = result["cases"]
    assert case["child_id"] == child and case["linked"] is False
    assert case["lead_agency_id"] == agencies["social_services"]
    [row] = case_rows(admin_conn, child)
    assert row["id"] == case["id"] and row["priority"] == referral["priority"] and row["state"] == "open"
    participants = admin_conn.execute("SELECT agency_id, assigned_user_id FROM case_participants WHERE case_id = %s",
                                      (case["id"],)).fetchall()
    assert participants == [{"agency_id": agencies["social_services"],
                             "assigned_user_id": core.users["social_worker"].id}]
    assessments = admin_conn.execute(
        "SELECT kind, agency_id, referral_id FROM assessments WHERE case_id = %s ORDER BY kind",
        (case["id"],)).fetchall()
    assert assessments == [{"kind": "legal", "agency_id": agencies["social_services"], "referral_id": referral["id"]},
                           {"kind": "psychological", "agency_id": agencies["social_services"],
                            "referral_id": referral["id"]}]
    actions = [e["action"] for e in audit_events(admin_conn, core.users["social_worker"], since=mark)]
    for expected in ("case_opened", "assessment_created", "referral_accepted", "referrer_update_sent"):
        assert expected in actions
    assert actions.count("assessment_created") == 2
    # The accepting caseworker works the case, and as the lead agency may know who referred.
    assert api("social_worker").get(f"/api/v1/cases/{case['id']}").status_code == 200
    assert api("social_worker").get(f"{REFERRALS}/{referral['id']}").get_json()["referrer"]["full_name"]


def test_a_named_lead_takes_part_and_the_assessments_follow_the_agency_kinds(api, core, child, agencies,
                                                                              admin_conn):
    referral = file_referral(api("caseworker"), [child], [agencies["health"]])
    result = screen(api("health_worker"), referral, decision="accept",
                    lead_agency_id=agencies["police"]).get_json()
    [case] = result["cases"]
    assert case["lead_agency_id"] == agencies["police"]
    kinds = dict((r["kind"], r["agency_id"]) for r in admin_conn.execute(
        "SELECT kind, agency_id FROM assessments WHERE case_id = %s", (case["id"],)).fetchall())
    assert kinds == {"psychological": agencies["health"], "legal": agencies["police"]}
    assert count(admin_conn, "SELECT 1 FROM case_participants WHERE case_id = %s", case["id"]) == 2


def test_after_acceptance_the_referrer_sees_the_status_only(api, core, child, agencies, admin_conn, mark):
    referral = file_referral(api("caseworker"), [child], [agencies["social_services"]])
    screen(api("social_worker"), referral, decision="accept")
    assert_problem(api("caseworker").get(f"{REFERRALS}/{referral['id']}"), 404)
    status = api("caseworker").get(f"{REFERRALS}/{referral['id']}/status")
    assert status.status_code == 200
    body = status.get_json()
    assert body["state"] == "accepted"
    assert [u["status"] for u in body["updates"]] == ["received", "accepted"]
    assert set(body) == {"id", "state", "updates"}
    assert audit_events(admin_conn, core.users["caseworker"], since=mark, action="referral_status_viewed")


def test_a_second_referral_about_the_child_links_to_the_open_case(api, core, child, agencies, admin_conn):
    first = file_referral(api("caseworker"), [child], [agencies["social_services"]])
    opened = screen(api("social_worker"), first, decision="accept").get_json()["cases"][0]
    second = file_referral(api("caseworker"), [child], [agencies["police"]],
                           categories=["domestic_violence_witnessed"])
    linked = screen(api("police_worker"), second, decision="accept").get_json()["cases"][0]
    assert linked["id"] == opened["id"] and linked["linked"] is True
    assert linked["lead_agency_id"] == agencies["social_services"]
    assert len(case_rows(admin_conn, child)) == 1
    agencies_in = {r["agency_id"] for r in admin_conn.execute(
        "SELECT agency_id FROM case_participants WHERE case_id = %s AND left_at IS NULL", (opened["id"],))}
    assert agencies_in == {agencies["social_services"], agencies["police"]}
    legal = admin_conn.execute("SELECT agency_id FROM assessments WHERE case_id = %s AND referral_id = %s"
                               " AND kind = 'legal'", (opened["id"], second["id"])).fetchone()
    assert legal["agency_id"] == agencies["police"]
    assert api("police_worker").get(f"/api/v1/cases/{opened['id']}").status_code == 200


def test_concurrent_acceptances_about_one_child_share_one_case(app, core, child, agencies, api, admin_conn):
    referrals = [file_referral(api("caseworker"), [child], [agencies[a]]) for a in ("social_services", "police")]
    screeners = [Api(app.test_client(), core.users[u]) for u in ("social_worker", "police_worker")]
    results = at_once(*[lambda c=c, r=r: screen(c, r, decision="accept") for c, r in zip(screeners, referrals)])
    assert sorted(r.status_code for r in results) == [200, 200]
    assert len({r.get_json()["cases"][0]["id"] for r in results}) == 1
    assert len(case_rows(admin_conn, child)) == 1


def test_a_screen_out_needs_a_reason_and_a_supervisors_approval(api, core, child, agencies, admin_conn, mark):
    referral = file_referral(api("caseworker"), [child], [agencies["social_services"]])
    assert_problem(screen(api("social_worker"), referral, decision="screen_out"), 422, "reason")
    requested = screen(api("social_worker"), referral, decision="screen_out",
                       reason="Family already supported by the school; no harm indicated.")
    assert requested.status_code == 200, requested.get_json()
    approval_id = requested.get_json()["approval_id"]
    assert requested.get_json()["state"] == "screening"
    status = admin_conn.execute("SELECT status FROM referral_recipients WHERE referral_id = %s",
                                (referral["id"],)).fetchone()["status"]
    assert status == "screen_out_requested"
    # Still waiting: the agency cannot decide again meanwhile.
    assert_problem(screen(api("social_worker"), referral, decision="accept"), 409, "decision")

    decided = api("social_supervisor").post(f"/api/v1/approvals/{approval_id}",
                                            json={"decision": "approve", "note": "Agreed."})
    assert decided.status_code == 200, decided.get_json()
    row = admin_conn.execute("SELECT state FROM referrals WHERE id = %s", (referral["id"],)).fetchone()
    assert row["state"] == "screened_out"
    updates = [u["status"] for u in api("caseworker").get(f"{REFERRALS}/{referral['id']}/status").get_json()["updates"]]
    assert updates == ["received", "no_further_action"]
    screened = audit_events(admin_conn, core.users["social_supervisor"], since=mark, action="referral_screened_out")
    assert [e["child_id"] for e in screened] == [child]
    assert count(admin_conn, "SELECT 1 FROM cases WHERE child_id = %s", child) == 0


def test_a_rejected_screen_out_sends_the_referral_back_to_the_agency(api, child, agencies, admin_conn):
    referral = file_referral(api("caseworker"), [child], [agencies["social_services"]])
    approval_id = screen(api("social_worker"), referral, decision="screen_out",
                         reason="Not a child-protection matter.").get_json()["approval_id"]
    rejected = api("social_supervisor").post(f"/api/v1/approvals/{approval_id}",
                                             json={"decision": "reject", "note": "Visit the family first."})
    assert rejected.status_code == 200, rejected.get_json()
    assert admin_conn.execute("SELECT status FROM referral_recipients WHERE referral_id = %s",
                              (referral["id"],)).fetchone()["status"] == "pending"
    assert screen(api("social_worker"), referral, decision="accept").status_code == 200


def test_a_redirect_hands_the_referral_to_another_agency(api, core, child, agencies, admin_conn, mark):
    referral = file_referral(api("caseworker"), [child], [agencies["health"]])
    response = screen(api("health_worker"), referral, decision="redirect", to_agency_id=agencies["police"],
                      reason="An offence is alleged.")
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["state"] == "screening"
    rows = admin_conn.execute("SELECT agency_id, status, redirected_to FROM referral_recipients"
                              " WHERE referral_id = %s ORDER BY agency_id", (referral["id"],)).fetchall()
    assert {r["agency_id"]: (r["status"], r["redirected_to"]) for r in rows} == {
        agencies["health"]: ("redirected", agencies["police"]), agencies["police"]: ("pending", None)}
    assert_problem(api("health_worker").get(f"{REFERRALS}/{referral['id']}"), 404)
    seen = api("police_worker").get(f"{REFERRALS}/{referral['id']}").get_json()
    notes = {r["agency_id"]: r["decision_note"] for r in seen["receiving_agencies"]}
    assert notes == {agencies["health"]: "An offence is alleged.", agencies["police"]: None}
    assert screen(api("police_worker"), referral, decision="accept").get_json()["state"] == "accepted"
    redirected = audit_events(admin_conn, core.users["health_worker"], since=mark, action="referral_redirected")
    assert [e["details"]["to_agency_id"] for e in redirected] == [agencies["police"]]


@pytest.mark.parametrize("change, status, field", [
    ({"decision": "redirect"}, 422, "to_agency_id"),
    ({"decision": "redirect", "to_agency_id": "police"}, 422, "to_agency_id"),
    ({"decision": "accept", "to_agency_id": 1}, 422, "to_agency_id"),
    ({"decision": "screen_out", "lead_agency_id": 1, "reason": "x"}, 422, "lead_agency_id"),
    ({"decision": "accept", "lead_agency_id": 999999999}, 422, "lead_agency_id"),
    ({"decision": "accept", "assigned_user_id": 999999999}, 422, "assigned_user_id"),
    ({"decision": "adopt"}, 422, "decision"),
    ({"decision": "accept", "version": 2}, 409, "version"),
    ({"decision": "accept", "version": "1"}, 422, "version"),
    ({"decision": "accept", "note": "hi"}, 422, "note"),
])
def test_bad_screening_input_changes_nothing(api, child, agencies, admin_conn, change, status, field):
    referral = file_referral(api("caseworker"), [child], [agencies["social_services"]])
    body = {"version": referral["version"], **change}
    if change.get("to_agency_id") == "police":
        body["to_agency_id"] = agencies["social_services"]  # already has it
        status = 409
    response = api("social_worker").post(f"{REFERRALS}/{referral['id']}/screening", json=body)
    assert_problem(response, status, field)
    assert admin_conn.execute("SELECT state FROM referrals WHERE id = %s", (referral["id"],)).fetchone()["state"] \
        == "submitted"
    assert count(admin_conn, "SELECT 1 FROM cases WHERE child_id = %s", child) == 0
    assert count(admin_conn, "SELECT 1 FROM approvals WHERE referral_id = %s", referral["id"]) == 0


def test_only_a_receiving_agency_screens(api, core, child, agencies, admin_conn, mark):
    referral = file_referral(api("caseworker"), [child], [agencies["social_services"]])
    assert_problem(screen(api("caseworker"), referral, decision="accept"), 403)
    assert_problem(screen(api("outsider"), referral, decision="accept"), 404)
    for role in ("agency_admin", "system_admin"):
        assert_problem(screen(api(role), referral, decision="accept"), 404)
    assert screen(api("social_worker"), referral, decision="accept").status_code == 200
    assert_problem(screen(api("social_worker2"), referral, decision="accept"), 409, "decision")
    denied = audit_events(admin_conn, core.users["caseworker"], since=mark, action="access_denied")
    assert [e["details"]["attempted"] for e in denied] == ["referral_accepted"]
    assert len(case_rows(admin_conn, child)) == 1


def test_a_correction_makes_the_old_version_stale_for_screening(api, child, agencies):
    referral = file_referral(api("caseworker"), [child], [agencies["social_services"]])
    body = {"children": [{"child_id": child}], "categories": ["neglect"], "observed_at": referral["observed_at"],
            "observation": "Corrected account.", "receiving_agency_ids": [agencies["social_services"]],
            "version": 1}
    second = api("caseworker").post(f"{REFERRALS}/{referral['id']}/versions", json=body).get_json()
    stale = assert_problem(screen(api("social_worker"), referral, decision="accept"), 409, "version")
    assert stale["superseded_by_id"] == second["id"]
    assert screen(api("social_worker"), second, decision="accept").status_code == 200


def test_a_retried_decision_opens_one_case(api, child, agencies, admin_conn):
    referral = file_referral(api("caseworker"), [child], [agencies["social_services"]])
    headers = key()
    first = api("social_worker").post(f"{REFERRALS}/{referral['id']}/screening",
                                      json={"version": 1, "decision": "accept"}, headers=headers)
    again = api("social_worker").post(f"{REFERRALS}/{referral['id']}/screening",
                                      json={"version": 1, "decision": "accept"}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.get_json() == first.get_json()
    assert len(case_rows(admin_conn, child)) == 1
    assert count(admin_conn, "SELECT 1 FROM assessments a JOIN cases c ON c.id = a.case_id WHERE c.child_id = %s",
                 child) == 2


def test_raising_the_priority_is_direct_and_lowering_it_needs_approval(api, core, child, agencies, admin_conn,
                                                                       mark):
    referral = file_referral(api("caseworker"), [child], [agencies["social_services"]])
    assert referral["priority"] == "standard"
    path = f"{REFERRALS}/{referral['id']}/priority"
    confirmed = api("social_worker").post(path, json={"priority": "standard", "version": 1}).get_json()
    assert confirmed["priority_outcome"] == "confirmed" and confirmed["state"] == "screening"
    raised = api("social_worker").post(path, json={"priority": "urgent", "version": 1}).get_json()
    assert raised["priority_outcome"] == "raised" and raised["priority"] == "urgent"
    assert_problem(api("social_worker").post(path, json={"priority": "low", "version": 1}), 422, "reason")
    lowered = api("social_worker").post(path, json={"priority": "low", "version": 1,
                                                    "reason": "Support need only."}).get_json()
    assert lowered["priority_outcome"] == "downgrade_requested" and lowered["priority"] == "urgent"
    assert_problem(api("social_worker").post(path, json={"priority": "low", "version": 1, "reason": "Again."}),
                   409, "priority")
    approval = admin_conn.execute("SELECT id, proposed_priority FROM approvals WHERE referral_id = %s"
                                  " AND kind = 'downgrade'", (referral["id"],)).fetchone()
    assert approval["proposed_priority"] == "low"
    decided = api("social_supervisor").post(f"/api/v1/approvals/{approval['id']}", json={"decision": "approve"})
    assert decided.status_code == 200, decided.get_json()
    assert admin_conn.execute("SELECT priority FROM referrals WHERE id = %s",
                              (referral["id"],)).fetchone()["priority"] == "low"
    events = [e["action"] for e in audit_events(admin_conn, core.users["social_worker"], since=mark)]
    assert {"priority_confirmed", "priority_changed", "priority_downgrade_requested"} <= set(events)
    assert_problem(api("caseworker").post(path, json={"priority": "immediate", "version": 1}), 403)


def running_clocks(admin_conn, subject_type, subject_id) -> dict:
    rows = admin_conn.execute("SELECT kind, priority, agency_id FROM clocks WHERE subject_type = %s"
                              " AND subject_id = %s AND stopped_at IS NULL", (subject_type, subject_id))
    return {r["kind"]: (r["priority"], r["agency_id"]) for r in rows}


def test_the_clocks_follow_the_referral_and_its_case(api, child, agencies, admin_conn):
    social = agencies["social_services"]
    referral = file_referral(api("caseworker"), [child], [social], risk={"imminent_danger": True})
    assert running_clocks(admin_conn, "referral", referral["id"]) == {
        "acknowledgement": ("immediate", social), "screening_decision": ("immediate", social)}
    topics = admin_conn.execute("SELECT topic, payload FROM outbox WHERE payload->>'referral_id' = %s",
                                (str(referral["id"]),)).fetchall()
    assert {"topic": "referral.received", "payload": {"referral_id": referral["id"], "agency_id": social}} in topics
    case = screen(api("social_worker"), referral, decision="accept").get_json()["cases"][0]
    assert running_clocks(admin_conn, "referral", referral["id"]) == {}
    assert running_clocks(admin_conn, "case", case["id"]) == {
        "first_contact": ("immediate", social), "strategy_meeting": ("immediate", social),
        "whole_assessment": ("immediate", social)}
    for assessment_id in case["assessment_ids"]:
        assert running_clocks(admin_conn, "assessment", assessment_id) == {"assessment": ("immediate", social)}


def test_a_raised_priority_restarts_the_screening_clock_and_a_confirmation_acknowledges(api, child, agencies,
                                                                                       admin_conn):
    referral = file_referral(api("caseworker"), [child], [agencies["social_services"]])
    path = f"{REFERRALS}/{referral['id']}/priority"
    assert running_clocks(admin_conn, "referral", referral["id"]) == {
        "screening_decision": ("standard", agencies["social_services"])}
    api("social_worker").post(path, json={"priority": "urgent", "version": 1})
    assert running_clocks(admin_conn, "referral", referral["id"]) == {
        "screening_decision": ("urgent", agencies["social_services"])}
    second = api("caseworker").post(f"{REFERRALS}/{referral['id']}/versions", json={
        "children": [{"child_id": child}], "categories": ["neglect"], "observed_at": referral["observed_at"],
        "observation": "Corrected.", "receiving_agency_ids": [agencies["social_services"]], "version": 1}).get_json()
    assert second["priority"] == "urgent"
    assert running_clocks(admin_conn, "referral", referral["id"]) == {}
    assert running_clocks(admin_conn, "referral", second["id"]) == {
        "screening_decision": ("urgent", agencies["social_services"])}


def test_oversight_reads_but_does_not_screen(api, core, child, agencies, admin_conn):
    referral = file_referral(api("caseworker"), [child], [agencies["social_services"]])
    assert api("oversight").get(f"{REFERRALS}/{referral['id']}").status_code == 200
    assert_problem(screen(api("oversight"), referral, decision="accept"), 403)
    assert_problem(api("oversight").post(f"{REFERRALS}/{referral['id']}/priority",
                                         json={"priority": "urgent", "version": 1}), 403)
    assert count(admin_conn, "SELECT 1 FROM cases WHERE child_id = %s", child) == 0
