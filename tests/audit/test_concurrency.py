"""Many writers at once: no writer waits for another's chain, and nothing forks."""
from __future__ import annotations

import random
import threading
import time

import psycopg
import pytest

from audit import Actor, AuditAction, record
from audit.trail import CHAIN_LOCK
from audit.verify import verify
from services.db import set_actor
from tests.audit.conftest import admin_connection, app_connection, record_views

CHAIN = "SELECT split_part(current_setting('qorgau.audit_head'), '/', 1) AS c"
THREADS = 12
TRANSACTIONS = 25


def writer(url: str, n: int, errors: list) -> None:
    actor = Actor(user_id=n, agency_id=None, roles=frozenset({"caseworker"}))
    rng = random.Random(n)
    try:
        with app_connection(url) as conn:
            for _ in range(TRANSACTIONS):
                with conn.transaction():
                    set_actor(conn, actor)
                    for _ in range(rng.randint(1, 3)):
                        record(conn, actor=actor, action=AuditAction.CASE_VIEWED,
                               object_type="case", object_id=n)
                        time.sleep(rng.random() / 500)  # hold the chain a moment
    except Exception as exc:  # surfaced by the assertion below
        errors.append(exc)


def test_concurrent_writers_leave_every_chain_whole(fresh_db_url):
    errors: list = []
    threads = [threading.Thread(target=writer, args=(fresh_db_url, n, errors))
               for n in range(1, THREADS + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = verify(fresh_db_url, workers=2)  # the parallel path: worker processes, one snapshot
    assert report.ok, report.problems
    with admin_connection(fresh_db_url) as conn:
        total = conn.execute("SELECT count(*) AS n FROM audit.events").fetchone()["n"]
        used = conn.execute("SELECT count(*) AS n FROM audit.chain_heads WHERE seq > 0").fetchone()["n"]
    assert report.events == total >= THREADS * TRANSACTIONS
    assert used > 1


def test_a_writer_holding_its_chain_does_not_block_another(fresh_db_url):
    actor = Actor.system("tests")
    with app_connection(fresh_db_url) as first, app_connection(fresh_db_url) as second:
        record_views(first, 1)
        with first.transaction():  # holds its chain until the end of this block
            set_actor(first, actor)
            record(first, actor=actor, action=AuditAction.CHILD_VIEWED, object_type="child",
                   object_id=1)
            held = first.execute(CHAIN).fetchone()["c"]
            second.execute("SET lock_timeout = '300ms'")
            with second.transaction():
                set_actor(second, actor)
                record(second, actor=actor, action=AuditAction.CHILD_VIEWED,
                       object_type="child", object_id=2)
                other = second.execute(CHAIN).fetchone()["c"]
    assert held != other


def test_when_every_chain_is_held_a_writer_waits_instead_of_forking(fresh_db_url):
    actor = Actor.system("tests")
    with admin_connection(fresh_db_url, autocommit=False) as locker, \
            app_connection(fresh_db_url) as writer_conn:
        locker.execute("SELECT pg_advisory_lock(%s, c) FROM generate_series(0, 31) AS c",
                       (CHAIN_LOCK,))
        writer_conn.execute("SET lock_timeout = '300ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            with writer_conn.transaction():
                set_actor(writer_conn, actor)
                record(writer_conn, actor=actor, action=AuditAction.CHILD_VIEWED,
                       object_type="child", object_id=1)
        locker.execute("SELECT pg_advisory_unlock_all()")
        record_views(writer_conn, 1)
    assert verify(fresh_db_url, workers=1).ok
