"""The clocks a case's work starts are stopped by the actions that complete it, under the
controllable clock: first contact by a contact entry, the strategy meeting by a meeting entry,
the whole assessment by the last assessment done, reviews by review entries (and restarted), an
instruction by the addressed agency's answer."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from services import clock
from services.clocks import calendars, ladder
from tests.case_factories import audit_events, clocks_of, finish_assessments
from tests.core_factories import create_child, file_referral

AQTAU = ZoneInfo("Asia/Aqtau")
# Later than any real request of the run, so that "started when accepted" and "started when
# submitted" cannot coincide.
LATER = timedelta(days=3, hours=5)


@pytest.fixture(autouse=True)
def real_clock_afterwards():
    """Every test leaves the clock running again."""
    yield
    clock.set_now(None)


def running(admin_conn, subject_type: str, subject_id: int) -> dict[str, dict]:
    return {c["kind"]: c for c in clocks_of(admin_conn, subject_type, subject_id) if c["stopped_at"] is None}


def stopped(admin_conn, subject_type: str, subject_id: int, kind: str) -> list[dict]:
    return [c for c in clocks_of(admin_conn, subject_type, subject_id)
            if c["kind"] == kind and c["stopped_at"] is not None]


def accepted_case(api, cw, **risk) -> dict:
    """A school's referral to social services, accepted by its caseworker: the case document
    from the screening answer, with ``referral`` and ``accepted_at`` (the frozen instant)."""
    child = create_child(api("caseworker"))["id"]
    referral = file_referral(api("caseworker"), [child], [cw.agencies["social_services"].id],
                             risk=risk or {"harm_suspected": True})
    accepted_at = datetime.now(timezone.utc).replace(microsecond=0) + LATER
    clock.set_now(accepted_at)
    response = api("social_worker").post(f"/api/v1/referrals/{referral['id']}/screening",
                                         json={"version": referral["version"], "decision": "accept"})
    assert response.status_code == 200, response.get_json()
    return {**response.get_json()["cases"][0], "referral": referral, "accepted_at": accepted_at}


def entry(api_user, case_id: int, kind: str, visibility: str = "all_participants", **extra):
    return api_user.post(f"/api/v1/cases/{case_id}/chronology",
                         json={"kind": kind, "visibility": visibility, "body": f"A {kind}.", **extra})


def join(api, cw, case_id: int, agency: str) -> None:
    response = api("social_worker").post(f"/api/v1/cases/{case_id}/participants",
                                         json={"agency_id": cw.agencies[agency].id})
    assert response.status_code == 201, response.get_json()


# --- First contact and the strategy meeting ----------------------------------------------------

def test_a_contact_by_any_participating_agency_stops_first_contact(api, cw, admin_conn):
    case = accepted_case(api, cw, significant_harm=True)
    assert set(running(admin_conn, "case", case["id"])) == {"first_contact", "strategy_meeting",
                                                            "whole_assessment"}
    join(api, cw, case["id"], "police")
    assert entry(api("police_worker"), case["id"], "note").status_code == 201
    assert "first_contact" in running(admin_conn, "case", case["id"])  # a note is not contact
    contacted = clock.advance(timedelta(hours=2))
    assert entry(api("police_worker"), case["id"], "contact", "own_agency").status_code == 201
    [done] = stopped(admin_conn, "case", case["id"], "first_contact")
    assert (done["stop_reason"], done["stopped_at"]) == ("completed", contacted)
    # The lead owns the clock; the police saw the child: the clock asks whether anyone has.
    assert done["agency_id"] == cw.agencies["social_services"].id
    assert set(running(admin_conn, "case", case["id"])) == {"strategy_meeting", "whole_assessment"}


def test_an_emergency_grant_holders_contact_completes_nothing(api, cw, admin_conn):
    from tests.case_factories import grant_emergency_access

    case = accepted_case(api, cw, significant_harm=True)
    grant_emergency_access(api("outsider"), case["child_id"])
    # Whether the grant may write at all is the access policy's decision; either way, what its
    # holder writes is not the team's contact with the child.
    entry(api("outsider"), case["id"], "contact")
    assert "first_contact" in running(admin_conn, "case", case["id"])


def test_a_meeting_the_other_agencies_may_know_of_stops_the_strategy_meeting(api, cw, admin_conn):
    case = accepted_case(api, cw, imminent_danger=True)
    assert entry(api("social_worker"), case["id"], "meeting", "own_agency").status_code == 201
    assert "strategy_meeting" in running(admin_conn, "case", case["id"])  # an internal meeting
    assert entry(api("social_worker"), case["id"], "meeting", "restricted").status_code == 201
    [done] = stopped(admin_conn, "case", case["id"], "strategy_meeting")
    assert done["stop_reason"] == "completed"
    assert "first_contact" in running(admin_conn, "case", case["id"])
    events = audit_events(admin_conn, "clock_stopped", object_type="clock")
    assert any(e["details"]["kind"] == "strategy_meeting" and e["details"]["subject_id"] == case["id"]
               for e in events)


def test_a_correction_of_a_contact_completes_nothing(api, cw, admin_conn):
    case = accepted_case(api, cw)
    note = entry(api("social_worker"), case["id"], "note").get_json()
    # A correction keeps its kind: correcting a note never becomes contact.
    assert entry(api("social_worker"), case["id"], "contact", corrects_id=note["id"]).status_code == 422
    assert "first_contact" in running(admin_conn, "case", case["id"])


# --- The whole assessment ----------------------------------------------------------------------

def test_the_whole_assessment_runs_45_working_days_from_the_referral(api, cw, admin_conn):
    case = accepted_case(api, cw)
    submitted = admin_conn.execute("SELECT submitted_at FROM referrals WHERE id = %s",
                                   (case["referral"]["id"],)).fetchone()["submitted_at"]
    whole = admin_conn.execute("SELECT started_at, due_at, amount, unit, agency_id FROM clocks"
                               " WHERE subject_type = 'case' AND subject_id = %s"
                               " AND kind = 'whole_assessment'", (case["id"],)).fetchone()
    assert whole["started_at"] == submitted != case["accepted_at"]
    assert (whole["amount"], whole["unit"]) == (45, "working_days")
    assert whole["agency_id"] == cw.agencies["social_services"].id
    cal = calendars.region_calendar(admin_conn, cw.region_id)
    assert whole["due_at"] == ladder.deadline(submitted, 45, "working_days", cal)
    # What that means in 2026: from Monday 2 March 10:00, nine days off on the way (8 March
    # carried over to the 9th, Nauryz and its carry-overs, 1, 7 and 11 May) give Wednesday 13 May.
    assert ladder.deadline(datetime(2026, 3, 2, 10, tzinfo=AQTAU), 45, "working_days", cal) == \
        datetime(2026, 5, 13, 10, tzinfo=AQTAU)


def test_the_whole_assessment_stops_when_every_assessment_is_completed_or_skipped(api, cw, admin_conn):
    case = accepted_case(api, cw)
    first, second = case["assessment_ids"]
    path = f"/api/v1/cases/{case['id']}/assessments"
    done = api("social_worker").post(f"{path}/{first}/complete", json={
        "outcome": "support_needed", "summary": "Family needs support."})
    assert done.status_code == 200, done.get_json()
    assert "whole_assessment" in running(admin_conn, "case", case["id"])
    asked = api("social_worker").post(f"{path}/{second}/skip-request",
                                      json={"reason": "Police already assessed this last week."})
    assert asked.status_code == 202
    assert "whole_assessment" in running(admin_conn, "case", case["id"])  # not until approved
    approved = api("social_supervisor").post(f"/api/v1/approvals/{asked.get_json()['approval_id']}",
                                             json={"decision": "approve",
                                                   "note": "Police assessment on file."})
    assert approved.status_code == 200, approved.get_json()
    [whole] = stopped(admin_conn, "case", case["id"], "whole_assessment")
    assert whole["stop_reason"] == "completed"


# --- Reviews -----------------------------------------------------------------------------------

def move(api_user, case_id: int, to: str):
    return api_user.post(f"/api/v1/cases/{case_id}/transitions", json={"to": to})


def test_reviews_come_3_months_after_planning_then_every_6(api, new_case, cw, admin_conn):
    case = new_case(participants=("police",))
    lead = api("social_worker")
    t0 = datetime(2026, 4, 6, 11, tzinfo=AQTAU)
    clock.set_now(t0)
    assert move(lead, case.id, "assessment").status_code == 200
    assert running(admin_conn, "case", case.id) == {}
    # A review before there is a plan is refused, naming the field; nothing is written.
    refused = entry(lead, case.id, "review")
    assert refused.status_code == 409 and refused.get_json()["field"] == "kind"
    assert move(lead, case.id, "planning").status_code == 200
    first = running(admin_conn, "case", case.id)["first_review"]
    assert first["due_at"] == datetime(2026, 7, 6, 11, tzinfo=AQTAU)
    # Another agency does not hold the lead's review.
    other = entry(api("police_worker"), case.id, "review")
    assert other.status_code == 403
    assert audit_events(admin_conn, "access_denied", object_id=case.id)[-1]["details"]["reason"] == \
        "not_lead_agency"
    # Moving on to monitoring keeps the running review clock, and starts no second one.
    assert move(lead, case.id, "monitoring").status_code == 200
    assert set(running(admin_conn, "case", case.id)) == {"first_review"}
    clock.set_now(datetime(2026, 6, 29, 15, tzinfo=AQTAU))
    held = datetime(2026, 6, 26, 10, tzinfo=AQTAU)
    review = entry(lead, case.id, "review", occurred_at=held.isoformat())
    assert review.status_code == 201, review.get_json()
    assert [c["stop_reason"] for c in stopped(admin_conn, "case", case.id, "first_review")] == ["completed"]
    nxt = running(admin_conn, "case", case.id)["review"]
    assert nxt["due_at"] == datetime(2026, 12, 26, 10, tzinfo=AQTAU)  # 6 months after it was held
    recorded = audit_events(admin_conn, "case_review_recorded", object_id=case.id)[-1]
    assert recorded["details"]["entry_id"] == review.get_json()["id"]
    # Back to planning and on again: the 6-monthly review keeps running, no new first review.
    assert move(lead, case.id, "planning").status_code == 200
    assert set(running(admin_conn, "case", case.id)) == {"review"}
    # The next review restarts it again.
    clock.set_now(datetime(2026, 12, 1, 12, tzinfo=AQTAU))
    assert entry(lead, case.id, "review").status_code == 201
    assert running(admin_conn, "case", case.id)["review"]["due_at"] == datetime(2027, 6, 1, 12, tzinfo=AQTAU)
    assert len(stopped(admin_conn, "case", case.id, "review")) == 1


def test_closing_the_case_stops_its_review_clock(api, new_case, cw, admin_conn):
    case = new_case(state="assessment")
    lead = api("social_worker")
    assert move(lead, case.id, "planning").status_code == 200
    assert move(lead, case.id, "monitoring").status_code == 200
    finish_assessments(admin_conn, case)
    asked = lead.post(f"/api/v1/cases/{case.id}/closure-request",
                      json={"reason": "Plan completed, family engaged."})
    assert asked.status_code == 202, asked.get_json()
    decided = api("social_supervisor").post(f"/api/v1/approvals/{asked.get_json()['approval_id']}",
                                            json={"decision": "approve", "note": "Agreed."})
    assert decided.status_code == 200, decided.get_json()
    assert running(admin_conn, "case", case.id) == {}
    assert stopped(admin_conn, "case", case.id, "first_review")


def test_the_leads_clocks_follow_the_lead_to_its_new_agency(api, cw, admin_conn):
    case = accepted_case(api, cw, significant_harm=True)
    join(api, cw, case["id"], "police")
    before = running(admin_conn, "case", case["id"])
    handed = api("social_supervisor").post(f"/api/v1/cases/{case['id']}/lead",
                                           json={"agency_id": cw.agencies["police"].id})
    assert handed.status_code == 200, handed.get_json()
    after = running(admin_conn, "case", case["id"])
    assert set(after) == set(before) == {"first_contact", "strategy_meeting", "whole_assessment"}
    assert {c["agency_id"] for c in after.values()} == {cw.agencies["police"].id}
    assert {k: c["due_at"] for k, c in after.items()} == {k: c["due_at"] for k, c in before.items()}
    moved = audit_events(admin_conn, "clock_transferred", object_type="clock")
    assert {e["details"]["kind"] for e in moved if e["details"]["subject_id"] == case["id"]} == set(after)
    # The new lead's people see them now.
    listed = api("police_supervisor").get(f"/api/v1/clocks?subject_type=case&subject_id={case['id']}")
    assert listed.status_code == 200, listed.get_json()
    assert {c["kind"] for c in listed.get_json()["items"]} >= set(after)


# --- Answers to instructions -------------------------------------------------------------------

def instruct(api, case_id: int, **body) -> dict:
    response = api("oversight").post(f"/api/v1/cases/{case_id}/instructions",
                                     json={"body": "Report on the first contact.", **body})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def answer(api_user, case_id: int, entry_id: int, **body):
    return api_user.post(f"/api/v1/cases/{case_id}/instructions/{entry_id}/response",
                         json={"body": "Seen at home on Monday; plan attached.", **body})


def test_the_lead_answers_an_instruction_which_stops_its_clock_and_oversight_reads_it(
        api, new_case, cw, admin_conn):
    case = new_case()
    instruction = instruct(api, case.id)
    assert set(running(admin_conn, "instruction", instruction["id"])) == {"instruction"}
    response = answer(api("social_worker"), case.id, instruction["id"])
    assert response.status_code == 201, response.get_json()
    reply = response.get_json()
    assert (reply["kind"], reply["visibility"], reply["agency_id"]) == (
        "instruction_response", "all_participants", cw.agencies["social_services"].id)
    [done] = stopped(admin_conn, "instruction", instruction["id"], "instruction")
    assert done["stop_reason"] == "completed"
    seen = api("oversight").get(f"/api/v1/cases/{case.id}/instructions/{instruction['id']}/response")
    assert seen.status_code == 200
    assert seen.get_json()["answer"]["id"] == reply["id"]
    assert seen.get_json()["answer"]["body"].startswith("Seen at home")
    assert audit_events(admin_conn, "instruction_answer_viewed", object_id=case.id)[-1]["purpose"] == "oversight"
    answered = audit_events(admin_conn, "instruction_answered", object_id=case.id)[-1]
    assert answered["details"]["instruction_id"] == instruction["id"]
    assert answered["details"]["entry_id"] == reply["id"]
    [queued] = admin_conn.execute("SELECT payload FROM outbox WHERE topic = 'case.instruction_answered'"
                                  " AND (payload->>'instruction_id')::bigint = %s",
                                  (instruction["id"],)).fetchall()
    assert queued["payload"]["user_ids"] == [cw.users["oversight"].id]
    link = admin_conn.execute("SELECT response_entry_id FROM instruction_responses"
                              " WHERE instruction_entry_id = %s", (instruction["id"],)).fetchone()
    assert link["response_entry_id"] == reply["id"]


def answers(admin_conn, case_id: int) -> int:
    return admin_conn.execute("SELECT count(*) AS n FROM chronology_entries WHERE case_id = %s"
                              " AND kind = 'instruction_response'", (case_id,)).fetchone()["n"]


def test_bad_answers_to_an_instruction_change_nothing(api, new_case, cw, admin_conn):
    case = new_case(participants=("school", "police"))
    instruction = instruct(api, case.id)
    path_id = instruction["id"]
    # Not the addressed agency (a participant that may read the case): 403 with the reason.
    assert answer(api("police_worker"), case.id, path_id).status_code == 403
    assert audit_events(admin_conn, "access_denied", object_id=case.id)[-1]["details"]["reason"] == \
        "not_addressed_agency"
    # Not an agency of the case at all, and oversight, which only instructs: 404.
    assert answer(api("outsider"), case.id, path_id).status_code == 404
    assert answer(api("oversight"), case.id, path_id).status_code == 404
    # An answer kept to one agency, an entry that is not an instruction, a missing field.
    own = answer(api("social_worker"), case.id, path_id, visibility="own_agency")
    assert own.status_code == 422 and own.get_json()["field"] == "visibility"
    note = entry(api("social_worker"), case.id, "note").get_json()
    wrong = answer(api("social_worker"), case.id, note["id"])
    assert wrong.status_code == 404 and wrong.get_json()["field"] == "entry_id"
    empty = api("social_worker").post(f"/api/v1/cases/{case.id}/instructions/{path_id}/response", json={})
    assert empty.status_code == 422 and empty.get_json()["field"] == "body"
    assert answers(admin_conn, case.id) == 0
    assert set(running(admin_conn, "instruction", path_id)) == {"instruction"}
    # The first answer counts; a second is a 409 naming the instruction, and writes nothing.
    assert answer(api("social_worker"), case.id, path_id).status_code == 201
    again = answer(api("social_supervisor"), case.id, path_id)
    assert again.status_code == 409 and again.get_json()["field"] == "entry_id"
    assert answers(admin_conn, case.id) == 1


def test_an_instruction_addressed_to_a_participant_is_answered_by_it(api, new_case, cw, admin_conn):
    case = new_case(participants=("police",))
    instruction = instruct(api, case.id, addressed_agency_id=cw.agencies["police"].id)
    assert answer(api("social_worker"), case.id, instruction["id"]).status_code == 403
    assert answer(api("police_worker"), case.id, instruction["id"], visibility="restricted").status_code == 201
    assert stopped(admin_conn, "instruction", instruction["id"], "instruction")
    # Unanswered instructions show a null answer.
    other = instruct(api, case.id)
    seen = api("social_worker").get(f"/api/v1/cases/{case.id}/instructions/{other['id']}/response")
    assert seen.status_code == 200 and seen.get_json()["answer"] is None


def test_closing_the_case_does_not_withdraw_an_instruction(api, new_case, cw, admin_conn):
    case = new_case()
    instruction = instruct(api, case.id)
    admin_conn.execute("UPDATE cases SET state = 'closed', closed_at = now() WHERE id = %s", (case.id,))
    assert set(running(admin_conn, "instruction", instruction["id"])) == {"instruction"}
    assert answer(api("social_worker"), case.id, instruction["id"]).status_code == 201
    assert stopped(admin_conn, "instruction", instruction["id"], "instruction")


def test_the_answer_endpoint_is_in_the_openapi_document(client):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert "post" in paths["/api/v1/cases/{case_id}/instructions/{entry_id}/response"]
