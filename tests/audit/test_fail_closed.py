"""The event is written in the action's own transaction: no audit row, no action."""
from __future__ import annotations

import psycopg
import pytest

from audit import Actor, AuditAction, record
from services.agencies import actions
from services.db import set_actor
from tests.audit.conftest import admin_connection, app_connection

ADMIN = Actor(user_id=None, agency_id=None, roles=frozenset({"system_admin"}), kind="system")


def regions(url: str, code: str) -> int:
    with admin_connection(url) as conn:
        return conn.execute("SELECT count(*) AS n FROM regions WHERE code = %s",
                            (code,)).fetchone()["n"]


def test_when_the_event_cannot_be_written_the_business_change_is_refused(fresh_db_url):
    with admin_connection(fresh_db_url) as conn:
        conn.execute("REVOKE INSERT ON audit.events FROM qorgau_app")
    with app_connection(fresh_db_url) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            with conn.transaction():
                set_actor(conn, ADMIN)
                actions.create_region(conn, actor=ADMIN, code="fail-closed", name="Fail Closed")
    assert regions(fresh_db_url, "fail-closed") == 0


def test_with_the_privilege_in_place_the_same_change_and_its_event_persist(fresh_db_url):
    with app_connection(fresh_db_url) as conn, conn.transaction():
        set_actor(conn, ADMIN)
        actions.create_region(conn, actor=ADMIN, code="fail-closed", name="Fail Closed")
    assert regions(fresh_db_url, "fail-closed") == 1
    with admin_connection(fresh_db_url) as conn:
        assert conn.execute("SELECT action FROM audit.events").fetchone()["action"] == \
            "region_created"


def test_a_rolled_back_action_leaves_no_event_and_a_denial_is_kept(fresh_db_url):
    actor = Actor(user_id=3, agency_id=None, roles=frozenset({"caseworker"}))
    with app_connection(fresh_db_url) as conn:
        with pytest.raises(RuntimeError):
            with conn.transaction():
                set_actor(conn, actor)
                record(conn, actor=actor, action=AuditAction.CHILD_VIEWED, object_type="child",
                       object_id=1, child_id=1)
                raise RuntimeError("the view failed after reading")
        with conn.transaction():
            set_actor(conn, actor)
            record(conn, actor=actor, action=AuditAction.ACCESS_DENIED, object_type="child",
                   object_id=2, child_id=2, outcome="denied")
    with admin_connection(fresh_db_url) as conn:
        rows = conn.execute("SELECT action, outcome, child_id FROM audit.events").fetchall()
        heads = conn.execute("SELECT sum(seq) AS n FROM audit.chain_heads").fetchone()["n"]
    assert rows == [{"action": "access_denied", "outcome": "denied", "child_id": 2}]
    assert heads == 1  # the rolled-back event took no place in any chain
