"""How a transaction holds its chain: one head per transaction, written once at commit."""
from __future__ import annotations

from audit import Actor, AuditAction, record
from audit.verify import verify
from services.db import set_actor
from tests.audit.conftest import admin_connection, app_connection

ACTOR = Actor.system("tests")


def view(conn, child_id: int) -> None:
    record(conn, actor=ACTOR, action=AuditAction.CHILD_VIEWED, object_type="child",
           object_id=child_id, child_id=child_id)


def heads(url: str) -> dict[int, tuple]:
    with admin_connection(url) as conn:
        return {r["chain"]: (r["seq"], r["xmin"]) for r in conn.execute(
            "SELECT chain, seq, xmin::text AS xmin FROM audit.chain_heads WHERE seq > 0")}


def test_many_events_in_one_transaction_share_a_chain_and_move_its_head_once(fresh_db_url):
    with app_connection(fresh_db_url) as conn:
        with conn.transaction():
            set_actor(conn, ACTOR)
            view(conn, 1)
            row_version = conn.execute("SELECT ctid FROM audit.chain_heads WHERE chain ="
                                       " split_part(current_setting('qorgau.audit_head'), '/', 1)"
                                       "::int").fetchone()["ctid"]
            for i in range(500):
                view(conn, i)
            # No new row version per event: a later event never walks a chain of them.
            assert conn.execute("SELECT ctid FROM audit.chain_heads WHERE chain ="
                                " split_part(current_setting('qorgau.audit_head'), '/', 1)"
                                "::int").fetchone()["ctid"] == row_version
    assert [seq for seq, _ in heads(fresh_db_url).values()] == [501]
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
    assert [seq for seq, _ in heads(fresh_db_url).values()] == [2]
    assert verify(fresh_db_url, workers=1).ok


def test_a_savepoint_that_took_the_chain_releases_it_when_rolled_back(fresh_db_url):
    with app_connection(fresh_db_url) as conn, \
            admin_connection(fresh_db_url, autocommit=False) as other:
        with conn.transaction():
            set_actor(conn, ACTOR)
            try:
                with conn.transaction():
                    view(conn, 1)
                    raise LookupError("rolled back")
            except LookupError:
                pass
            assert conn.execute("SELECT current_setting('qorgau.audit_head', true) AS h"
                                ).fetchone()["h"] in ("", None)
            other.execute("SET lock_timeout = '300ms'")
            locked = len(other.execute("SELECT chain FROM audit.chain_heads"
                                       " FOR UPDATE NOWAIT").fetchall())
            other.rollback()
            assert locked == 32
    assert heads(fresh_db_url) == {}
