"""How a transaction holds its chain: one chain per transaction, let go at its end."""
from __future__ import annotations

import psycopg
import pytest

from audit import Actor, AuditAction, record
from audit.trail import CHAIN_LOCK
from audit.verify import verify
from services.db import set_actor
from tests.audit.conftest import admin_connection, app_connection

ACTOR = Actor.system("tests")


def view(conn, child_id: int) -> None:
    record(conn, actor=ACTOR, action=AuditAction.CHILD_VIEWED, object_type="child",
           object_id=child_id, child_id=child_id)


def heads(url: str) -> dict[int, int]:
    with admin_connection(url) as conn:
        return {r["chain"]: r["seq"] for r in conn.execute(
            "SELECT chain, seq FROM audit.chain_heads WHERE seq > 0")}


def free_chains(url: str) -> int:
    """How many chains another transaction could take right now."""
    with admin_connection(url) as conn:
        return conn.execute("SELECT count(*) FILTER (WHERE pg_try_advisory_xact_lock(%s, c)) AS n"
                            " FROM generate_series(0, 31) AS c", (CHAIN_LOCK,)).fetchone()["n"]


def test_many_events_in_one_transaction_follow_each_other_on_one_chain(fresh_db_url):
    with app_connection(fresh_db_url) as conn, conn.transaction():
        set_actor(conn, ACTOR)
        for i in range(300):
            view(conn, i)
        assert free_chains(fresh_db_url) == 31
    with admin_connection(fresh_db_url) as conn:
        rows = conn.execute("SELECT chain, seq FROM audit.events ORDER BY id").fetchall()
    assert len({r["chain"] for r in rows}) == 1
    assert [r["seq"] for r in rows] == list(range(1, 301))
    assert free_chains(fresh_db_url) == 32
    assert verify(fresh_db_url, workers=1).ok


def test_a_rolled_back_savepoint_gives_its_place_in_the_chain_back(fresh_db_url):
    with app_connection(fresh_db_url) as conn:
        with conn.transaction():
            set_actor(conn, ACTOR)
            view(conn, 1)
            try:
                with conn.transaction():
                    view(conn, 2)
                    view(conn, 3)
                    raise LookupError("the nested step failed")
            except LookupError:
                pass
            view(conn, 4)
    with admin_connection(fresh_db_url) as conn:
        rows = conn.execute("SELECT seq, child_id FROM audit.events ORDER BY seq").fetchall()
    assert [(r["seq"], r["child_id"]) for r in rows] == [(1, 1), (2, 4)]
    assert list(heads(fresh_db_url).values()) == [2]
    assert verify(fresh_db_url, workers=1).ok


def test_a_savepoint_that_took_the_chain_lets_it_go_when_rolled_back(fresh_db_url):
    with app_connection(fresh_db_url) as conn, conn.transaction():
        set_actor(conn, ACTOR)
        try:
            with conn.transaction():
                view(conn, 1)
                assert free_chains(fresh_db_url) == 31
                raise LookupError("rolled back")
        except LookupError:
            pass
        assert conn.execute("SELECT current_setting('qorgau.audit_head', true) AS h"
                            ).fetchone()["h"] in ("", None)
        assert free_chains(fresh_db_url) == 32
    assert heads(fresh_db_url) == {}


def test_other_isolation_levels_are_refused_rather_than_risk_a_fork(fresh_db_url):
    with app_connection(fresh_db_url) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with pytest.raises(psycopg.errors.InvalidTransactionState, match="READ COMMITTED"):
            with conn.transaction():
                set_actor(conn, ACTOR)
                view(conn, 1)
