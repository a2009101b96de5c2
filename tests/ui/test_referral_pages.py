"""Filing and screening referrals over HTTP: field messages, the duplicate-child choice, and the
Idempotency-Key that makes a double submission file once."""
from __future__ import annotations

import random
import re
import uuid
from datetime import date, timedelta

import pytest

from tests.case_factories import audit_events

FIRST_NAMES = ("Aruzhan", "Dias", "Amina", "Nurali", "Aisha", "Timur")
KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


def form_key(client) -> str:
    return KEY.search(client.get("/referrals/new").get_data(as_text=True)).group(1)


@pytest.fixture
def referral_form(cw):
    """A complete referral form about a new child, to the social services of the world."""
    def make(key: str, **changes):
        born = date(2010, 1, 1) + timedelta(days=random.randrange(3000))
        data = {"idempotency_key": key, "last_name": "Child" + uuid.uuid4().hex[:8],
                "first_name": random.choice(FIRST_NAMES) + uuid.uuid4().hex[:4],
                "date_of_birth": born.isoformat(), "sex": "F",
                "categories": ["self_harm_or_suicide_risk"], "observed_at": "2026-01-10T10:00",
                "observation": "She wrote a note saying goodbye to her friends.",
                "asq_q1": "yes", "asq_q2": "yes", "asq_q3": "yes", "asq_q4": "no", "asq_q5": "yes",
                "receiving_agency_ids": [str(cw.agencies["social_services"].id)]}
        data.update(changes)
        return data
    return make


def test_filing_twice_with_the_same_key_files_once(page_as, referral_form, admin_conn, cw):
    worker = page_as("caseworker")
    key = form_key(worker)
    data = referral_form(key)
    first = worker.post("/referrals/new", data=data)
    second = worker.post("/referrals/new", data=data)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    referral_id = int(first.headers["Location"].rsplit("/", 1)[1])
    row = admin_conn.execute("SELECT priority, state FROM referrals WHERE id = %s", (referral_id,)).fetchone()
    assert row == {"priority": "immediate", "state": "submitted"}
    filed = admin_conn.execute("SELECT count(*) AS n FROM referrals r JOIN referral_children rc"
                               " ON rc.referral_id = r.id JOIN children c ON c.id = rc.child_id"
                               " WHERE c.last_name = %s", (data["last_name"],)).fetchone()["n"]
    assert filed == 1


def test_missing_fields_are_named_with_422_and_nothing_is_filed(page_as, referral_form, admin_conn):
    worker = page_as("caseworker")
    before = admin_conn.execute("SELECT count(*) AS n FROM referrals").fetchone()["n"]
    data = referral_form(form_key(worker), observation="", categories=[], receiving_agency_ids=[],
                         asq_q5="")
    refused = worker.post("/referrals/new", data=data)
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    for field in ("observation", "categories", "receiving_agency_ids", "asq_q5"):
        assert f'id="{field}-error"' in html, field
    assert admin_conn.execute("SELECT count(*) AS n FROM referrals").fetchone()["n"] == before


def test_a_probable_duplicate_child_must_be_chosen_or_declared_different(page_as, referral_form, admin_conn):
    worker = page_as("caseworker")
    first = referral_form(form_key(worker))
    assert worker.post("/referrals/new", data=first).status_code == 302
    again = referral_form(form_key(worker), last_name=first["last_name"],
                          first_name=first["first_name"], date_of_birth=first["date_of_birth"])
    asked = worker.post("/referrals/new", data=again)
    assert asked.status_code == 409
    html = asked.get_data(as_text=True)
    assert 'id="child_choice-error"' in html and 'value="different"' in html
    existing = re.search(r'value="existing:(\d+)"', html).group(1)
    chosen = worker.post("/referrals/new", data={**again, "child_choice": f"existing:{existing}"})
    assert chosen.status_code == 302


def test_the_receiving_agency_sees_it_first_in_the_queue_and_accepts_it(page_as, referral_form, admin_conn, cw):
    worker = page_as("caseworker")
    filed = worker.post("/referrals/new", data=referral_form(form_key(worker)))
    referral_id = int(filed.headers["Location"].rsplit("/", 1)[1])
    queue = page_as("social_worker").get("/queue").get_data(as_text=True)
    listed = [int(i) for i in re.findall(r'data-referral-id="(\d+)"', queue)]
    assert referral_id in listed
    assert listed[0] < referral_id or listed[0] == referral_id  # immediate ones, oldest first
    page = page_as("social_worker").get(f"/referrals/{referral_id}").get_data(as_text=True)
    assert "Record the decision" in page and "Acknowledge the referral" in page
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    accepted = page_as("social_worker").post(f"/referrals/{referral_id}/screening",
                                             data={"decision": "accept", "version": version,
                                                   "idempotency_key": uuid.uuid4().hex})
    assert accepted.status_code == 302 and "/cases/" in accepted.headers["Location"]
    assert audit_events(admin_conn, "referral_accepted", object_id=referral_id)


def test_a_screen_out_without_a_reason_is_refused(page_as, referral_form):
    worker = page_as("caseworker")
    filed = worker.post("/referrals/new", data=referral_form(form_key(worker)))
    referral_id = int(filed.headers["Location"].rsplit("/", 1)[1])
    refused = page_as("social_worker").post(f"/referrals/{referral_id}/screening",
                                            data={"decision": "screen_out", "version": "1"})
    assert refused.status_code == 422 and 'id="reason-error"' in refused.get_data(as_text=True)


def test_the_iin_is_checked_as_it_is_typed(page_as):
    worker = page_as("caseworker")
    assert "of 12 digits" in worker.get("/referrals/check-iin?iin=1234").get_data(as_text=True)
    assert "Not a valid IIN" in worker.get("/referrals/check-iin?iin=123456789012").get_data(as_text=True)


def test_files_of_a_referral_are_downloaded_through_the_access_check_and_audited(
        page_as, referral_form, admin_conn, cw):
    import io

    worker = page_as("caseworker")
    content = b"%PDF-1.4\nA scanned letter from the class teacher.\n"
    data = referral_form(form_key(worker))
    data["attachments"] = (io.BytesIO(content), "письмо учителя.pdf", "application/pdf")
    filed = worker.post("/referrals/new", data=data, content_type="multipart/form-data")
    assert filed.status_code == 302
    page = worker.get(filed.headers["Location"]).get_data(as_text=True)
    link = re.search(r'href="(/referrals/\d+/attachments/(\d+))"', page)
    assert link and "письмо учителя.pdf" in page
    url, attachment_id = link.group(1), int(link.group(2))

    got = page_as("social_worker").get(url)
    assert got.status_code == 200 and got.data == content and got.mimetype == "application/pdf"
    assert got.headers["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%D0%BF%D0%B8%D1%81%D1%8C%D0%BC%D0%BE" in got.headers["Content-Disposition"]
    viewed = audit_events(admin_conn, "attachment_viewed", object_id=attachment_id,
                          actor=cw.users["social_worker"].id)
    assert viewed and viewed[-1]["outcome"] == "allowed"

    assert page_as("outsider").get(url).status_code == 404
    referral_id = int(url.split("/")[2])
    denied = audit_events(admin_conn, "access_denied", object_id=referral_id,
                          actor=cw.users["outsider"].id)
    assert denied and denied[-1]["details"]["attempted"] == "attachment_viewed"
    other = url.rsplit("/", 1)[0] + "/999999999"
    assert worker.get(other).status_code == 404
