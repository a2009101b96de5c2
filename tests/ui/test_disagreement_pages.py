"""Professional disagreements on the case page over HTTP: raised by a participant, taken up stage
by stage with each stage's clock shown, resolved by oversight at stage 3; bad input and the wrong
people get a 4xx with the message beside the field, and nothing changes."""
from __future__ import annotations

import re

import pytest

from tests.case_factories import audit_events, make_case


@pytest.fixture
def case(admin_conn, cw):
    """A case led by social services, with the school and the police taking part."""
    return make_case(admin_conn, cw, assigned={"social_services": "social_worker"})


def disagreement(admin_conn, case) -> dict | None:
    return admin_conn.execute("SELECT id, stage, state FROM disagreements WHERE case_id = %s",
                              (case.id,)).fetchone()


def section(html: str, disagreement_id: int) -> str:
    found = re.search(rf'<section class="disagreement" id="disagreement-{disagreement_id}".*?</section>',
                      html, re.S)
    assert found, "the disagreement is not on the page"
    return found.group(0)


def test_a_disagreement_is_raised_taken_to_oversight_and_resolved(page_as, case, cw, admin_conn):
    school = page_as("caseworker")
    url = f"/cases/{case.id}/disagreements"
    raised = school.post(url, data={"against_agency_id": cw.agencies["social_services"].id,
                                    "decision_type": "case_plan",
                                    "reason": "The plan leaves the child at home without support."})
    assert raised.status_code == 302 and raised.headers["Location"].endswith("#disagreements")
    d = disagreement(admin_conn, case)
    assert (d["stage"], d["state"]) == (1, "open")
    html = section(school.get(f"/cases/{case.id}").get_data(as_text=True), d["id"])
    assert "The plan leaves the child at home without support." in html and "stage 1 of 3" in html
    assert 'class="stage" data-stage="1"' in html and " left" in html  # the stage's clock
    assert audit_events(admin_conn, "disagreement_raised", object_id=d["id"])

    social = page_as("social_worker")
    step = f"{url}/{d['id']}"
    assert social.post(step + "/advance", data={"reason": "We could not agree."}).status_code == 302
    assert "Take it to stage" not in section(social.get(f"/cases/{case.id}").get_data(as_text=True), d["id"])
    refused = social.post(step + "/advance", data={"reason": "Still no agreement."})
    assert refused.status_code == 403
    html = section(refused.get_data(as_text=True), d["id"])
    assert 'role="alert"' in html and "Only a party to the disagreement at its current stage" in html
    assert disagreement(admin_conn, case)["stage"] == 2
    assert page_as("social_supervisor").post(step + "/advance", data={
        "reason": "The supervisors disagree as well."}).status_code == 302
    assert school.post(step + "/resolve", data={"note": "Agreed."}).status_code == 403

    prosecutor = page_as("oversight")
    html = section(prosecutor.get(f"/cases/{case.id}").get_data(as_text=True), d["id"])
    assert 'data-stage="3"' in html and "Resolve the disagreement" in html
    assert "Take it to stage" not in html
    assert prosecutor.post(step + "/resolve", data={"note": "A support plan is added."}).status_code == 302
    html = section(prosecutor.get(f"/cases/{case.id}").get_data(as_text=True), d["id"])
    assert "A support plan is added." in html and "resolved" in html
    assert [s for s in re.findall(r'urgency-(\w+)', html)] == ["stopped"] * 3
    again = prosecutor.post(step + "/resolve", data={"note": "Once more."})
    assert again.status_code == 409


def test_bad_input_and_the_wrong_people_change_nothing(page_as, case, cw, admin_conn):
    school = page_as("caseworker")
    url = f"/cases/{case.id}/disagreements"
    empty = school.post(url, data={"against_agency_id": "", "decision_type": "whim", "reason": " ",
                                   "decision_id": "abc"})
    html = empty.get_data(as_text=True)
    assert empty.status_code == 422
    for field in ("against_agency_id", "decision_type", "decision_id", "reason"):
        assert f'id="disagreement-{field}-error"' in html, field
    own = school.post(url, data={"against_agency_id": cw.agencies["school"].id,
                                 "decision_type": "case_plan", "reason": "x"})
    assert own.status_code == 422 and 'id="disagreement-against_agency_id-error"' in own.get_data(as_text=True)
    long = school.post(url, data={"against_agency_id": cw.agencies["police"].id,
                                  "decision_type": "case_plan", "reason": "x" * 4001})
    assert long.status_code == 422
    assert page_as("oversight").post(url, data={"against_agency_id": cw.agencies["police"].id,
                                                "decision_type": "case_plan",
                                                "reason": "x"}).status_code == 403
    assert page_as("outsider").post(url, data={"against_agency_id": cw.agencies["police"].id,
                                               "decision_type": "case_plan",
                                               "reason": "x"}).status_code == 404
    assert disagreement(admin_conn, case) is None


def test_a_disagreement_of_another_case_is_not_reachable_through_this_one(page_as, case, cw, admin_conn):
    other = make_case(admin_conn, cw)
    school = page_as("caseworker")
    assert school.post(f"/cases/{other.id}/disagreements", data={
        "against_agency_id": cw.agencies["police"].id, "decision_type": "lead_agency",
        "reason": "The police should lead."}).status_code == 302
    d = disagreement(admin_conn, other)
    assert school.post(f"/cases/{case.id}/disagreements/{d['id']}/resolve",
                       data={"note": "x"}).status_code == 404
    assert school.post(f"/cases/{case.id}/disagreements/99999999999999999999/resolve",
                       data={"note": "x"}).status_code == 404
    assert disagreement(admin_conn, other)["state"] == "open"


def test_a_nul_character_in_any_page_form_is_a_422_naming_the_field_not_a_500(page_as, case, cw,
                                                                            admin_conn):
    worker = page_as("social_worker")
    for url, data in ((f"/cases/{case.id}/disagreements",
                       {"against_agency_id": cw.agencies["school"].id, "decision_type": "case_plan",
                        "reason": "a\x00b"}),
                      (f"/cases/{case.id}/entries",
                       {"kind": "note", "visibility": "all_participants", "body": "a\x00b"})):
        refused = worker.post(url, data=data)
        assert refused.status_code == 422, url
        assert "cannot be stored" in refused.get_data(as_text=True)
    assert worker.get("/children?q=%00").status_code == 422
    assert page_as("system_admin").get("/admin/regions/a%00b/calendar").status_code == 404
    assert disagreement(admin_conn, case) is None
