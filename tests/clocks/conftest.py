"""Fixtures for the clocks tests: a region with a full ladder of people, a controllable clock,
and helpers to start clocks and sweep at a chosen instant."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from audit import Actor
from services import clock
from services.clocks import actions, sweep
from services.db import transaction
from tests.factories import make_agency, make_region, make_user

AQTAU = ZoneInfo("Asia/Aqtau")
SYSTEM = Actor.system("tests")


def local(*args) -> datetime:
    """An instant given in Aqtau local time."""
    return datetime(*args, tzinfo=AQTAU)


@dataclass
class ClockWorld:
    region_code: str
    region_id: int
    agency_id: int  # social services: owns the clocks
    other_agency_id: int  # a school
    prosecutor_id: int
    users: dict = field(default_factory=dict)

    def actor(self, name: str) -> Actor:
        """The user as an ``audit.Actor`` (what the web layer builds after sign-in)."""
        u = self.users[name]
        return Actor(user_id=u.id, agency_id=u.agency_id, roles=frozenset(u.roles),
                     username=u.username, region_id=self.region_id, mfa=True)


def make_clock_world() -> ClockWorld:
    """Social services with two caseworkers, two supervisors and a head; a school; a clinic that
    takes part in nothing; oversight and the system admin at the prosecutor's office."""
    with transaction(SYSTEM) as conn:
        code, region_id = make_region(conn)
        social = make_agency(conn, code, "social_services")
        school = make_agency(conn, code, "school")
        prosecutor = make_agency(conn, code, "prosecutor")
        world = ClockWorld(code, region_id, social.id, school.id, prosecutor.id)
        world.users["worker"] = make_user(conn, social.id, ["caseworker"])
        world.users["worker2"] = make_user(conn, social.id, ["caseworker"])
        world.users["supervisor"] = make_user(conn, social.id, ["supervisor"], email="sup@example.kz",
                                              preferred_language="kk")
        world.users["supervisor2"] = make_user(conn, social.id, ["supervisor"])
        world.users["head"] = make_user(conn, social.id, ["supervisor"], email="head@example.kz",
                                        preferred_language="en")
        world.users["oversight"] = make_user(conn, prosecutor.id, ["oversight"],
                                             email="prosecutor@example.kz")
        world.users["teacher"] = make_user(conn, school.id, ["caseworker"])
        world.users["school_supervisor"] = make_user(conn, school.id, ["supervisor"])
        world.users["sysadmin"] = make_user(conn, prosecutor.id, ["system_admin"])
        outsider = make_agency(conn, code, "health")
        world.users["outsider"] = make_user(conn, outsider.id, ["caseworker"])
        conn.execute("INSERT INTO agency_heads (agency_id, user_id) VALUES (%s, %s)",
                     (social.id, world.users["head"].id))
    return world


@pytest.fixture(scope="session")
def cw(app) -> ClockWorld:
    """A region with everyone a clock's ladder needs, shared by the session's tests.

    Creating its users costs seconds (argon2id), so tests share it and keep apart by starting
    their own clocks on subject ids nobody else uses; a test that changes the world itself or
    counts across the region asks for ``fresh_cw``.
    """
    with app.app_context():
        return make_clock_world()


@pytest.fixture
def fresh_cw(app) -> ClockWorld:
    """A region of this test's own (see ``cw``)."""
    with app.app_context():
        return make_clock_world()


@pytest.fixture
def ctx(app):
    """An application context for calling actions directly."""
    with app.app_context():
        yield


@pytest.fixture
def db(app):
    """The app's database pool (``transaction(actor)`` lives on it)."""
    return app.extensions["qorgau_db"]


@pytest.fixture(autouse=True)
def running_clock():
    """Every test starts and ends with the real clock running."""
    clock.set_now(None)
    yield
    clock.set_now(None)


_subject_ids = iter(range(10_000_000, 10**12))


def new_subject_id() -> int:
    """A subject id no other test uses (clocks point at their subject by id only)."""
    return next(_subject_ids)


def start(cw: ClockWorld, *, kind: str, priority: str, at: datetime, subject_type: str = "referral",
          subject_id: int | None = None, assignee: str | None = "worker", child_id: int | None = None) -> int:
    """Start a clock owned by the world's social services, as Core's actions will."""
    with transaction(SYSTEM) as conn:
        return actions.start_clock(
            conn, actor=SYSTEM, kind=kind, subject_type=subject_type,
            subject_id=subject_id or new_subject_id(), child_id=child_id,
            region_id=cw.region_id, agency_id=cw.agency_id,
            assignee_user_id=cw.users[assignee].id if assignee else None, priority=priority,
            started_at=at)


def sweep_at(db, at: datetime) -> sweep.SweepResult:
    """Run the sweep as beat would, at ``at``."""
    return sweep.sweep(db, now=at)


def steps_of(admin_conn, clock_id: int) -> list[tuple]:
    """The ladder steps taken for a clock: (step, repeat_no, scheduled_at)."""
    return [(r["step"], r["repeat_no"], r["scheduled_at"]) for r in admin_conn.execute(
        "SELECT step, repeat_no, scheduled_at FROM clock_steps WHERE clock_id = %s ORDER BY id",
        (clock_id,))]


def clock_row(admin_conn, clock_id: int) -> dict:
    return admin_conn.execute("SELECT * FROM clocks WHERE id = %s", (clock_id,)).fetchone()


def api(client, cw: ClockWorld, name: str):
    """A JSON client for the world's user ``name`` (a Bearer token, no sign-in cost)."""
    from tests.case_factories import Api

    return Api(client, cw.users[name])


def make_case(admin_conn, cw: ClockWorld, *, assigned: dict[str, str] | None = None):
    """A case led by social services with the school taking part, through Core's factory."""
    from types import SimpleNamespace

    from tests.case_factories import make_case as core_make_case
    from tests.factories import World

    world = World(cw.region_code, cw.region_id,
                  agencies={"social_services": SimpleNamespace(id=cw.agency_id),
                            "school": SimpleNamespace(id=cw.other_agency_id)},
                  users={"caseworker": cw.users["teacher"], **cw.users})
    return core_make_case(admin_conn, world, participants=("school",), assessments=(),
                          assigned=assigned or {"social_services": "worker", "school": "teacher"})
