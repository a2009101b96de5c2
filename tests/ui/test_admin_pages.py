"""Admin pages over HTTP: an agency admin manages their own users, and only theirs."""
from __future__ import annotations

import uuid

from tests.case_factories import audit_events


def test_an_agency_admin_creates_a_user_changes_roles_and_disables_them(page_as, cw, admin_conn):
    admin = page_as("agency_admin")
    school = cw.agencies["school"].id
    assert admin.get("/admin/users").headers["Location"].endswith(f"/admin/agencies/{school}/users")
    name = "new." + uuid.uuid4().hex[:6]
    created = admin.post(f"/admin/agencies/{school}/users", data={
        "username": name, "full_name": "New Worker", "password": "a long enough password",
        "roles": ["caseworker"], "preferred_language": "kk"})
    assert created.status_code == 302
    user_id = admin_conn.execute("SELECT id FROM users WHERE username = %s", (name,)).fetchone()["id"]
    assert admin.post(f"/admin/users/{user_id}/roles", data={"roles": ["caseworker", "supervisor"]}).status_code == 302
    assert admin.post(f"/admin/users/{user_id}/status", data={"status": "disabled"}).status_code == 302
    row = admin_conn.execute("SELECT disabled_at IS NOT NULL AS disabled FROM users WHERE id = %s",
                             (user_id,)).fetchone()
    assert row["disabled"]
    assert audit_events(admin_conn, "role_changed", object_id=user_id)


def test_bad_input_names_the_fields_and_creates_nobody(page_as, cw, admin_conn):
    admin = page_as("agency_admin")
    school = cw.agencies["school"].id
    before = admin_conn.execute("SELECT count(*) AS n FROM users").fetchone()["n"]
    refused = admin.post(f"/admin/agencies/{school}/users", data={
        "username": "No Spaces Allowed", "full_name": "", "password": "short", "roles": []})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    for field in ("username", "full_name", "password", "roles"):
        assert f'id="{field}-error"' in html, field
    assert admin_conn.execute("SELECT count(*) AS n FROM users").fetchone()["n"] == before
    taken = admin.post(f"/admin/agencies/{school}/users", data={
        "username": cw.users["caseworker"].username, "full_name": "Someone",
        "password": "a long enough password", "roles": ["caseworker"]})
    assert taken.status_code == 409 and 'id="username-error"' in taken.get_data(as_text=True)


def test_an_agency_admin_cannot_reach_another_agency_or_grant_system_admin(page_as, cw):
    admin = page_as("agency_admin")
    other = cw.agencies["social_services"].id
    assert admin.get(f"/admin/agencies/{other}/users").status_code == 404
    assert admin.get(f"/admin/users/{cw.users['social_worker'].id}").status_code == 404
    assert admin.post(f"/admin/users/{cw.users['caseworker2'].id}/roles",
                      data={"roles": ["system_admin"]}).status_code == 403
    assert admin.get("/admin/agencies").status_code == 403
    assert page_as("caseworker").get("/admin/agencies/1/users").status_code == 404


def test_the_system_admin_registers_an_agency_and_names_a_bad_region(page_as, cw):
    sysadmin = page_as("system_admin")
    code = "school-" + uuid.uuid4().hex[:6]
    made = sysadmin.post("/admin/agencies", data={"code": code, "name": "School 7", "kind": "school",
                                                  "region": cw.region_code, "district": "d1"})
    assert made.status_code == 302
    refused = sysadmin.post("/admin/agencies", data={"code": code + "x", "name": "School 8",
                                                     "kind": "school", "region": "nowhere"})
    assert refused.status_code == 422 and 'id="region-error"' in refused.get_data(as_text=True)
