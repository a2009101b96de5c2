"""Agency-system tokens: each API operation declares the scope a system needs, a system files a
referral in the name of a person of its agency and reads its agency's referrals' status, and
nothing else; every refusal is audited and changes nothing."""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from services.auth.tokens import AGENCY_SCOPES
from services.migrate import downgrade, upgrade
from tests.core_factories import (Api, assert_problem, create_child, key, make_core_world,
                                  referral_body, referrals_with)
from tests.platform.helpers import bearer, token_for

DECLARED = {  # (method, path) -> the scope a system token needs ("" = any system token)
    ("get", "/api/v1/me"): "",
    ("post", "/api/v1/referrals"): "referrals:write",
    ("get", "/api/v1/referrals/{referral_id}/status"): "referrals:read",
}


@pytest.fixture(scope="module")
def core(app):
    with app.app_context():
        return make_core_world()


@pytest.fixture(scope="module")
def admin_api(app, core):
    return Api(app.test_client(), core.users["agency_admin"])


@pytest.fixture(scope="module")
def person(app, core):
    return Api(app.test_client(), core.users["caseworker"])


def issue(admin_api, agency_id: int, scopes: list[str], **extra) -> tuple[str, int]:
    made = admin_api.post(f"/api/v1/agencies/{agency_id}/tokens",
                          json={"name": "School journal", "scopes": scopes, **extra})
    assert made.status_code == 201, made.get_json()
    return made.get_json()["token"], made.get_json()["id"]


@pytest.fixture(scope="module")
def system(admin_api, core):
    """A token of the school's journal holding every scope there is."""
    raw, token_id = issue(admin_api, core.agencies["school"].id, list(AGENCY_SCOPES))
    return {"token": raw, "id": token_id, "headers": bearer(raw)}


@pytest.fixture
def mark(admin_conn) -> int:
    return admin_conn.execute("SELECT coalesce(max(id), 0) AS id FROM audit.events").fetchone()["id"]


def system_events(admin_conn, token_id: int, since: int) -> list[dict]:
    return admin_conn.execute(
        "SELECT action, outcome, actor_kind, actor_user_id, actor_agency_id, actor_roles, object_type,"
        " object_id, session_ref, auth_strength, details FROM audit.events"
        " WHERE id > %s AND session_ref = %s ORDER BY id", (since, f"token:{token_id}")).fetchall()


def for_person(core, child_id: int, **overrides) -> dict:
    body = referral_body([child_id], [core.agencies["social_services"].id], submit=True,
                         on_behalf_of=core.users["caseworker"].username)
    body.update(overrides)
    return body


# --- the declaration --------------------------------------------------------------------------

def test_the_document_lists_what_a_system_token_may_call_and_with_which_scope(client):
    doc = client.get("/api/openapi.json").get_json()
    assert set(doc["components"]["securitySchemes"]) == {"bearer", "agencySystem"}
    seen = {}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if op["security"] == []:
                continue  # public: no token at all
            assert {"bearer": []} in op["security"], op["operationId"]
            assert "x-agency-system-scope" in op, op["operationId"]
            system = [r["agencySystem"] for r in op["security"] if "agencySystem" in r]
            if system:
                seen[(method, path)] = "".join(system[0])
                assert op["x-agency-system-scope"] == (system[0][0] if system[0] else "any")
            else:
                assert op["x-agency-system-scope"] is None
    assert seen == DECLARED


def test_every_api_route_is_an_operation(app):
    """A route under /api/v1 without ``operation`` would be refused to systems by default; the
    document would not list it, so none may exist."""
    bare = [r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/api/v1")
            and not hasattr(app.view_functions[r.endpoint], "qorgau_operation")]
    assert bare == []


def test_a_token_with_every_scope_reaches_only_the_declared_operations(client, system, admin_conn,
                                                                        mark):
    doc = client.get("/api/openapi.json").get_json()
    refused = 0
    for path, item in doc["paths"].items():
        url = re.sub(r"\{[^}]+\}", "987654321", path)
        for method, op in item.items():
            if op["security"] == []:
                continue
            kwargs = {"json": {}} if method in ("post", "put", "patch") else {}
            response = getattr(client, method)(url, headers=system["headers"], **kwargs)
            body = response.get_json(silent=True) or {}
            if (method, path) in DECLARED:
                assert body.get("field") != "scope", (method, path, body)
                assert response.status_code in (200, 404, 422), (method, path, body)
                continue
            assert response.status_code == 403, (method, path, body)
            assert body["field"] == "scope" and body["required_scope"] is None, body
            refused += 1
    assert refused > 60
    denials = [e for e in system_events(admin_conn, system["id"], mark)
               if e["outcome"] == "denied" and e["object_type"] == "api_operation"]
    assert len(denials) == refused
    assert {(e["action"], e["object_type"], e["actor_kind"], e["details"]["reason"])
            for e in denials} == {("access_denied", "api_operation", "agency_system", "scope")}


def test_a_token_without_the_scope_is_told_which_one_it_needs(admin_api, core, client, admin_conn,
                                                              mark):
    raw, token_id = issue(admin_api, core.agencies["school"].id, ["referrals:write"])
    refused = client.get("/api/v1/referrals/1/status", headers=bearer(raw))
    body = assert_problem(refused, 403, "scope")
    assert body["required_scope"] == "referrals:read" and "referrals:read" in body["detail"]
    raw, token_id = issue(admin_api, core.agencies["school"].id, ["referrals:read"])
    observation = f"never filed {uuid.uuid4().hex}"
    refused = client.post("/api/v1/referrals", headers=bearer(raw),
                          json={**for_person(core, 1), "observation": observation})
    assert assert_problem(refused, 403, "scope")["required_scope"] == "referrals:write"
    assert referrals_with(admin_conn, observation) == 0
    [denial] = system_events(admin_conn, token_id, mark)
    assert denial["outcome"] == "denied" and denial["details"] == {
        "reason": "scope", "needed_scope": "referrals:write", "method": "POST"}
    assert denial["actor_agency_id"] == core.agencies["school"].id
    assert denial["actor_user_id"] is None and denial["actor_roles"] == ["scope:referrals:read"]


# --- the catalogue ----------------------------------------------------------------------------

@pytest.mark.parametrize("scopes", [["children:read"], ["notifications:read"], []])
def test_withdrawn_or_no_scopes_are_refused(admin_api, core, scopes):
    response = admin_api.post(f"/api/v1/agencies/{core.agencies['school'].id}/tokens",
                              json={"name": "Journal", "scopes": scopes})
    assert_problem(response, 422, "scopes.0" if scopes else "scopes")


def test_an_expiry_in_the_past_is_refused(admin_api, core, admin_conn):
    before = admin_conn.execute("SELECT count(*) AS n FROM api_tokens").fetchone()["n"]
    past = (datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat()
    assert_problem(admin_api.post(f"/api/v1/agencies/{core.agencies['school'].id}/tokens",
                                  json={"name": "Journal", "scopes": ["referrals:read"],
                                        "expires_at": past}), 422, "expires_at")
    assert admin_conn.execute("SELECT count(*) AS n FROM api_tokens").fetchone()["n"] == before


def test_the_agency_admin_lists_the_agencys_tokens_and_no_one_elses(admin_api, app, core,
                                                                     system):
    listed = admin_api.get(f"/api/v1/agencies/{core.agencies['school'].id}/tokens")
    assert listed.status_code == 200
    mine = [t for t in listed.get_json()["items"] if t["id"] == system["id"]]
    assert mine and mine[0]["scopes"] == sorted(AGENCY_SCOPES) and mine[0]["revoked_at"] is None
    assert system["token"] not in listed.get_data(as_text=True)
    assert "hash" not in listed.get_data(as_text=True)
    other = Api(app.test_client(), core.users["social_admin"])
    assert_problem(other.get(f"/api/v1/agencies/{core.agencies['school'].id}/tokens"), 404)


def test_the_table_refuses_a_scope_outside_the_catalogue(admin_conn, core):
    with pytest.raises(psycopg.errors.CheckViolation):
        admin_conn.execute("INSERT INTO api_tokens (token_hash, kind, agency_id, name, scopes)"
                           " VALUES (%s, 'agency_system', %s, 'x', '{children:read}')",
                           (uuid.uuid4().bytes, core.agencies["school"].id))


def test_the_migration_withdraws_the_old_scopes_from_stored_tokens(fresh_db_url):
    downgrade(fresh_db_url, "0010_merge")  # the revision 0011_agency_systems grew from
    with psycopg.connect(fresh_db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO regions (code, name) VALUES ('rr', 'R')")
        conn.execute("INSERT INTO agencies (code, name, kind, region_id)"
                     " SELECT 'aa', 'A', 'school', id FROM regions WHERE code = 'rr'")
        for name, scopes in (("both", "{children:read,referrals:write}"),
                             ("dead", "{notifications:read,children:read}")):
            conn.execute("INSERT INTO api_tokens (token_hash, kind, agency_id, name, scopes)"
                         " SELECT %s, 'agency_system', id, %s, %s FROM agencies WHERE code = 'aa'",
                         (uuid.uuid4().bytes, name, scopes))
    upgrade(fresh_db_url, "0011_agency_systems")
    with psycopg.connect(fresh_db_url) as conn:
        rows = {name: (scopes, revoked) for name, scopes, revoked in conn.execute(
            "SELECT name, scopes, revoked_at IS NOT NULL FROM api_tokens").fetchall()}
    assert rows == {"both": (["referrals:write"], False), "dead": ([], True)}


# --- referrals:write --------------------------------------------------------------------------

def test_a_system_files_and_submits_in_a_persons_name(client, core, person, system, admin_conn,
                                                      mark):
    child = create_child(person)
    body = for_person(core, child["id"])
    headers = {**system["headers"], **key()}
    response = client.post("/api/v1/referrals", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    filed = response.get_json()
    assert set(filed) == {"id", "version", "state", "priority", "categories"}
    assert filed["state"] == "submitted" and filed["version"] == 1

    again = client.post("/api/v1/referrals", json=body, headers=headers)
    assert again.status_code == 201 and again.get_json() == filed
    assert again.headers["Idempotent-Replayed"] == "true"
    assert referrals_with(admin_conn, body["observation"]) == 1

    teacher = core.users["caseworker"]
    row = admin_conn.execute(
        "SELECT r.created_by, r.referring_agency_id, r.state, rr.user_id AS referrer"
        " FROM referrals r JOIN referral_referrers rr ON rr.referral_id = r.id WHERE r.id = %s",
        (filed["id"],)).fetchone()
    assert row == {"created_by": teacher.id, "referring_agency_id": core.agencies["school"].id,
                   "state": "submitted", "referrer": teacher.id}
    clocks = admin_conn.execute("SELECT kind, agency_id FROM clocks WHERE subject_type = 'referral'"
                                " AND subject_id = %s", (filed["id"],)).fetchall()
    assert {(c["kind"], c["agency_id"]) for c in clocks} == {
        ("screening_decision", core.agencies["social_services"].id)}
    topics = admin_conn.execute("SELECT topic, payload FROM outbox WHERE payload->>'referral_id' = %s"
                                " ORDER BY id", (str(filed["id"]),)).fetchall()
    told = [t["payload"] for t in topics if t["topic"] == "referral.filed_in_your_name"]
    assert told == [{"referral_id": filed["id"], "user_ids": [teacher.id], "submitted": True}]
    assert "referral.received" in {t["topic"] for t in topics}

    events = system_events(admin_conn, system["id"], mark)
    actions = [e["action"] for e in events]
    assert "referral_drafted" in actions and "referral_submitted" in actions
    for e in events:
        assert e["actor_kind"] == "agency_system" and e["actor_user_id"] == teacher.id
        assert e["actor_roles"] == ["caseworker"] and e["auth_strength"] == "token"
        assert e["outcome"] == "allowed"

    # The person reads what was filed in their name, as its referrer.
    mine = person.get(f"/api/v1/referrals/{filed['id']}").get_json()
    assert mine["observation"] == body["observation"] and mine["referrer_restricted"] is False


def test_the_person_is_notified_in_their_list(app, client, core, person, system, admin_conn):
    from services.notifications import delivery

    child = create_child(person)
    filed = client.post("/api/v1/referrals", json=for_person(core, child["id"]),
                        headers=system["headers"]).get_json()
    [row] = admin_conn.execute("SELECT id FROM outbox WHERE topic = 'referral.filed_in_your_name'"
                               " AND payload->>'referral_id' = %s", (str(filed["id"]),)).fetchall()
    with app.app_context():
        assert delivery.deliver(app.extensions["qorgau_db"], row["id"], smtp_url=None,
                                mail_from="qorgau@localhost", base_url="http://localhost") == "delivered"
    listed = person.get("/api/v1/notifications").get_json()["items"]
    mine = [n for n in listed if n.get("subject_id") == filed["id"]
            and n.get("kind") == "referral.filed_in_your_name"]
    assert len(mine) == 1, listed
    assert mine[0]["subject_type"] == "referral"


def test_a_draft_in_a_persons_name_is_theirs_to_finish(client, core, person, system, admin_conn):
    child = create_child(person)
    body = for_person(core, child["id"], submit=False)
    filed = client.post("/api/v1/referrals", json=body, headers=system["headers"]).get_json()
    assert filed["state"] == "draft"
    submitted = person.post(f"/api/v1/referrals/{filed['id']}/submit", headers=key())
    assert submitted.status_code == 200 and submitted.get_json()["state"] == "submitted"
    # The system cannot touch the draft: its scope covers filing only.
    assert_problem(client.post(f"/api/v1/referrals/{filed['id']}/submit", headers=system["headers"]),
                   403, "scope")


@pytest.mark.parametrize("who", ["unknown", "other_agency", "disabled", "admin", "missing", "empty"])
def test_on_behalf_of_must_be_an_enabled_practitioner_of_the_agency(client, core, person, system,
                                                                    admin_conn, who, mark):
    child = create_child(person)
    names = {"unknown": f"nobody.{uuid.uuid4().hex[:8]}",
             "other_agency": core.users["social_worker"].username,
             "admin": core.users["agency_admin"].username, "empty": ""}
    if who == "disabled":
        from tests.factories import make_user
        from services.db import transaction
        from tests.factories import SYSTEM
        with client.application.app_context(), transaction(SYSTEM) as conn:
            gone = make_user(conn, core.agencies["school"].id, ["caseworker"])
        admin_conn.execute("UPDATE users SET disabled_at = now() WHERE id = %s", (gone.id,))
        names["disabled"] = gone.username
    body = for_person(core, child["id"])
    if who == "missing":
        del body["on_behalf_of"]
    else:
        body["on_behalf_of"] = names[who]
    before = admin_conn.execute("SELECT count(*) AS n FROM outbox").fetchone()["n"]
    response = client.post("/api/v1/referrals", json=body, headers={**system["headers"], **key()})
    assert_problem(response, 422, "on_behalf_of")
    assert referrals_with(admin_conn, body["observation"]) == 0
    assert admin_conn.execute("SELECT count(*) AS n FROM outbox").fetchone()["n"] == before
    if who in ("unknown", "other_agency"):
        assert response.get_json()["detail"] == "No caseworker or supervisor of your agency has this user name."
        [denial] = system_events(admin_conn, system["id"], mark)
        assert denial["outcome"] == "denied" and denial["details"]["reason"] == "on_behalf_of_not_staff"


def test_a_person_does_not_name_on_behalf_of(person, core, admin_conn):
    child = create_child(person)
    body = for_person(core, child["id"], on_behalf_of=core.users["supervisor"].username)
    assert_problem(person.post("/api/v1/referrals", json=body), 422, "on_behalf_of")
    assert referrals_with(admin_conn, body["observation"]) == 0


def test_the_persons_rights_still_apply(client, core, person, system, admin_conn):
    """A child the person may not read is refused as it is to the person (row-level security and
    the policy judge the filing as theirs), and its own agency is no recipient."""
    other = Api(client.application.test_client(), core.users["social_worker"])
    stranger = create_child(other)
    body = for_person(core, stranger["id"])
    assert_problem(client.post("/api/v1/referrals", json=body, headers=system["headers"]),
                   422, "children.0.child_id")
    mine = create_child(person)
    body = for_person(core, mine["id"], receiving_agency_ids=[core.agencies["school"].id])
    assert_problem(client.post("/api/v1/referrals", json=body, headers=system["headers"]),
                   422, "receiving_agency_ids")
    assert referrals_with(admin_conn, body["observation"]) == 0


@pytest.mark.parametrize("how", ["revoked", "expired"])
def test_a_dead_token_files_nothing(client, admin_api, core, person, admin_conn, how):
    raw, token_id = issue(admin_api, core.agencies["school"].id, ["referrals:write"])
    if how == "revoked":
        assert admin_api.delete(f"/api/v1/agencies/{core.agencies['school'].id}/tokens/{token_id}").status_code == 204
    else:
        admin_conn.execute("UPDATE api_tokens SET expires_at = now() - interval '1 second'"
                           " WHERE id = %s", (token_id,))
    child = create_child(person)
    body = for_person(core, child["id"])
    assert_problem(client.post("/api/v1/referrals", json=body, headers=bearer(raw)), 401,
                   "Authorization")
    assert referrals_with(admin_conn, body["observation"]) == 0


# --- referrals:read ---------------------------------------------------------------------------

def test_a_system_reads_the_status_of_its_agencys_referrals_only(client, app, core, person, system,
                                                                 admin_conn, mark):
    child = create_child(person)
    by_person = person.post("/api/v1/referrals", json={
        **referral_body([child["id"]], [core.agencies["social_services"].id]), "submit": True},
        headers=key()).get_json()
    status = client.get(f"/api/v1/referrals/{by_person['id']}/status", headers=system["headers"])
    assert status.status_code == 200, status.get_json()
    assert status.get_json()["state"] == "submitted"
    assert [u["status"] for u in status.get_json()["updates"]] == ["received"]
    assert set(status.get_json()) == {"id", "state", "updates"}
    # The content is a person's to read, never the system's.
    assert_problem(client.get(f"/api/v1/referrals/{by_person['id']}", headers=system["headers"]),
                   403, "scope")

    other = Api(app.test_client(), core.users["outsider"])
    theirs_child = create_child(other)
    theirs = other.post("/api/v1/referrals", json={
        **referral_body([theirs_child["id"]], [core.agencies["social_services"].id]), "submit": True},
        headers=key()).get_json()
    assert_problem(client.get(f"/api/v1/referrals/{theirs['id']}/status", headers=system["headers"]), 404)

    events = system_events(admin_conn, system["id"], mark)
    viewed = [e for e in events if e["action"] == "referral_status_viewed"]
    assert [(e["object_id"], e["actor_user_id"], e["actor_kind"]) for e in viewed] == [
        (str(by_person["id"]), None, "agency_system")]
    denied = [e for e in events if e["action"] == "access_denied" and e["object_type"] == "referral"]
    assert [(e["object_id"], e["details"]["attempted"]) for e in denied] == [
        (str(theirs["id"]), "referral_status_viewed")]


def test_row_level_security_shows_the_system_its_agencys_updates_only(app, core, person, system,
                                                                      admin_conn):
    """PostgreSQL decides again: as the application role with the system's identity, the status
    updates of the agency's referrals are readable and no others, and no referral content."""
    from audit import Actor
    from services.db import transaction

    child = create_child(person)
    person.post("/api/v1/referrals", json={
        **referral_body([child["id"]], [core.agencies["social_services"].id]), "submit": True},
        headers=key())
    school = core.agencies["school"].id
    actor = Actor(user_id=None, agency_id=school, roles=frozenset({"scope:referrals:read"}),
                  region_id=core.region_id, kind="agency_system")
    writer = Actor(user_id=None, agency_id=school, roles=frozenset({"scope:referrals:write"}),
                   region_id=core.region_id, kind="agency_system")
    with app.app_context():
        with transaction(actor) as conn:
            agencies = {r["referring_agency_id"] for r in
                        conn.execute("SELECT referring_agency_id FROM referrer_updates").fetchall()}
            content = conn.execute("SELECT count(*) AS n FROM referrals").fetchone()["n"]
            children = conn.execute("SELECT count(*) AS n FROM children").fetchone()["n"]
        with transaction(writer) as conn:
            unscoped = conn.execute("SELECT count(*) AS n FROM referrer_updates").fetchone()["n"]
    assert agencies == {school}
    assert content == 0 and children == 0 and unscoped == 0


def test_a_persons_emergency_grant_does_not_travel_with_their_agency_system():
    """Break-glass access is the holder's own: a system filing in their name cannot name a child
    it opened (the application refuses what row-level security, seeing the person, would allow)."""
    from audit import Actor
    from services import policy

    child = policy.ChildFacts(child_id=7, region_id=1, created_by_agency_id=99, cases=(), referrals=())
    grants = policy.Grants(frozenset({7}))
    person = Actor(user_id=5, agency_id=3, roles=frozenset({"caseworker"}), region_id=1)
    system = Actor(user_id=5, agency_id=3, roles=frozenset({"caseworker"}), region_id=1,
                   kind="agency_system")
    assert policy.can_child(person, child, grants)
    assert not policy.can_child(system, child, grants)
    assert policy.is_practitioner(system)
    assert not policy.is_practitioner(Actor(user_id=None, agency_id=3, kind="agency_system",
                                            roles=frozenset({"scope:referrals:write"})))
