"""Audit reports over HTTP: oversight sees its region, a supervisor their agency, nobody else;
reading a report is itself recorded."""
from __future__ import annotations

import csv
import io
import itertools

import pytest

from audit import Actor, AuditAction, record
from services.db import transaction
from tests.platform.helpers import bearer, token_for

_children = itertools.count(7_000_000)


@pytest.fixture(scope="module")
def world(app):
    """One region's agencies and users, shared by this module's tests."""
    from tests.factories import make_world

    with app.app_context():
        return make_world()


@pytest.fixture(scope="module")
def tokens(app, world):
    """A Bearer token per user of the world."""
    client = app.test_client()
    return {name: token_for(client, user) for name, user in world.users.items()}


def actor_of(world, name: str) -> Actor:
    user = world.users[name]
    return Actor(user_id=user.id, agency_id=user.agency_id, roles=frozenset(user.roles),
                 region_id=world.region_id, mfa=True)


@pytest.fixture
def child(app, world) -> int:
    """A child whose record the school's caseworker and a social worker each viewed once."""
    child_id = next(_children)
    with app.app_context():
        for name in ("caseworker", "social_worker"):
            actor = actor_of(world, name)
            with transaction(actor) as conn:
                record(conn, actor=actor, action=AuditAction.CHILD_VIEWED, object_type="child",
                       object_id=child_id, child_id=child_id, purpose="screening")
    return child_id


def get(client, tokens, who: str, path: str):
    return client.get(path, headers=bearer(tokens[who]))


def viewers(response) -> set[str]:
    return {item["actor"]["username"] for item in response.get_json()["items"]
            if item["action"] == "child_viewed"}


def events(admin_conn, **where) -> list[dict]:
    clause = " AND ".join(f"{k} = %({k})s" for k in where)
    return admin_conn.execute(f"SELECT * FROM audit.events WHERE {clause} ORDER BY id", where
                              ).fetchall()


def test_oversight_sees_every_access_in_its_region(client, tokens, world, child):
    response = get(client, tokens, "oversight", f"/api/v1/audit/children/{child}/access")
    assert response.status_code == 200
    assert viewers(response) == {world.users["caseworker"].username,
                                 world.users["social_worker"].username}
    item = response.get_json()["items"][-1]
    assert item["purpose"] == "screening" and item["outcome"] == "allowed"


def test_a_supervisor_sees_only_their_own_agencys_staff(client, tokens, world, child):
    response = get(client, tokens, "supervisor", f"/api/v1/audit/children/{child}/access")
    assert response.status_code == 200
    assert viewers(response) == {world.users["caseworker"].username}


def test_reading_a_report_is_recorded_and_shows_in_the_next_one(client, tokens, world, child,
                                                                admin_conn):
    get(client, tokens, "oversight", f"/api/v1/audit/children/{child}/access")
    reads = events(admin_conn, child_id=child, action="audit_report_viewed")
    assert [(r["actor_user_id"], r["details"]["report"], r["details"]["rows"]) for r in reads] == [
        (world.users["oversight"].id, "child_access", 2)]
    again = get(client, tokens, "oversight", f"/api/v1/audit/children/{child}/access")
    assert "audit_report_viewed" in {i["action"] for i in again.get_json()["items"]}


def test_the_access_report_downloads_as_csv_and_is_recorded_as_an_export(client, tokens, world,
                                                                         child, admin_conn):
    response = get(client, tokens, "oversight",
                   f"/api/v1/audit/children/{child}/access?format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert {r["username"] for r in rows} == {world.users["caseworker"].username,
                                             world.users["social_worker"].username}
    assert [r["details"]["format"] for r in events(admin_conn, child_id=child, action="export")] == ["csv"]


@pytest.mark.parametrize("who", ["caseworker", "agency_admin", "system_admin", "council"])
def test_everyone_else_is_refused_and_the_refusal_is_recorded(client, tokens, world, child, who,
                                                              admin_conn):
    response = get(client, tokens, who, f"/api/v1/audit/children/{child}/access")
    assert response.status_code == 403
    refused = events(admin_conn, child_id=child, action="access_denied")
    assert [(r["actor_user_id"], r["outcome"], r["details"]["attempted"]) for r in refused] == [
        (world.users[who].id, "denied", "audit_report_viewed")]


def test_an_anonymous_caller_must_authenticate(client, child):
    assert client.get(f"/api/v1/audit/children/{child}/access").status_code == 401


def test_a_supervisor_reads_their_staffs_actions_but_not_other_agencies(client, tokens, world,
                                                                        child, admin_conn):
    own = get(client, tokens, "supervisor",
              f"/api/v1/audit/users/{world.users['caseworker'].id}/actions")
    assert own.status_code == 200
    assert child in {i["child_id"] for i in own.get_json()["items"]}
    other = world.users["social_worker"].id
    refused = get(client, tokens, "supervisor", f"/api/v1/audit/users/{other}/actions")
    assert refused.status_code == 404
    assert events(admin_conn, action="access_denied", object_type="user", object_id=str(other),
                  actor_user_id=world.users["supervisor"].id)
    missing = get(client, tokens, "supervisor", "/api/v1/audit/users/999999999/actions")
    assert missing.status_code == 404 and missing.get_json()["title"] == refused.get_json()["title"]


def test_oversight_reads_any_actions_in_its_region(client, tokens, world, child):
    response = get(client, tokens, "oversight",
                   f"/api/v1/audit/users/{world.users['social_worker'].id}/actions")
    assert response.status_code == 200
    assert child in {i["child_id"] for i in response.get_json()["items"]}


def test_denied_attempts_are_listed_for_the_region_and_not_beyond(app, client, tokens, world,
                                                                  child, admin_conn):
    from tests.factories import SYSTEM, make_agency, make_region, make_user

    get(client, tokens, "caseworker", f"/api/v1/audit/children/{child}/access")
    refusal = events(admin_conn, child_id=child, action="access_denied")[-1]["id"]
    for who in ("oversight", "supervisor"):
        listed = get(client, tokens, who, "/api/v1/audit/denied").get_json()["items"]
        assert refusal in {i["event_id"] for i in listed}, who
    with app.app_context(), transaction(SYSTEM) as conn:
        code, _ = make_region(conn)
        outsider = make_user(conn, make_agency(conn, code, "prosecutor").id, ["oversight"])
    foreign = token_for(client, outsider)
    listed = client.get("/api/v1/audit/denied", headers=bearer(foreign)).get_json()["items"]
    assert refusal not in {i["event_id"] for i in listed}


def test_the_time_range_bounds_the_report_and_needs_an_offset(client, tokens, child):
    path = f"/api/v1/audit/children/{child}/access"
    past = get(client, tokens, "oversight", path + "?until=2000-01-01T00:00:00Z")
    assert past.status_code == 200 and past.get_json()["items"] == []
    naive = get(client, tokens, "oversight", path + "?since=2000-01-01T00:00:00")
    assert naive.status_code == 422 and naive.get_json()["field"] == "since"
