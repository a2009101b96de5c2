"""Agencies and users: who may manage whom, and that every change and denial is audited."""
from __future__ import annotations

from tests.conftest import new_client
from tests.platform.helpers import bearer, sign_in, token_for
from tests.platform.test_api import assert_problem


def new_user_body(**overrides):
    body = {"username": "new.worker." + overrides.pop("suffix", "a"), "full_name": "New Worker",
            "password": "a long enough password", "roles": ["caseworker"], "preferred_language": "kk"}
    body.update(overrides)
    return body


def test_agency_admin_creates_a_user_in_their_own_agency(client, world, admin_conn):
    admin = world.users["agency_admin"]
    token = token_for(client, admin)
    agency_id = world.agencies["school"].id
    import uuid
    body = new_user_body(suffix=uuid.uuid4().hex[:6])
    response = client.post(f"/api/v1/agencies/{agency_id}/users", json=body, headers=bearer(token))
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["roles"] == ["caseworker"] and created["preferred_language"] == "kk"
    row = admin_conn.execute("SELECT count(*) AS n FROM audit.events WHERE action = 'user_created'"
                             " AND object_id = %s", (str(created["id"]),)).fetchone()
    assert row["n"] == 1
    listed = client.get(f"/api/v1/agencies/{agency_id}/users", headers=bearer(token)).get_json()
    assert created["username"] in [u["username"] for u in listed["items"]]
    assert "password" not in str(listed) and "totp" not in str(listed).replace("totp_enrolled", "")


def test_agency_admin_cannot_touch_another_agency(client, world, admin_conn):
    token = token_for(client, world.users["agency_admin"])
    other = world.agencies["social_services"].id
    before = admin_conn.execute("SELECT count(*) AS n FROM users WHERE agency_id = %s", (other,)).fetchone()["n"]
    assert_problem(client.post(f"/api/v1/agencies/{other}/users", json=new_user_body(suffix="x"),
                               headers=bearer(token)), 404)
    assert_problem(client.get(f"/api/v1/agencies/{other}/users", headers=bearer(token)), 404)
    social_worker = world.users["social_worker"].id
    assert_problem(client.patch(f"/api/v1/users/{social_worker}", json={"disabled": True},
                                headers=bearer(token)), 404)
    after = admin_conn.execute("SELECT count(*) AS n FROM users WHERE agency_id = %s", (other,)).fetchone()["n"]
    assert before == after
    denials = admin_conn.execute(
        "SELECT count(*) AS n FROM audit.events WHERE actor_user_id = %s AND outcome = 'denied'",
        (world.users["agency_admin"].id,)).fetchone()["n"]
    assert denials >= 3


def test_caseworker_cannot_manage_users(client, world):
    token = token_for(client, world.users["caseworker"])
    agency_id = world.agencies["school"].id
    assert_problem(client.post(f"/api/v1/agencies/{agency_id}/users", json=new_user_body(),
                               headers=bearer(token)), 404)


def test_agency_admin_cannot_grant_system_admin(client, world):
    token = token_for(client, world.users["agency_admin"])
    agency_id = world.agencies["school"].id
    assert_problem(client.post(f"/api/v1/agencies/{agency_id}/users",
                               json=new_user_body(roles=["system_admin"], suffix="sa"),
                               headers=bearer(token)), 403, "roles")


def test_system_admin_creates_agencies_and_others_cannot(client, world):
    import uuid
    body = {"code": "school-" + uuid.uuid4().hex[:6], "name": "School 99", "kind": "school",
            "region": world.region_code, "district": "d1"}
    assert_problem(client.post("/api/v1/agencies", json=body,
                               headers=bearer(token_for(client, world.users["agency_admin"]))), 403)
    token = token_for(client, world.users["system_admin"])
    created = client.post("/api/v1/agencies", json=body, headers=bearer(token))
    assert created.status_code == 201
    assert_problem(client.post("/api/v1/agencies", json=body, headers=bearer(token)), 409, "code")
    assert_problem(client.post("/api/v1/agencies", json={**body, "kind": "bank"}, headers=bearer(token)), 422, "kind")
    assert_problem(client.post("/api/v1/agencies", json={**body, "code": "x2", "region": "nowhere"},
                               headers=bearer(token)), 422, "region")


def test_role_change_ends_the_users_sessions(client, app, world):
    import uuid
    admin_token = token_for(client, world.users["agency_admin"])
    agency_id = world.agencies["school"].id
    body = new_user_body(suffix=uuid.uuid4().hex[:6])
    created = client.post(f"/api/v1/agencies/{agency_id}/users", json=body, headers=bearer(admin_token)).get_json()
    browser = new_client(app)
    from tests.factories import TestUser
    user = TestUser(created["id"], created["username"], agency_id, ["caseworker"], password=body["password"])
    sign_in(browser, user)
    assert browser.get("/").status_code == 200
    changed = client.patch(f"/api/v1/users/{user.id}", json={"roles": ["caseworker", "council"]},
                           headers=bearer(admin_token))
    assert changed.get_json()["roles"] == ["caseworker", "council"]
    assert browser.get("/").status_code == 302


def test_agency_system_token_is_scoped_and_revocable(client, world):
    token = token_for(client, world.users["agency_admin"])
    agency_id = world.agencies["school"].id
    assert_problem(client.post(f"/api/v1/agencies/{agency_id}/tokens", json={"name": "MIS", "scopes": ["root"]},
                               headers=bearer(token)), 422, "scopes.0")
    made = client.post(f"/api/v1/agencies/{agency_id}/tokens",
                       json={"name": "School MIS", "scopes": ["referrals:write"]}, headers=bearer(token))
    assert made.status_code == 201
    system_token = made.get_json()["token"]
    me = client.get("/api/v1/me", headers=bearer(system_token)).get_json()
    assert me["kind"] == "agency_system" and me["roles"] == ["scope:referrals:write"]
    revoked = client.delete(f"/api/v1/agencies/{agency_id}/tokens/{made.get_json()['id']}", headers=bearer(token))
    assert revoked.status_code == 204
    assert_problem(client.get("/api/v1/me", headers=bearer(system_token)), 401)


def test_system_admin_token_records_mfa(client, world):
    token = token_for(client, world.users["system_admin"])
    me = client.get("/api/v1/me", headers=bearer(token)).get_json()
    assert me["roles"] == ["system_admin"] and me["mfa"] is True
