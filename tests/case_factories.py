"""Plain functions that build case test data.

A case is written straight into the database as the superuser (a child, the accepted referral
it came from, the case, its agencies and its two assessments), so the case API can be tested on
its own; everything the tests then do to it goes through HTTP.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from audit import Actor
from services.auth import tokens
from services.db import transaction
from tests.factories import SYSTEM, World, make_agency, make_region, make_user, make_world


def make_case_world() -> World:
    """``make_world`` plus a second worker everywhere, health, and agencies outside the cases.

    Agencies: school, social_services, police, prosecutor, health, other_school, and
    ``far_school`` in another region. Users: caseworker, caseworker2, supervisor (school);
    social_worker, social_worker2, social_supervisor; police_worker, police_supervisor;
    health_worker, health_supervisor; outsider and outsider_supervisor (other_school);
    far_worker (far_school); oversight, far_oversight (the other region); admins and council.
    """
    world = make_world()
    with transaction(SYSTEM) as conn:
        for name, kind in (("health", "health"), ("other_school", "school")):
            world.agencies[name] = make_agency(conn, world.region_code, kind)
        far_code, _ = make_region(conn)
        world.agencies["far_school"] = make_agency(conn, far_code, "school")
        world.agencies["far_prosecutor"] = make_agency(conn, far_code, "prosecutor")
        a = {name: agency.id for name, agency in world.agencies.items()}
        for name, agency, roles in (
                ("caseworker2", "school", ["caseworker"]),
                ("social_worker2", "social_services", ["caseworker"]),
                ("social_supervisor", "social_services", ["supervisor"]),
                ("social_supervisor2", "social_services", ["supervisor"]),
                ("police_worker", "police", ["caseworker"]),
                ("police_supervisor", "police", ["supervisor"]),
                ("health_worker", "health", ["caseworker"]),
                ("health_supervisor", "health", ["supervisor"]),
                ("outsider", "other_school", ["caseworker"]),
                ("outsider_supervisor", "other_school", ["supervisor"]),
                ("far_worker", "far_school", ["caseworker"]),
                ("far_oversight", "far_prosecutor", ["oversight"])):
            world.users[name] = make_user(conn, a[agency], roles)
    return world


def issue_token(user) -> str:
    """A personal token for ``user`` as if they had signed in with their second factor."""
    with transaction(SYSTEM) as conn:
        raw, _, _ = tokens.issue_personal(conn, user.id, user.agency_id, minutes=120, mfa=True)
    return raw


class Api:
    """One user's JSON client: their Bearer token on every request."""

    def __init__(self, client, user):
        self.client = client
        self.user = user
        self.headers = {"Authorization": f"Bearer {issue_token(user)}"}

    def _h(self, kw):
        return {**self.headers, **kw.pop("headers", {})}

    def get(self, path, **kw):
        return self.client.get(path, headers=self._h(kw), **kw)

    def post(self, path, json=None, **kw):
        return self.client.post(path, json=json, headers=self._h(kw), **kw)

    def put(self, path, json=None, **kw):
        return self.client.put(path, json=json, headers=self._h(kw), **kw)

    def delete(self, path, **kw):
        return self.client.delete(path, headers=self._h(kw), **kw)


@dataclass
class CaseRef:
    id: int
    child_id: int
    referral_id: int
    assessment_ids: dict[str, int]


def make_child(admin_conn, world: World, *, agency: str = "school") -> int:
    name = uuid.uuid4().hex[:10]
    return admin_conn.execute(
        """INSERT INTO children (last_name, first_name, date_of_birth, sex, region_id, search_key,
                                 created_by_agency_id)
           VALUES (%s, 'Test', '2014-05-01', 'F', %s, %s, %s) RETURNING id""",
        (f"Child{name}", world.region_id, f"child{name} test", world.agencies[agency].id)).fetchone()["id"]


def make_case(admin_conn, world: World, *, lead: str = "social_services",
              participants: tuple[str, ...] = ("school", "police"), state: str = "open",
              priority: str = "standard", assigned: dict[str, str] | None = None,
              assessments: tuple[tuple[str, str], ...] = (("psychological", "social_services"),
                                                          ("legal", "police")),
              child_id: int | None = None, district: bool = True,
              opened_at: datetime | None = None) -> CaseRef:
    """A case opened from a school's referral, led by ``lead``, with ``participants`` taking part.

    ``assigned`` maps an agency name to the user name assigned for it; ``assessments`` are
    (kind, agency name) pairs, created ``assigned``.
    """
    a = {name: agency.id for name, agency in world.agencies.items()}
    referrer = world.users["caseworker"]
    child_id = child_id or make_child(admin_conn, world)
    district_id = admin_conn.execute("SELECT district_id FROM agencies WHERE id = %s",
                                     (a[lead],)).fetchone()["district_id"] if district else None
    referral_id = admin_conn.execute(
        """INSERT INTO referrals (state, priority, categories, observed_at, observation,
                                  referring_agency_id, region_id, created_by, submitted_at)
           VALUES ('accepted', %s, '{neglect}', now() - interval '2 days', 'Observed at school.',
                   %s, %s, %s, now() - interval '1 day') RETURNING id""",
        (priority, a["school"], world.region_id, referrer.id)).fetchone()["id"]
    admin_conn.execute("INSERT INTO referral_children (referral_id, child_id) VALUES (%s, %s)",
                       (referral_id, child_id))
    admin_conn.execute("INSERT INTO referral_recipients (referral_id, agency_id, status) VALUES (%s, %s, 'accepted')",
                       (referral_id, a[lead]))
    case_id = admin_conn.execute("SELECT nextval('cases_id_seq') AS id").fetchone()["id"]
    admin_conn.execute(
        """INSERT INTO cases (id, child_id, region_id, district_id, lead_agency_id, state, priority,
                              opened_at, closed_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, CASE WHEN %s = 'closed' THEN now() END)""",
        (case_id, child_id, world.region_id, district_id, a[lead], state, priority,
         opened_at or datetime.now(timezone.utc), state))
    admin_conn.execute("INSERT INTO case_referrals (case_id, referral_id) VALUES (%s, %s)",
                       (case_id, referral_id))
    assigned = assigned or {}
    for name in dict.fromkeys((lead, *participants)):
        user = world.users[assigned[name]].id if name in assigned else None
        admin_conn.execute(
            "INSERT INTO case_participants (case_id, agency_id, assigned_user_id) VALUES (%s, %s, %s)",
            (case_id, a[name], user))
    ids = {}
    for kind, agency in assessments:
        ids[kind] = admin_conn.execute(
            "INSERT INTO assessments (case_id, kind, agency_id) VALUES (%s, %s, %s) RETURNING id",
            (case_id, kind, a[agency])).fetchone()["id"]
    return CaseRef(case_id, child_id, referral_id, ids)


def finish_assessments(admin_conn, case: CaseRef) -> None:
    """Mark every assessment of the case completed, so that it may be closed."""
    admin_conn.execute("UPDATE assessments SET state = 'completed', outcome = 'support_needed',"
                       " completed_at = now() WHERE case_id = %s", (case.id,))


def audit_events(admin_conn, action: str, *, object_id=None, object_type: str | None = None,
                 actor: int | None = None, outcome: str | None = None,
                 since: datetime | None = None) -> list[dict]:
    """Audit events of ``action`` (newest last), narrowed by object, actor and outcome."""
    return admin_conn.execute(
        """SELECT action, outcome, actor_user_id, object_type, object_id, child_id, purpose, details
             FROM audit.events
            WHERE action = %s AND (%s::text IS NULL OR object_id = %s)
              AND (%s::text IS NULL OR object_type = %s)
              AND (%s::bigint IS NULL OR actor_user_id = %s)
              AND (%s::text IS NULL OR outcome = %s)
              AND (%s::timestamptz IS NULL OR occurred_at >= %s)
            ORDER BY id""",
        (action, None if object_id is None else str(object_id), None if object_id is None else str(object_id),
         object_type, object_type, actor, actor, outcome, outcome, since, since)).fetchall()


def an_hour_ago() -> datetime:
    return datetime.now(timezone.utc) - timedelta(hours=1)


def as_app_role(app, actor: Actor):
    """A transaction as the application role with ``actor`` set, to ask row-level security directly."""
    return app.extensions["qorgau_db"].transaction(actor)


def actor_of(user) -> Actor:
    """The acting identity of a test user, as a signed-in request would carry it."""
    from services.agencies import queries
    from services.auth.signin import actor_for

    with transaction(SYSTEM) as conn:
        return actor_for(queries.get_user(conn, user.id), mfa=True)


def grant_emergency_access(api_client, child_id: int, *, reason: str = "Child brought to our office "
                           "at night with injuries; need history now.") -> dict:
    """Ask for emergency access through the API (the user's own password re-entered)."""
    response = api_client.post("/api/v1/access-grants", json={
        "child_id": child_id, "reason": reason, "password": api_client.user.password})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def clocks_of(admin_conn, subject_type: str, subject_id: int) -> list[dict]:
    """The clocks of a subject, oldest first."""
    return admin_conn.execute("SELECT kind, agency_id, priority, due_at, stopped_at, stop_reason FROM clocks"
                              " WHERE subject_type = %s AND subject_id = %s ORDER BY id",
                              (subject_type, subject_id)).fetchall()
