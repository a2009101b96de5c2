"""Plain functions that build Core test data through the HTTP API, as an agency's system would."""
from __future__ import annotations

import random
import string
import threading
import uuid
from datetime import date, datetime, timedelta, timezone

from services.children.iin import iter_iins
from services.db import transaction
from tests.factories import SYSTEM, World, make_agency, make_user, make_world
from tests.platform.helpers import bearer, token_for

_random = random.Random()


class Api:
    """One signed-in user's JSON client (a Bearer token, fetched once)."""

    def __init__(self, client, user):
        self.client = client
        self.user = user
        self.headers = bearer(token_for(client, user))

    def get(self, path, **kw):
        return self.client.get(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def post(self, path, json=None, **kw):
        return self.client.post(path, json=json, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def patch(self, path, json=None, **kw):
        return self.client.patch(path, json=json, headers={**self.headers, **kw.pop("headers", {})}, **kw)

    def delete(self, path, **kw):
        return self.client.delete(path, headers={**self.headers, **kw.pop("headers", {})}, **kw)


def make_core_world() -> World:
    """``make_world`` plus the agencies and people screening needs, and an agency outside it all.

    Users: caseworker/supervisor (school, the referrer), social_worker, social_worker2 and
    social_supervisor (social services), police_worker and police_supervisor (police),
    health_worker (clinic), outsider (another school), plus the admin and oversight roles.
    """
    world = make_world()
    with transaction(SYSTEM) as conn:
        for name, kind in (("health", "health"), ("psychology", "psychology"), ("other_school", "school")):
            world.agencies[name] = make_agency(conn, world.region_code, kind)
        social = world.agencies["social_services"].id
        police = world.agencies["police"].id
        world.users["social_worker2"] = make_user(conn, social, ["caseworker"])
        world.users["social_supervisor"] = make_user(conn, social, ["supervisor"])
        world.users["police_worker"] = make_user(conn, police, ["caseworker"])
        world.users["police_supervisor"] = make_user(conn, police, ["supervisor"])
        world.users["health_worker"] = make_user(conn, world.agencies["health"].id, ["caseworker"])
        world.users["outsider"] = make_user(conn, world.agencies["other_school"].id, ["caseworker"])
    return world


def random_name(length: int = 9) -> str:
    """A name no other test will produce by chance (duplicate detection compares names)."""
    return _random.choice(string.ascii_uppercase) + "".join(
        _random.choice("bcdfghjklmnprstvz" + "aeiou") for _ in range(length - 1))


def random_birthday() -> date:
    """A date of birth of a child of 1 to 16, different across tests on the shared database."""
    today = date.today()
    return today - timedelta(days=_random.randint(365, 16 * 365))


def fresh_iin(date_of_birth: date, sex: str = "F") -> str:
    """A valid IIN for the date and sex that no other test uses."""
    start = _random.randint(0, 9000)
    return next(iter_iins(date_of_birth, sex, start=start))


def child_body(**overrides) -> dict:
    body = {"last_name": random_name(), "first_name": random_name(6),
            "date_of_birth": random_birthday().isoformat(), "sex": "F"}
    body.update(overrides)
    return body


def create_child(api: Api, **overrides) -> dict:
    response = api.post("/api/v1/children", json=child_body(**overrides))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def key() -> dict:
    """A fresh Idempotency-Key header."""
    return {"Idempotency-Key": uuid.uuid4().hex}


def observed(hours_ago: float = 2) -> str:
    return (datetime.now(timezone.utc) - timedelta(hours=hours_ago)).isoformat()


def assert_problem(response, status: int, field: str | None = None) -> dict:
    """``response`` is an RFC 9457 problem with ``status``, naming ``field`` when given."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    if field is not None:
        assert body.get("field") == field, body
    return body


def audit_events(admin_conn, user, *, since: int, action: str | None = None) -> list[dict]:
    """The audit events of ``user`` after event ``since``, oldest first (optionally of one action)."""
    return admin_conn.execute(
        """SELECT action, outcome, actor_user_id, object_type, object_id, child_id, purpose, details
             FROM audit.events
            WHERE id > %s AND actor_user_id = %s AND (%s::text IS NULL OR action = %s)
            ORDER BY id""", (since, user.id, action, action)).fetchall()


def count(admin_conn, sql: str, *params) -> int:
    return admin_conn.execute(f"SELECT count(*) AS n FROM ({sql}) q", params).fetchone()["n"]


def referral_body(children: list[int], recipients: list[int], **overrides) -> dict:
    """A complete referral about ``children`` for ``recipients`` (observation text is unique)."""
    body = {"children": [{"child_id": c} for c in children], "categories": ["neglect"],
            "observed_at": observed(), "observed_place": "School canteen",
            "observation": f"Came to school hungry again; {uuid.uuid4().hex}",
            "risk": {"harm_suspected": True}, "receiving_agency_ids": recipients}
    body.update(overrides)
    return body


def file_referral(api: Api, children: list[int], recipients: list[int], *, submit: bool = True,
                  **overrides) -> dict:
    response = api.post("/api/v1/referrals", json={**referral_body(children, recipients, **overrides),
                                                   "submit": submit})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def referrals_with(admin_conn, observation: str) -> int:
    return count(admin_conn, "SELECT 1 FROM referrals WHERE observation = %s", observation)


def at_once(*calls) -> list:
    """Run the calls in threads released together; their results in the order given."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(i, call):
        barrier.wait()
        results[i] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
