"""The chronology: append-only entries whose existence participants see and whose bodies follow
their visibility; corrections; the child's merged timeline; the same answers from PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from tests.case_factories import actor_of, as_app_role, audit_events, grant_emergency_access

BODIES = {"all": "Home visit: child safe tonight.", "lead_own": "Internal: worker safety concern.",
          "restricted": "Disclosure details (restricted).", "school_own": "School-only: seating plan."}

# Which entries' bodies each viewer reads (DESIGN.md §4): everyone in scope sees that all four exist.
READS = {
    "social_worker": {"all", "lead_own", "restricted"},   # the lead agency
    "police_worker": {"all", "restricted"},               # police taking part
    "caseworker": {"all", "school_own"},                  # another participant (the school)
    "oversight": {"all", "lead_own", "restricted", "school_own"},
    "grantee": {"all"},                                   # emergency access: never restricted
}


def write(api_client, case_id, visibility, body, kind="note", **extra):
    response = api_client.post(f"/api/v1/cases/{case_id}/chronology",
                               json={"kind": kind, "visibility": visibility, "body": body, **extra})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def written(api, new_case):
    """A case led by social services with one entry of each visibility (and a school-only one)."""
    case = new_case()
    ids = {"all": write(api("social_worker"), case.id, "all_participants", BODIES["all"])["id"],
           "lead_own": write(api("social_worker"), case.id, "own_agency", BODIES["lead_own"])["id"],
           "restricted": write(api("social_worker"), case.id, "restricted", BODIES["restricted"],
                               kind="decision")["id"],
           "school_own": write(api("caseworker"), case.id, "own_agency", BODIES["school_own"],
                               kind="contact")["id"]}
    return case, ids


@pytest.mark.parametrize("viewer", sorted(READS))
def test_everyone_in_scope_sees_every_entry_exists_and_reads_what_they_may(api, written, viewer):
    case, ids = written
    client = api("outsider" if viewer == "grantee" else viewer)
    if viewer == "grantee":
        grant_emergency_access(client, case.child_id)
    response = client.get(f"/api/v1/cases/{case.id}/chronology")
    assert response.status_code == 200
    items = {e["id"]: e for e in response.get_json()["items"]}
    assert set(items) == set(ids.values())
    for name, entry_id in ids.items():
        entry = items[entry_id]
        if name in READS[viewer]:
            assert entry["body"] == BODIES[name] and entry["restricted"] is False, name
        else:
            assert entry["body"] is None and entry["restricted"] is True, name
        assert entry["visibility"] in ("all_participants", "own_agency", "restricted")


@pytest.mark.parametrize("viewer", sorted(READS))
def test_row_level_security_gives_the_same_bodies(app, api, cw, written, viewer):
    case, ids = written
    user = cw.users["outsider" if viewer == "grantee" else viewer]
    if viewer == "grantee":
        grant_emergency_access(api("outsider"), case.child_id)
    with app.app_context(), as_app_role(app, actor_of(user)) as conn:
        seen = {r["entry_id"] for r in conn.execute(
            "SELECT entry_id FROM chronology_bodies WHERE entry_id = ANY(%s)", (list(ids.values()),))}
        exists = {r["id"] for r in conn.execute(
            "SELECT id FROM chronology_entries WHERE id = ANY(%s)", (list(ids.values()),))}
    assert seen == {ids[name] for name in READS[viewer]}
    assert exists == set(ids.values())


def test_people_outside_the_case_see_nothing(api, written, cw):
    case, _ = written
    for who in ("health_worker", "far_worker", "far_oversight", "agency_admin", "council", "system_admin"):
        response = api(who).get(f"/api/v1/cases/{case.id}/chronology")
        assert response.status_code == 404, who


def test_reading_the_chronology_is_audited(api, written, admin_conn, cw):
    case, _ = written
    api("police_worker").get(f"/api/v1/cases/{case.id}/chronology")
    event = audit_events(admin_conn, "chronology_viewed", object_id=case.id, object_type="case",
                         actor=cw.users["police_worker"].id)[-1]
    assert event["child_id"] == case.child_id and event["details"] == {"count": 4, "hidden_count": 2}
    added = audit_events(admin_conn, "chronology_entry_added", object_id=case.id)
    assert [e["details"]["visibility"] for e in added] == ["all_participants", "own_agency", "restricted",
                                                           "own_agency"]


def test_entries_are_append_only_even_for_the_owner_of_the_tables(written, admin_conn):
    _, ids = written
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        admin_conn.execute("UPDATE chronology_bodies SET body = 'rewritten' WHERE entry_id = %s", (ids["all"],))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        admin_conn.execute("DELETE FROM chronology_entries WHERE id = %s", (ids["all"],))


def test_a_correction_points_at_what_it_corrects_and_keeps_its_visibility(api, written, admin_conn):
    case, ids = written
    lead = api("social_worker")
    fix = lead.post(f"/api/v1/cases/{case.id}/chronology",
                    json={"corrects_id": ids["restricted"], "body": "Corrected: disclosure was on Monday."})
    assert fix.status_code == 201
    fixed = fix.get_json()
    assert (fixed["corrects_id"], fixed["kind"], fixed["visibility"]) == (ids["restricted"], "decision", "restricted")
    items = {e["id"]: e for e in lead.get(f"/api/v1/cases/{case.id}/chronology").get_json()["items"]}
    assert items[ids["restricted"]]["corrected_by"] == [fixed["id"]]
    assert items[ids["restricted"]]["body"] == BODIES["restricted"]  # the original stays as it was
    # The school sees the correction exists but not what it says.
    school = {e["id"]: e for e in api("caseworker").get(f"/api/v1/cases/{case.id}/chronology").get_json()["items"]}
    assert school[fixed["id"]]["body"] is None
    assert audit_events(admin_conn, "chronology_entry_added", object_id=case.id)[-1]["details"]["corrects_id"] == \
        ids["restricted"]


def test_corrections_cannot_widen_or_reach_what_one_cannot_read(api, written):
    case, ids = written
    lead, school = api("social_worker"), api("caseworker")
    widen = lead.post(f"/api/v1/cases/{case.id}/chronology",
                      json={"corrects_id": ids["restricted"], "visibility": "all_participants", "body": "x"})
    assert widen.status_code == 422 and widen.get_json()["field"] == "visibility"
    blind = school.post(f"/api/v1/cases/{case.id}/chronology", json={"corrects_id": ids["restricted"], "body": "x"})
    assert blind.status_code == 422 and blind.get_json()["field"] == "corrects_id"
    other_kind = lead.post(f"/api/v1/cases/{case.id}/chronology",
                           json={"corrects_id": ids["all"], "kind": "meeting", "body": "x"})
    assert other_kind.status_code == 422 and other_kind.get_json()["field"] == "kind"
    nowhere = lead.post(f"/api/v1/cases/{case.id}/chronology", json={"corrects_id": 999999999, "body": "x"})
    assert nowhere.status_code == 422 and nowhere.get_json()["field"] == "corrects_id"


@pytest.mark.parametrize("payload, field", [
    ({"kind": "instruction", "visibility": "all_participants", "body": "x"}, "kind"),
    ({"kind": "assessment_result", "visibility": "all_participants", "body": "x"}, "kind"),
    ({"kind": "note", "body": "x"}, "visibility"),
    ({"kind": "note", "visibility": "public", "body": "x"}, "visibility"),
    ({"kind": "note", "visibility": "all_participants", "body": ""}, "body"),
    ({"kind": "note", "visibility": "all_participants", "body": "x", "occurred_at": "2020-01-01T10:00:00"},
     "occurred_at"),
    ({"kind": "note", "visibility": "all_participants", "body": "x", "extra": 1}, "extra"),
    ({"kind": "note", "visibility": "all_participants", "body": 5}, "body"),
])
def test_bad_entries_are_422_naming_the_field(api, new_case, payload, field):
    case = new_case()
    response = api("social_worker").post(f"/api/v1/cases/{case.id}/chronology", json=payload)
    assert response.status_code == 422 and response.get_json()["field"] == field, response.get_json()


def test_an_entry_in_the_future_is_refused_and_one_in_the_past_keeps_its_time(api, new_case):
    case = new_case()
    later = (datetime.now(timezone.utc) + timedelta(days=1)).isoformat()
    future = api("social_worker").post(f"/api/v1/cases/{case.id}/chronology", json={
        "kind": "contact", "visibility": "all_participants", "body": "x", "occurred_at": later})
    assert future.status_code == 422 and future.get_json()["field"] == "occurred_at"
    past = write(api("social_worker"), case.id, "all_participants", "Phone call.", kind="contact",
                 occurred_at="2025-03-02T09:30:00+05:00")
    assert datetime.fromisoformat(past["occurred_at"]) == datetime(2025, 3, 2, 4, 30, tzinfo=timezone.utc)


def test_a_closed_case_takes_corrections_but_no_new_entries(api, new_case, admin_conn):
    case = new_case()
    first = write(api("social_worker"), case.id, "all_participants", "Before closing.")
    admin_conn.execute("UPDATE cases SET state = 'closed', closed_at = now() WHERE id = %s", (case.id,))
    late = api("social_worker").post(f"/api/v1/cases/{case.id}/chronology",
                                     json={"kind": "note", "visibility": "all_participants", "body": "After."})
    assert late.status_code == 409
    fix = api("social_worker").post(f"/api/v1/cases/{case.id}/chronology",
                                    json={"corrects_id": first["id"], "body": "Before closing (date fixed)."})
    assert fix.status_code == 201


def test_the_chronology_pages_oldest_first(api, new_case):
    case = new_case()
    base = datetime(2025, 1, 1, tzinfo=timezone.utc)
    made = [write(api("social_worker"), case.id, "all_participants", f"Entry {i}",
                  occurred_at=(base + timedelta(days=i)).isoformat())["id"] for i in range(5)]
    seen, cursor = [], None
    while True:
        response = api("police_worker").get(f"/api/v1/cases/{case.id}/chronology?limit=2"
                                            + (f"&cursor={cursor}" if cursor else ""))
        page = response.get_json()
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == made
    assert api("police_worker").get(f"/api/v1/cases/{case.id}/chronology?limit=101").status_code == 422
    assert api("police_worker").get(f"/api/v1/cases/{case.id}/chronology?cursor=%%%").status_code == 422


# --- The child's merged timeline ------------------------------------------------------------------

def test_the_childs_timeline_merges_their_cases_and_filters(api, new_case, cw, admin_conn):
    old = new_case(state="closed", lead="police", participants=("school",), assessments=())
    admin_conn.execute("INSERT INTO chronology_entries (case_id, child_id, kind, visibility, author_user_id,"
                       " agency_id, occurred_at) VALUES (%s, %s, 'note', 'all_participants', %s, %s,"
                       " '2024-05-01T10:00:00Z') RETURNING id",
                       (old.id, old.child_id, cw.users["police_worker"].id, cw.agencies["police"].id))
    case = new_case(child_id=old.child_id)
    write(api("social_worker"), case.id, "all_participants", "Current case note.")
    write(api("caseworker"), case.id, "all_participants", "School contact.", kind="contact")
    school = api("caseworker")
    merged = school.get(f"/api/v1/children/{case.child_id}/chronology").get_json()["items"]
    assert [e["case_id"] for e in merged] == [old.id, case.id, case.id]
    police_only = school.get(f"/api/v1/children/{case.child_id}/chronology?agency={cw.agencies['police'].id}")
    assert [e["case_id"] for e in police_only.get_json()["items"]] == [old.id]
    contacts = school.get(f"/api/v1/children/{case.child_id}/chronology?kind=contact").get_json()["items"]
    assert [e["body"] for e in contacts] == ["School contact."]
    # Social services only take part in the current case: the old one is not theirs to see.
    social = api("social_worker").get(f"/api/v1/children/{case.child_id}/chronology").get_json()["items"]
    assert {e["case_id"] for e in social} == {case.id}
    event = audit_events(admin_conn, "chronology_viewed", object_id=case.child_id, object_type="child",
                         actor=cw.users["social_worker"].id)[-1]
    assert event["object_type"] == "child" and event["details"]["case_ids"] == [case.id]
    assert api("health_worker").get(f"/api/v1/children/{case.child_id}/chronology").status_code == 404
    assert api("oversight").get(f"/api/v1/children/{case.child_id}/chronology").status_code == 200


def test_a_retried_entry_with_the_same_idempotency_key_is_written_once(api, new_case, admin_conn):
    case = new_case()
    lead = api("social_worker")
    body = {"kind": "contact", "visibility": "all_participants", "body": "Phoned the mother."}
    key = {"Idempotency-Key": f"entry-{case.id}-first-call"}
    first = lead.post(f"/api/v1/cases/{case.id}/chronology", json=body, headers=key)
    retry = lead.post(f"/api/v1/cases/{case.id}/chronology", json=body, headers=key)
    assert first.status_code == retry.status_code == 201
    assert retry.get_json()["id"] == first.get_json()["id"] and retry.headers["Idempotent-Replayed"] == "true"
    assert admin_conn.execute("SELECT count(*) AS n FROM chronology_entries WHERE case_id = %s",
                              (case.id,)).fetchone()["n"] == 1
    other = lead.post(f"/api/v1/cases/{case.id}/chronology", json={**body, "body": "Something else."}, headers=key)
    assert other.status_code == 422 and other.get_json()["field"] == "Idempotency-Key"
