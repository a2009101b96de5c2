"""Referrals through the API: draft and submit, priority from the risk indicators, corrections as
new versions, attachments, idempotent retries, lists, and who may see what."""
from __future__ import annotations

import hashlib
import io
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from services.settings import app_url_from
from tests.core_factories import (Api, assert_problem, at_once, audit_events, count, create_child,
                                  file_referral, key, observed, referral_body, referrals_with)

REFERRALS = "/api/v1/referrals"
PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def child(api):
    """A child recorded by the school (the referring agency)."""
    return create_child(api("caseworker"))["id"]


@pytest.fixture
def social(core):
    return core.agencies["social_services"].id


def test_a_draft_is_its_authors_until_submitted(api, core, child, social, admin_conn, mark):
    draft = file_referral(api("caseworker"), [child], [social], submit=False)
    assert draft["state"] == "draft" and draft["version"] == 1
    assert [c["id"] for c in draft["children"]] == [child]
    assert draft["receiving_agencies"] == [{"agency_id": social, "status": "pending", "decided_at": None,
                                            "redirected_to": None, "decision_note": None}]
    path = f"{REFERRALS}/{draft['id']}"
    assert_problem(api("social_worker").get(path), 404)
    assert_problem(api("supervisor").get(path), 404)  # a colleague's draft

    submitted = api("caseworker").post(f"{path}/submit")
    assert submitted.status_code == 200 and submitted.get_json()["state"] == "submitted"
    assert api("social_worker").get(path).get_json()["observation"] == draft["observation"]
    assert api("caseworker").get(f"{path}/status").get_json()["updates"][0]["status"] == "received"
    actions = [(e["action"], e["child_id"]) for e in audit_events(admin_conn, core.users["caseworker"], since=mark)
               if e["object_type"] == "referral"]
    assert ("referral_drafted", child) in actions and ("referral_submitted", child) in actions
    assert ("referrer_update_sent", child) in actions
    assert_problem(api("caseworker").post(f"{path}/submit"), 409, "state")


@pytest.mark.parametrize("risk, requested, expected", [
    ({}, None, "low"),
    ({"harm_suspected": True}, None, "standard"),
    ({"significant_harm": True}, None, "urgent"),
    ({"imminent_danger": True}, None, "immediate"),
    ({"asq": {"q1": "no", "q2": "no", "q3": "no", "q4": "no"}}, None, "low"),
    ({"asq": {"q1": "yes", "q2": "no", "q3": "no", "q4": "no", "q5": "no"}}, None, "urgent"),
    ({"asq": {"q1": "yes", "q2": "yes", "q3": "no", "q4": "no", "q5": "yes"}}, None, "immediate"),
    ({"harm_suspected": True}, "urgent", "urgent"),
])
def test_the_priority_follows_the_risk_indicators_and_the_referrer_may_raise_it(
        api, child, social, risk, requested, expected):
    referral = file_referral(api("caseworker"), [child], [social], risk=risk, priority=requested)
    assert referral["priority"] == expected
    assert referral["risk"]["computed_priority"] in ("low", "standard", "urgent", "immediate")


@pytest.mark.parametrize("change, field", [
    ({"risk": {"significant_harm": True}, "priority": "low"}, "priority"),
    ({"risk": {"asq": {"q1": "yes", "q2": "no", "q3": "no", "q4": "no"}}}, "risk.asq.q5"),
    ({"risk": {"asq": {"q1": "no", "q2": "no", "q3": "no"}}}, "risk.asq.q4"),
    ({"risk": {"asq": {"q1": "maybe", "q2": "no", "q3": "no", "q4": "no"}}}, "risk.asq.q1"),
    ({"observed_at": (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat()}, "observed_at"),
    ({"observed_at": "2025-01-01T10:00:00"}, "observed_at"),
    ({"observed_at": 1700000000}, "observed_at"),
    ({"receiving_agency_ids": []}, "receiving_agency_ids"),
    ({"receiving_agency_ids": [999999999]}, "receiving_agency_ids"),
    ({"categories": []}, "categories"),
    ({"categories": ["witchcraft"]}, "categories.0"),
    ({"categories": "neglect"}, "categories"),
    ({"children": []}, "children"),
    ({"children": [{"child_id": 999999999}]}, "children.0.child_id"),
    ({"mood": "sad"}, "mood"),
    ({"observation": ""}, "observation"),
    ({"submit": "yes"}, "submit"),
    ({"observed_place": "a\u0000b"}, "observed_place"),
    ({"receiving_agency_ids": [2**63]}, "receiving_agency_ids.0"),
    ({"children": [{"child_id": 2**64}]}, "children.0.child_id"),
])
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(api, admin_conn, child, social,
                                                                      change, field):
    body = {**referral_body([child], [social]), **change, "submit": change.get("submit", True)}
    assert_problem(api("caseworker").post(REFERRALS, json=body), 422, field)
    assert referrals_with(admin_conn, body["observation"]) == 0


@pytest.mark.parametrize("recipient, field", [
    ("school", "receiving_agency_ids"),      # its own agency
    ("prosecutor", "receiving_agency_ids"),  # oversees, never receives
])
def test_a_referral_goes_to_other_agencies_that_work_cases(api, core, admin_conn, child, social,
                                                           recipient, field):
    body = referral_body([child], [social, core.agencies[recipient].id])
    assert_problem(api("caseworker").post(REFERRALS, json=body), 422, field)
    twice = referral_body([child], [social, social])
    assert_problem(api("caseworker").post(REFERRALS, json=twice), 422, field)
    assert referrals_with(admin_conn, body["observation"]) + referrals_with(admin_conn, twice["observation"]) == 0


def test_a_submitted_referral_is_never_edited(api, child, social, database_url):
    referral = file_referral(api("caseworker"), [child], [social])
    problem = assert_problem(api("caseworker").patch(f"{REFERRALS}/{referral['id']}",
                                                     json={"observation": "Something else"}), 409, "state")
    assert problem["allowed_states"] == ["draft"]
    # PostgreSQL refuses it too, even to a statement the application did not mean to send.
    with psycopg.connect(app_url_from(database_url, None)) as conn:
        conn.execute("SELECT set_config('qorgau.user_id', %s, true), set_config('qorgau.agency_id', %s, true),"
                     " set_config('qorgau.roles', 'caseworker', true)",
                     (str(api("caseworker").user.id), str(api("caseworker").user.agency_id)))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE referrals SET observation = 'changed' WHERE id = %s", (referral["id"],))


def test_a_draft_may_be_changed_by_its_author(api, core, child, social):
    draft = file_referral(api("caseworker"), [child], [social], submit=False)
    police = core.agencies["police"].id
    changed = api("caseworker").patch(f"{REFERRALS}/{draft['id']}", json={
        "categories": ["physical_abuse", "neglect"], "receiving_agency_ids": [social, police],
        "risk": {"significant_harm": True}})
    assert changed.status_code == 200, changed.get_json()
    body = changed.get_json()
    assert body["categories"] == ["physical_abuse", "neglect"] and body["priority"] == "urgent"
    assert [r["agency_id"] for r in body["receiving_agencies"]] == sorted([social, police])
    assert body["observation"] == draft["observation"]
    assert_problem(api("caseworker").patch(f"{REFERRALS}/{draft['id']}", json={"observation": None}),
                   422, "observation")
    assert_problem(api("caseworker").patch(f"{REFERRALS}/{draft['id']}", json={"colour": 1}), 422, "colour")


def test_a_correction_is_a_new_version_linked_to_the_old(api, core, child, social, admin_conn, mark):
    first = file_referral(api("caseworker"), [child], [social])
    police = core.agencies["police"].id
    body = referral_body([child], [social, police], observation="Corrected: bruises on both arms",
                         categories=["physical_abuse"], version=1)
    response = api("caseworker").post(f"{REFERRALS}/{first['id']}/versions", json=body)
    assert response.status_code == 201, response.get_json()
    second = response.get_json()
    assert second["version"] == 2 and second["previous_version_id"] == first["id"]
    assert second["state"] == "submitted" and second["observation"] == "Corrected: bruises on both arms"
    assert {r["agency_id"] for r in second["receiving_agencies"]} == {social, police}
    old = api("caseworker").get(f"{REFERRALS}/{first['id']}").get_json()
    assert old["superseded_by_id"] == second["id"] and old["observation"] == first["observation"]
    corrected = audit_events(admin_conn, core.users["caseworker"], since=mark, action="referral_corrected")
    assert [(e["object_id"], e["child_id"]) for e in corrected] == [(str(second["id"]), child)]

    # A stale version, a withdrawn agency, another person: refused, nothing written.
    stale = api("caseworker").post(f"{REFERRALS}/{first['id']}/versions", json={**body, "observation": "x1"})
    assert_problem(stale, 409, "version")
    withdrawn = api("caseworker").post(f"{REFERRALS}/{second['id']}/versions",
                                       json={**body, "version": 2, "receiving_agency_ids": [police]})
    assert_problem(withdrawn, 422, "receiving_agency_ids")
    colleague = api("supervisor").post(f"{REFERRALS}/{second['id']}/versions", json={**body, "version": 2})
    assert_problem(colleague, 403)
    assert count(admin_conn, "SELECT 1 FROM referrals WHERE previous_version_id = %s", second["id"]) == 0
    incoming = api("social_worker").get(REFERRALS, query_string={"box": "incoming", "limit": 100}).get_json()
    ids = [r["id"] for r in incoming["items"]]
    assert second["id"] in ids and first["id"] not in ids


def test_a_retry_with_the_same_key_files_the_referral_once(api, child, social, admin_conn):
    body = {**referral_body([child], [social]), "submit": True}
    headers = key()
    first = api("caseworker").post(REFERRALS, json=body, headers=headers)
    again = api("caseworker").post(REFERRALS, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert referrals_with(admin_conn, body["observation"]) == 1
    assert count(admin_conn, "SELECT 1 FROM referrer_updates WHERE referral_id = %s", first.get_json()["id"]) == 1
    other = api("caseworker").post(REFERRALS, json={**body, "observation": "different"}, headers=headers)
    assert_problem(other, 422, "Idempotency-Key")


def test_concurrent_retries_file_one_referral(app, core, child, social, admin_conn):
    body = {**referral_body([child], [social]), "submit": True}
    headers = key()
    clients = [Api(app.test_client(), core.users["caseworker"]) for _ in range(3)]
    results = at_once(*[lambda c=c: c.post(REFERRALS, json=body, headers=headers) for c in clients])
    assert sorted(r.status_code for r in results) == [201, 201, 201]
    assert len({r.get_json()["id"] for r in results}) == 1
    assert referrals_with(admin_conn, body["observation"]) == 1


def test_another_agency_gets_the_same_404_as_for_a_missing_referral(api, core, child, social, admin_conn, mark):
    referral = file_referral(api("caseworker"), [child], [social])
    hidden = assert_problem(api("outsider").get(f"{REFERRALS}/{referral['id']}"), 404)
    missing = assert_problem(api("outsider").get(f"{REFERRALS}/999999999"), 404)
    assert [hidden[k] for k in ("title", "detail")] == [missing[k] for k in ("title", "detail")]
    assert_problem(api("outsider").get(f"{REFERRALS}/{referral['id']}/status"), 404)
    denied = audit_events(admin_conn, core.users["outsider"], since=mark, action="access_denied")
    assert [(e["object_id"], e["child_id"]) for e in denied][:2] == [(str(referral["id"]), child),
                                                                     ("999999999", None)]


@pytest.mark.parametrize("role", ["agency_admin", "system_admin", "council"])
def test_admin_roles_see_no_referral(api, child, social, role):
    referral = file_referral(api("caseworker"), [child], [social])
    assert_problem(api(role).get(f"{REFERRALS}/{referral['id']}"), 404)
    assert_problem(api(role).post(REFERRALS, json=referral_body([child], [social])), 403)
    assert api(role).get(REFERRALS, query_string={"box": "all"}).get_json()["items"] == []


def test_the_referrers_identity_is_restricted(api, core, child, social, admin_conn, mark):
    referral = file_referral(api("caseworker"), [child], [social], referrer_contact="+7 701 000 0000")
    mine = api("caseworker").get(f"{REFERRALS}/{referral['id']}").get_json()
    assert mine["referrer"] == {"full_name": "Test Person", "contact": "+7 701 000 0000"}
    theirs = api("social_worker").get(f"{REFERRALS}/{referral['id']}").get_json()
    assert theirs["referrer"] is None and theirs["referrer_restricted"] is True
    assert "+7 701" not in api("social_worker").get(f"{REFERRALS}/{referral['id']}").get_data(as_text=True)
    oversight = api("oversight").get(f"{REFERRALS}/{referral['id']}").get_json()
    assert oversight["referrer"]["contact"] == "+7 701 000 0000"
    viewed = audit_events(admin_conn, core.users["oversight"], since=mark, action="referrer_viewed")
    assert [e["object_id"] for e in viewed] == [str(referral["id"])]
    read = audit_events(admin_conn, core.users["social_worker"], since=mark, action="referral_viewed")
    assert [(e["object_id"], e["child_id"]) for e in read] == [(str(referral["id"]), child)] * 2


def test_a_child_outside_ones_scope_is_named_with_its_date_of_birth(api, core, social, admin_conn):
    theirs = create_child(api("outsider"))
    body = referral_body([theirs["id"]], [social])
    assert_problem(api("caseworker").post(REFERRALS, json={**body, "submit": True}), 422, "children.0.child_id")
    wrong = {**body, "children": [{"child_id": theirs["id"], "date_of_birth": "2001-01-01"}]}
    assert_problem(api("caseworker").post(REFERRALS, json=wrong), 422, "children.0.child_id")
    assert referrals_with(admin_conn, body["observation"]) == 0
    proven = {**body, "submit": True,
              "children": [{"child_id": theirs["id"], "date_of_birth": theirs["date_of_birth"]}]}
    referral = api("caseworker").post(REFERRALS, json=proven)
    assert referral.status_code == 201, referral.get_json()
    # The receiving agency now reads the child through the referral.
    assert api("social_worker").get(f"/api/v1/children/{theirs['id']}").status_code == 200


# --- Attachments -------------------------------------------------------------------------------

def upload(api, referral_id, data, *, filename="note.pdf", content_type="application/pdf", **form):
    return api.post(f"{REFERRALS}/{referral_id}/attachments",
                    data={"file": (io.BytesIO(data), filename, content_type), **form},
                    content_type="multipart/form-data")


def test_a_file_is_stored_with_its_sha256_and_its_download_audited(api, core, child, social, admin_conn, mark):
    referral = file_referral(api("caseworker"), [child], [social])
    response = upload(api("caseworker"), referral["id"], PDF)
    assert response.status_code == 201, response.get_json()
    added = response.get_json()
    assert added["sha256"] == hashlib.sha256(PDF).hexdigest() and added["content_type"] == "application/pdf"
    listed = api("social_worker").get(f"{REFERRALS}/{referral['id']}").get_json()["attachments"]
    assert [a["id"] for a in listed] == [added["id"]]
    download = api("social_worker").get(f"{REFERRALS}/{referral['id']}/attachments/{added['id']}")
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    viewed = audit_events(admin_conn, core.users["social_worker"], since=mark, action="attachment_viewed")
    assert [(e["object_id"], e["child_id"]) for e in viewed] == [(str(added["id"]), child)]
    assert_problem(api("outsider").get(f"{REFERRALS}/{referral['id']}/attachments/{added['id']}"), 404)
    assert_problem(api("caseworker").delete(f"{REFERRALS}/{referral['id']}/attachments/{added['id']}"), 405)


def test_a_replacement_supersedes_and_keeps_the_earlier_file(api, child, social, admin_conn):
    referral = file_referral(api("caseworker"), [child], [social])
    first = upload(api("caseworker"), referral["id"], PDF).get_json()
    second = upload(api("caseworker"), referral["id"], PNG, filename="photo.png", content_type="image/png",
                    supersedes_id=str(first["id"]))
    assert second.status_code == 201 and second.get_json()["supersedes_id"] == first["id"]
    files = api("caseworker").get(f"{REFERRALS}/{referral['id']}").get_json()["attachments"]
    assert [(f["id"], f["superseded_by_id"]) for f in files] == [(first["id"], second.get_json()["id"]),
                                                                (second.get_json()["id"], None)]
    again = upload(api("caseworker"), referral["id"], PDF, supersedes_id=str(first["id"]))
    assert_problem(again, 422, "supersedes_id")
    assert count(admin_conn, "SELECT 1 FROM referral_attachments WHERE referral_id = %s", referral["id"]) == 2


@pytest.mark.parametrize("data, filename, content_type, status", [
    (b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 40, "setup.exe", "application/octet-stream", 415),
    (b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 40, "report.pdf", "application/pdf", 415),
    (PNG, "report.pdf", "application/pdf", 415),
    (b"", "empty.txt", "text/plain", 422),
    (b"%PDF-" + b"0" * (10 * 1024 * 1024), "huge.pdf", "application/pdf", 413),
])
def test_a_refused_or_oversized_file_is_not_stored(api, child, social, admin_conn, data, filename,
                                                   content_type, status):
    referral = file_referral(api("caseworker"), [child], [social])
    assert_problem(upload(api("caseworker"), referral["id"], data, filename=filename,
                          content_type=content_type), status, "file")
    assert count(admin_conn, "SELECT 1 FROM referral_attachments WHERE referral_id = %s", referral["id"]) == 0


def test_only_the_referring_agency_attaches_files(api, child, social):
    referral = file_referral(api("caseworker"), [child], [social])
    assert_problem(upload(api("social_worker"), referral["id"], PDF), 403)
    assert_problem(upload(api("outsider"), referral["id"], PDF), 404)
    assert_problem(api("caseworker").post(f"{REFERRALS}/{referral['id']}/attachments", json={}), 422, "file")
    assert upload(api("caseworker"), referral["id"], b"Plain words.\n", filename="n.txt",
                  content_type="text/plain").status_code == 201


# --- Lists -------------------------------------------------------------------------------------

def test_lists_show_each_agency_its_own_referrals_with_filters_and_pages(api, core, child, social, admin_conn, mark):
    police = core.agencies["police"].id
    made = [file_referral(api("caseworker"), [child], [social], risk={"imminent_danger": True})["id"]
            for _ in range(3)]
    made.append(file_referral(api("caseworker"), [child], [police])["id"])
    incoming = api("social_worker").get(REFERRALS, query_string={"box": "incoming", "limit": 2,
                                                                  "priority": "immediate"})
    page = incoming.get_json()
    assert [r["id"] for r in page["items"]] == [made[2], made[1]]
    rest = api("social_worker").get(REFERRALS, query_string={"box": "incoming", "limit": 2, "priority": "immediate",
                                                              "cursor": page["next_cursor"]}).get_json()
    assert made[0] in [r["id"] for r in rest["items"]] and made[3] not in [r["id"] for r in rest["items"]]
    sent = api("caseworker").get(REFERRALS, query_string={"box": "sent", "agency": police}).get_json()
    assert [r["id"] for r in sent["items"]][:1] == [made[3]]
    today = datetime.now(timezone.utc).date()
    dated = api("caseworker").get(REFERRALS, query_string={
        "box": "sent", "date_from": (today - timedelta(days=1)).isoformat(),
        "date_to": (today + timedelta(days=1)).isoformat(), "limit": 100}).get_json()
    assert set(made) <= {r["id"] for r in dated["items"]}
    none = api("caseworker").get(REFERRALS, query_string={"box": "sent", "date_to": "2000-01-01"}).get_json()
    assert none["items"] == []
    outsider = api("outsider").get(REFERRALS, query_string={"box": "all", "limit": 100}).get_json()
    assert not set(made) & {r["id"] for r in outsider["items"]}
    oversight = api("oversight").get(REFERRALS, query_string={"box": "all", "limit": 100}).get_json()
    assert set(made) <= {r["id"] for r in oversight["items"]}
    listed = audit_events(admin_conn, core.users["social_worker"], since=mark, action="referral_listed")
    assert [e["details"]["box"] for e in listed] == ["incoming", "incoming"]


@pytest.mark.parametrize("query, field", [
    ({"limit": 101}, "limit"),
    ({"limit": 0}, "limit"),
    ({"cursor": "not-a-cursor"}, "cursor"),
    ({"box": "outbox"}, "box"),
    ({"state": "lost"}, "state"),
    ({"date_from": "tomorrow"}, "date_from"),
    ({"colour": "red"}, "colour"),
])
def test_list_parameters_are_checked(api, query, field):
    assert_problem(api("social_worker").get(REFERRALS, query_string=query), 422, field)


def test_an_observation_just_now_is_accepted(api, child, social):
    assert file_referral(api("caseworker"), [child], [social], observed_at=observed(0))["state"] == "submitted"
