"""A supervisor's approvals and emergency-access reviews, and the audit report pages, over HTTP."""
from __future__ import annotations

import pytest

from tests.case_factories import audit_events, finish_assessments, make_case
from tests.factories import PASSWORD


@pytest.fixture
def case(admin_conn, cw):
    """A case in assessment, its assessments done, led by social services."""
    ref = make_case(admin_conn, cw, state="assessment", assigned={"social_services": "social_worker"})
    finish_assessments(admin_conn, ref)
    return ref


def test_a_supervisor_approves_a_closure_requested_on_the_case_page(page_as, case, admin_conn):
    asked = page_as("social_worker").post(f"/cases/{case.id}/closure",
                                          data={"reason": "Assessments found no further risk."})
    assert asked.status_code == 302
    queue = page_as("social_supervisor").get("/supervisor/approvals").get_data(as_text=True)
    assert "Assessments found no further risk." in queue
    approval = admin_conn.execute("SELECT id FROM approvals WHERE case_id = %s", (case.id,)).fetchone()["id"]
    refused = page_as("social_supervisor").post(f"/supervisor/approvals/{approval}", data={"decision": "reject"})
    assert refused.status_code == 422 and f'id="note-{approval}-error"' in refused.get_data(as_text=True)
    done = page_as("social_supervisor").post(f"/supervisor/approvals/{approval}", data={"decision": "approve"})
    assert done.status_code == 302
    assert admin_conn.execute("SELECT state FROM cases WHERE id = %s", (case.id,)).fetchone()["state"] == "closed"


def test_a_caseworker_cannot_open_the_approvals_page(page_as):
    assert page_as("social_worker").get("/supervisor/approvals").status_code == 403


def test_emergency_access_needs_the_password_then_shows_a_banner_and_is_reviewed(page_as, case, admin_conn, cw):
    outsider = page_as("outsider")
    assert outsider.get(f"/children/{case.child_id}").status_code == 404
    reason = "The child told a teacher she is afraid to go home tonight."
    wrong = outsider.post(f"/children/{case.child_id}/emergency-access",
                          data={"reason": reason, "password": "not the password"})
    assert wrong.status_code == 401 and 'id="password-error"' in wrong.get_data(as_text=True)
    short = outsider.post(f"/children/{case.child_id}/emergency-access",
                          data={"reason": "too short", "password": PASSWORD})
    assert short.status_code == 422 and 'id="reason-error"' in short.get_data(as_text=True)
    granted = outsider.post(f"/children/{case.child_id}/emergency-access",
                            data={"reason": reason, "password": PASSWORD})
    assert granted.status_code == 302
    page = outsider.get(f"/children/{case.child_id}").get_data(as_text=True)
    assert "emergency-banner" in page and "minutes left" in page
    review = page_as("outsider_supervisor").get("/supervisor/emergency-access").get_data(as_text=True)
    assert reason in review
    grant = admin_conn.execute("SELECT id FROM access_grants WHERE child_id = %s AND user_id = %s",
                               (case.child_id, cw.users["outsider"].id)).fetchone()["id"]
    missing_note = page_as("outsider_supervisor").post(f"/supervisor/emergency-access/{grant}",
                                                       data={"outcome": "unjustified"})
    assert missing_note.status_code == 422
    ended = page_as("outsider_supervisor").post(f"/supervisor/emergency-access/{grant}",
                                                data={"outcome": "unjustified", "note": "No risk stated."})
    assert ended.status_code == 302
    assert outsider.get(f"/children/{case.child_id}").status_code == 404


def test_who_has_seen_the_childs_record_lists_the_views_and_exports_csv(page_as, case, cw, admin_conn):
    page_as("caseworker2").get(f"/children/{case.child_id}")
    prosecutor = page_as("oversight")
    report = prosecutor.get(f"/reports/child-access?child_id={case.child_id}")
    assert report.status_code == 200
    assert cw.users["caseworker2"].username in report.get_data(as_text=True)
    csv = prosecutor.get(f"/reports/child-access?child_id={case.child_id}&format=csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    assert "child_viewed" in csv.get_data(as_text=True)
    assert audit_events(admin_conn, "export", actor=cw.users["oversight"].id)


def test_report_pages_refuse_bad_input_and_other_roles_without_a_500(page_as, cw):
    prosecutor = page_as("oversight")
    assert prosecutor.get("/reports/child-access?child_id=abc").status_code == 422
    assert prosecutor.get("/reports/denied?since=yesterday").status_code == 422
    assert prosecutor.get("/reports/user-actions?username=nobody.at.all").status_code == 404
    mine = prosecutor.get(f"/reports/user-actions?username={cw.users['caseworker2'].username}&format=csv")
    assert mine.status_code == 200 and mine.mimetype == "text/csv"
    assert page_as("caseworker2").get("/reports/denied").status_code == 403
