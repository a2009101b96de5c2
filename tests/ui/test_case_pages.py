"""The case and child pages over HTTP: who sees what, field messages, and the audit trail.

Browser behaviour is in the Playwright tests; these check the rules quickly with the test client.
"""
from __future__ import annotations

import re

import pytest

from tests.case_factories import audit_events, make_case


@pytest.fixture
def case(admin_conn, cw):
    """A case led by social services, with the school and the police taking part."""
    return make_case(admin_conn, cw, assigned={"social_services": "social_worker"})


def entry_count(admin_conn, case) -> int:
    return admin_conn.execute("SELECT count(*) AS n FROM chronology_entries WHERE case_id = %s",
                              (case.id,)).fetchone()["n"]


def test_the_lead_agency_worker_sees_the_case_and_adds_an_entry(page_as, case, admin_conn):
    worker = page_as("social_worker")
    page = worker.get(f"/cases/{case.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f"Case {case.id}" in html and "Move the case to" in html and "Lead agency" in html
    sent = worker.post(f"/cases/{case.id}/entries",
                       data={"kind": "contact", "visibility": "all_participants",
                             "body": "Home visit, the child was at home."})
    assert sent.status_code == 302
    assert "Home visit, the child was at home." in worker.get(f"/cases/{case.id}").get_data(as_text=True)


def test_an_empty_entry_names_the_field_answers_422_and_writes_nothing(page_as, case, admin_conn):
    before = entry_count(admin_conn, case)
    refused = page_as("social_worker").post(f"/cases/{case.id}/entries",
                                            data={"kind": "note", "visibility": "all_participants",
                                                  "body": "  "})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'id="entry-body-error"' in html and 'href="#entry-body"' in html
    assert 'aria-invalid="true" aria-describedby="entry-body-error"' in html
    assert entry_count(admin_conn, case) == before


def test_a_future_time_is_refused_by_the_action_with_the_field_named(page_as, case, admin_conn):
    before = entry_count(admin_conn, case)
    refused = page_as("social_worker").post(f"/cases/{case.id}/entries",
                                            data={"kind": "note", "visibility": "all_participants",
                                                  "occurred_at": "2999-01-01T10:00", "body": "x"})
    assert refused.status_code == 422
    assert 'id="entry-occurred_at-error"' in refused.get_data(as_text=True)
    assert entry_count(admin_conn, case) == before


def test_a_restricted_entry_shows_only_that_it_exists_to_a_participant_who_may_not_read_it(
        page_as, case):
    page_as("social_worker").post(f"/cases/{case.id}/entries",
                                  data={"kind": "note", "visibility": "restricted",
                                        "body": "Disclosure details for the lead only."})
    school = page_as("caseworker2").get(f"/children/{case.child_id}").get_data(as_text=True)
    assert "Restricted entry" in school and "Disclosure details" not in school
    police = page_as("police_worker").get(f"/cases/{case.id}").get_data(as_text=True)
    assert "Disclosure details for the lead only." in police


def test_another_agency_gets_the_same_404_for_the_case_and_the_child(page_as, case, admin_conn, cw):
    outsider = page_as("outsider")
    assert outsider.get(f"/cases/{case.id}").status_code == 404
    assert outsider.get(f"/children/{case.child_id}").status_code == 404
    assert outsider.get("/cases/999999999").status_code == 404
    denied = audit_events(admin_conn, "access_denied", actor=cw.users["outsider"].id)
    assert {e["object_type"] for e in denied} >= {"case", "child"}


def test_oversight_reads_read_only_and_issues_an_instruction(page_as, case, admin_conn):
    prosecutor = page_as("oversight")
    html = prosecutor.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "read-only" in html and "Issue the instruction" in html
    assert "Add the entry" not in html and "Move the case to" not in html
    sent = prosecutor.post(f"/cases/{case.id}/instructions",
                           data={"instruction": "Report on the home visit within a week."})
    assert sent.status_code == 302
    assert "Report on the home visit within a week." in prosecutor.get(f"/cases/{case.id}").get_data(as_text=True)
    assert page_as("oversight").post(f"/cases/{case.id}/entries", data={
        "kind": "note", "visibility": "all_participants", "body": "x"}).status_code in (403, 404)


def test_the_child_page_filters_the_chronology_and_refuses_a_bad_filter_with_400(page_as, case):
    worker = page_as("social_worker")
    worker.post(f"/cases/{case.id}/entries", data={"kind": "meeting", "visibility": "all_participants",
                                                  "body": "Strategy meeting held."})
    worker.post(f"/cases/{case.id}/entries", data={"kind": "note", "visibility": "all_participants",
                                                  "body": "A plain note."})
    meetings = worker.get(f"/children/{case.child_id}?kind=meeting").get_data(as_text=True)
    assert "Strategy meeting held." in meetings and "A plain note." not in meetings
    assert worker.get(f"/children/{case.child_id}?kind=gossip").status_code == 400
    assert worker.get(f"/children/{case.child_id}?agency=abc").status_code == 400
    assert worker.get(f"/children/{case.child_id}?cursor=%%%").status_code == 400


def test_opening_the_pages_is_audited_like_the_api(page_as, case, admin_conn, cw):
    page_as("caseworker2").get(f"/cases/{case.id}")
    page_as("caseworker2").get(f"/children/{case.child_id}")
    who = cw.users["caseworker2"].id
    assert audit_events(admin_conn, "case_viewed", object_id=case.id, actor=who)
    assert audit_events(admin_conn, "chronology_viewed", object_id=case.id, actor=who)
    assert audit_events(admin_conn, "child_viewed", object_id=case.child_id, actor=who)


def test_times_read_year_month_day_in_every_language(app, page_as, case, admin_conn):
    """No "11/26/26": a time on a page is 2026-11-26 14:05 in the display zone, in kk, ru and en."""
    from zoneinfo import ZoneInfo

    opened = admin_conn.execute("SELECT opened_at FROM cases WHERE id = %s",
                                (case.id,)).fetchone()["opened_at"]
    zone = ZoneInfo(app.config["QORGAU_SETTINGS"].timezone)
    expected = f"{opened.astimezone(zone):%Y-%m-%d %H:%M}"
    worker = page_as("social_worker")
    try:
        for lang in ("kk", "ru", "en"):
            worker.post("/language", data={"lang": lang, "next": "/"})
            html = worker.get(f"/cases/{case.id}").get_data(as_text=True)
            assert f'<html lang="{lang}">' in html and expected in html, lang
            assert not re.search(r"\b\d{1,2}/\d{1,2}/\d{2}\b", html), lang
    finally:
        worker.post("/language", data={"lang": "en", "next": "/"})


def _last_instruction(admin_conn, case) -> int:
    return admin_conn.execute("SELECT id FROM chronology_entries WHERE case_id = %s"
                              " AND kind = 'instruction' ORDER BY id DESC LIMIT 1",
                              (case.id,)).fetchone()["id"]


def test_the_addressed_agency_answers_an_instruction_and_oversight_reads_the_answer(
        page_as, case, admin_conn, cw):
    prosecutor, worker, police = page_as("oversight"), page_as("social_worker"), page_as("police_worker")
    assert prosecutor.post(f"/cases/{case.id}/instructions", data={
        "instruction": "Report on the school attendance."}).status_code == 302
    instruction = _last_instruction(admin_conn, case)
    form = f'action="/cases/{case.id}/instructions/{instruction}/response"'
    html = worker.get(f"/cases/{case.id}").get_data(as_text=True)
    assert form in html and "Answer this instruction" in html and "Not answered yet." in html
    assert form not in police.get(f"/cases/{case.id}").get_data(as_text=True)  # not addressed
    assert form not in prosecutor.get(f"/cases/{case.id}").get_data(as_text=True)
    url = f"/cases/{case.id}/instructions/{instruction}/response"
    before = entry_count(admin_conn, case)
    empty = worker.post(url, data={"body": " ", "visibility": "own_agency"})
    html = empty.get_data(as_text=True)
    assert empty.status_code == 422
    for field in ("body", "visibility"):
        assert f'id="answer-{instruction}-{field}-error"' in html, field
    assert police.post(url, data={"body": "Not ours to answer.",
                                  "visibility": "all_participants"}).status_code == 403
    assert worker.post(f"/cases/{case.id}/instructions/{before + 10**9}/response", data={
        "body": "x", "visibility": "all_participants"}).status_code == 404
    assert entry_count(admin_conn, case) == before

    sent = worker.post(url, data={"body": "He attends every day since Monday.",
                                  "visibility": "all_participants"})
    assert sent.status_code == 302 and sent.headers["Location"].endswith(f"#entry-{instruction}")
    assert admin_conn.execute("SELECT count(*) AS n FROM instruction_responses"
                              " WHERE instruction_entry_id = %s", (instruction,)).fetchone()["n"] == 1
    again = worker.post(url, data={"body": "Twice.", "visibility": "all_participants"})
    assert again.status_code == 409 and "answered already" in again.get_data(as_text=True)
    assert entry_count(admin_conn, case) == before + 1

    html = prosecutor.get(f"/cases/{case.id}").get_data(as_text=True)
    block = html[html.index(f'id="answer-{instruction}"'):]
    assert "He attends every day since Monday." in block[:block.index("</div>")]
    assert "Answer to an instruction" in html and form not in html
    assert audit_events(admin_conn, "instruction_answer_viewed", object_id=case.id,
                        actor=cw.users["oversight"].id)


def entry_kinds(client, case) -> list[str]:
    """The kinds the case page's chronology form offers."""
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    select = html[html.index('<select id="entry-kind"'):]
    return re.findall(r'<option value="([a-z_]+)"', select[:select.index("</select>")])


def test_a_case_review_is_offered_to_the_lead_agency_in_planning_or_monitoring(page_as, admin_conn, cw):
    open_case = make_case(admin_conn, cw, assigned={"social_services": "social_worker"})
    planned = make_case(admin_conn, cw, state="planning", assigned={"social_services": "social_worker"})
    worker = page_as("social_worker")
    assert entry_kinds(worker, open_case) == ["note", "contact", "meeting", "decision"]
    assert "review" in entry_kinds(worker, planned)
    assert "review" not in entry_kinds(page_as("police_worker"), planned)
    early = worker.post(f"/cases/{open_case.id}/entries", data={
        "kind": "review", "visibility": "all_participants", "body": "Reviewed too early."})
    assert early.status_code == 409 and 'id="entry-kind-error"' in early.get_data(as_text=True)
    assert worker.post(f"/cases/{planned.id}/entries", data={
        "kind": "review", "visibility": "all_participants",
        "body": "Plan reviewed with the family."}).status_code == 302
    html = worker.get(f"/cases/{planned.id}").get_data(as_text=True)
    assert "Plan reviewed with the family." in html and "Case review" in html
    # A correction keeps the kind of what it corrects, though the form's select offers another.
    reviewed = admin_conn.execute("SELECT id FROM chronology_entries WHERE case_id = %s"
                                  " AND kind = 'review'", (planned.id,)).fetchone()["id"]
    assert worker.post(f"/cases/{planned.id}/entries", data={
        "kind": "note", "visibility": "own_agency", "corrects_id": str(reviewed),
        "body": "Plan reviewed with the family and the school."}).status_code == 302
    correction = admin_conn.execute("SELECT kind, visibility FROM chronology_entries"
                                    " WHERE corrects_id = %s", (reviewed,)).fetchone()
    assert (correction["kind"], correction["visibility"]) == ("review", "all_participants")
