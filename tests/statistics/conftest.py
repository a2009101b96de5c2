"""Fixtures for the statistics tests: a region of its own holding a small, known set of referrals
and clocks (written as the superuser), and per-user clients."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from services.agencies import actions as agency_actions
from services.db import transaction
from tests.case_factories import Api, make_case_world
from tests.factories import SYSTEM

# The period the known world lies in: ISO weeks 2026-W10 and 2026-W11.
START, END = "2026-03-02", "2026-03-15"
WEEK_10 = datetime(2026, 3, 3, 7, tzinfo=timezone.utc)  # Tuesday, noon in Asia/Aqtau
WEEK_11 = datetime(2026, 3, 10, 7, tzinfo=timezone.utc)


@pytest.fixture(scope="session")
def sw(app, admin_conn_session):
    """The world (``case_factories.make_case_world``, a second district ``d2``) and its figures:

    referrals (submitted, current versions) — week 10, d1: 7 neglect (standard; 5 accepted,
    2 screened out) and 3 physical abuse (urgent, accepted); week 11, d2: 6 neglect (standard,
    awaiting screening); plus a draft and one submitted before the period, neither counted.
    first_contact clocks started in week 10: standard after 10, 20, 30, 40, 50, 60 hours,
    urgent after 5 and 7, all on time; assessment clocks due in week 11: 3 met late, 1 open and
    overdue, 1 cancelled (not counted).
    """
    with app.app_context():
        world = make_case_world()
        with transaction(SYSTEM) as conn:
            agency_actions.create_district(conn, actor=SYSTEM, region_id=world.region_id,
                                           code="d2", name="District 2")
    conn = admin_conn_session
    districts = {r["code"]: r["id"] for r in conn.execute(
        "SELECT code, id FROM districts WHERE region_id = %s", (world.region_id,))}
    world.districts = districts
    school, referrer = world.agencies["school"].id, world.users["caseworker"].id

    def referral(category, priority, state, district, submitted):
        conn.execute(
            """INSERT INTO referrals (state, priority, categories, observed_at, observation,
                                      referring_agency_id, region_id, district_id, created_by, submitted_at)
               VALUES (%s, %s, ARRAY[%s], %s, 'Seen at school.', %s, %s, %s, %s, %s)""",
            (state, priority, category, submitted, school, world.region_id, districts[district],
             referrer, None if state == "draft" else submitted))

    for state in ["accepted"] * 5 + ["screened_out"] * 2:
        referral("neglect", "standard", state, "d1", WEEK_10)
    for _ in range(3):
        referral("physical_abuse", "urgent", "accepted", "d1", WEEK_10)
    for _ in range(6):
        referral("neglect", "standard", "submitted", "d2", WEEK_11)
    referral("neglect", "standard", "draft", "d1", WEEK_10)
    referral("neglect", "standard", "accepted", "d1", WEEK_10 - timedelta(days=30))

    social = world.agencies["social_services"].id
    policy = conn.execute("SELECT id FROM deadline_policies ORDER BY id LIMIT 1").fetchone()["id"]
    subject = iter(range(10_000_000, 10_001_000))

    def clock(kind, priority, started, due_hours, stopped_hours, reason="completed"):
        due = started + timedelta(hours=due_hours)
        conn.execute(
            """INSERT INTO clocks (kind, subject_type, subject_id, region_id, agency_id, priority,
                                   policy_id, amount, unit, started_at, due_at, reminder_at,
                                   level_2_at, level_3_at, stopped_at, stop_reason)
               VALUES (%s, 'case', %s, %s, %s, %s, %s, 1, 'hours', %s, %s, %s, %s, %s, %s, %s)""",
            (kind, next(subject), world.region_id, social, priority, policy, started, due, due, due,
             due, None if stopped_hours is None else started + timedelta(hours=stopped_hours),
             None if stopped_hours is None else reason))

    for hours in (10, 20, 30, 40, 50, 60):
        clock("first_contact", "standard", WEEK_10, 72, hours)
    for hours in (5, 7):
        clock("first_contact", "urgent", WEEK_10, 24, hours)
    for _ in range(3):
        clock("assessment", "standard", WEEK_11 - timedelta(days=5), 120, 130)
    clock("assessment", "standard", WEEK_11 - timedelta(days=5), 120, None)
    clock("assessment", "standard", WEEK_11 - timedelta(days=5), 120, 10, reason="cancelled")
    return world


@pytest.fixture(scope="session")
def admin_conn_session(database_url):
    """A superuser connection for building the world once."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True, row_factory=psycopg.rows.dict_row) as conn:
        yield conn


@pytest.fixture(scope="session")
def api(app, sw):
    """``api("council")``: that user's JSON client."""
    client = app.test_client()
    clients: dict[str, Api] = {}

    def for_user(name: str) -> Api:
        if name not in clients:
            with app.app_context():
                clients[name] = Api(client, sw.users[name])
        return clients[name]

    return for_user


PERIOD = f"from={START}&to={END}"


@pytest.fixture(scope="session")
def pages(app, sw):
    """``pages("council")``: a browser-like client signed in as that user, once per run (a second
    factor's code is accepted only once)."""
    from tests.conftest import new_client
    from tests.platform.helpers import sign_in

    clients = {}

    def for_user(name: str):
        if name not in clients:
            clients[name] = new_client(app)
            sign_in(clients[name], sw.users[name])
        return clients[name]

    return for_user
