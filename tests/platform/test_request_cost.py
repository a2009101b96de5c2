"""What an API request costs in round trips to PostgreSQL (bench/RESULTS.md): the Bearer token is
read in the request's one transaction, the pool lends connections without a test query, and a
case read does not read its case twice. Counting statements and transactions, not time.

The identity rules stay: it is set per transaction with ``set_config(..., true)``, so a pooled
connection carries none once a request is done, whether the view continued authentication's
transaction, failed, or never opened one; and a revoked token stops working on the next request.
"""
from __future__ import annotations

from contextlib import contextmanager

import psycopg
import pytest

from audit import Actor
from bench.scenarios import begun_transactions, sent_statements
from services import db as database
from services.auth import tokens
from tests.case_factories import Api, make_case, make_case_world


@pytest.fixture(scope="module")
def cw(app):
    with app.app_context():
        return make_case_world()


@pytest.fixture(scope="module")
def reader(app, cw):
    """The lead agency's worker, who reads the case."""
    with app.app_context():
        return Api(app.test_client(), cw.users["social_worker"])


@contextmanager
def counted():
    """(statements sent through a cursor, transactions begun) in this process meanwhile."""
    with begun_transactions() as begun, sent_statements() as sent:
        yield sent, begun


def identity_of_idle_connections(app) -> set:
    db = app.extensions["qorgau_db"]
    seen = set()
    for _ in range(db.pool.get_stats().get("pool_size", 1) + 1):
        with db.pool.connection() as conn:
            seen.add(conn.execute("SELECT current_setting('qorgau.user_id', true) AS u").fetchone()["u"])
            conn.rollback()
    return seen


def test_a_case_read_is_one_transaction_of_seven_statements(app, cw, reader, admin_conn):
    case = make_case(admin_conn, cw, assigned={"social_services": "social_worker"})
    assert reader.get(f"/api/v1/cases/{case.id}").status_code == 200  # the token's use noted
    with counted() as (sent, begun):
        response = reader.get(f"/api/v1/cases/{case.id}")
    assert response.status_code == 200, response.get_json()
    texts = [" ".join(t.split()) for t, _ in sent if t != "BEGIN"]  # sent with the first two
    # the system's identity, the token with its user, the reader's identity, the facts, the case,
    # its agencies and referrals, the audit event; no empty statement testing the connection
    assert len(texts) == 7, texts
    assert len(begun) == 1
    assert sum("FROM cases" in t for t in texts) == 1
    assert sum("api_tokens" in t for t in texts) == 1
    assert texts[-1].startswith("INSERT INTO audit.events")
    event = admin_conn.execute("SELECT action, actor_user_id, session_ref FROM audit.events"
                               " ORDER BY id DESC LIMIT 1").fetchone()
    assert event["action"] == "case_viewed" and event["actor_user_id"] == cw.users["social_worker"].id
    assert event["session_ref"].startswith("token:")
    assert identity_of_idle_connections(app) <= {None, ""}


def test_the_token_and_the_view_share_the_transaction_and_the_identity_changes_inside_it(app, cw, reader,
                                                                                          admin_conn):
    case = make_case(admin_conn, cw, assigned={"social_services": "social_worker"})
    seen = []
    original = database.set_actor

    def spy(conn, actor):
        original(conn, actor)
        seen.append((conn.execute("SELECT txid_current() AS x").fetchone()["x"],
                     conn.execute("SELECT current_setting('qorgau.user_id', true) AS u").fetchone()["u"]))

    database.set_actor = spy
    try:
        assert reader.get(f"/api/v1/cases/{case.id}").status_code == 200
    finally:
        database.set_actor = original
    (tx_auth, user_auth), (tx_view, user_view) = seen
    assert tx_auth == tx_view
    assert (user_auth, user_view) == ("", str(cw.users["social_worker"].id))


def test_a_request_that_opens_no_transaction_or_fails_returns_its_connection_clean(app, cw, reader):
    db = app.extensions["qorgau_db"]
    before = db.pool.get_stats()
    assert reader.get("/api/v1/cases/not-a-number").status_code == 404  # no view transaction
    assert reader.get("/api/v1/cases?limit=0").status_code == 422  # refused before the view's
    assert reader.get("/api/v1/cases/987654321").status_code == 404  # refused inside it
    stats = db.pool.get_stats()
    assert stats.get("requests_waiting", 0) == 0
    assert stats.get("pool_available", 0) == stats.get("pool_size", 0) >= before.get("pool_size", 1)
    assert identity_of_idle_connections(app) <= {None, ""}


def test_a_revoked_token_stops_at_the_next_request_and_its_use_is_noted_once_a_minute(app, cw, admin_conn):
    with app.app_context():
        api = Api(app.test_client(), cw.users["social_worker2"])
    token_id = admin_conn.execute("SELECT max(id) AS id FROM api_tokens WHERE user_id = %s",
                                  (cw.users["social_worker2"].id,)).fetchone()["id"]
    assert api.get("/api/v1/me").status_code == 200
    first = admin_conn.execute("SELECT last_used_at FROM api_tokens WHERE id = %s", (token_id,)).fetchone()
    with counted() as (sent, _):
        assert api.get("/api/v1/me").status_code == 200
    assert first["last_used_at"] is not None
    assert not any(t.lstrip().startswith("UPDATE api_tokens") for t, _ in sent)
    admin_conn.execute("UPDATE api_tokens SET last_used_at = last_used_at - %s WHERE id = %s",
                       (tokens.TOUCH_EVERY * 2, token_id))
    assert api.get("/api/v1/me").status_code == 200
    later = admin_conn.execute("SELECT last_used_at FROM api_tokens WHERE id = %s", (token_id,)).fetchone()
    assert later["last_used_at"] > first["last_used_at"] - tokens.TOUCH_EVERY * 2
    admin_conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE id = %s", (token_id,))
    assert api.get("/api/v1/me").status_code == 401


def test_connections_postgresql_ended_are_replaced_before_a_transaction_uses_them(app, admin_conn,
                                                                                  monkeypatch):
    """Found by the socket, or (when the socket has not said so yet) by BEGIN failing: either
    way the transaction runs on a fresh connection and the caller sees no error."""
    db = app.extensions["qorgau_db"]
    for look in (database.ended_while_idle, lambda conn: False):
        monkeypatch.setattr(database, "ended_while_idle", look)
        with db.transaction() as conn:
            old = conn.info.backend_pid
        admin_conn.execute("SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                           " WHERE usename = 'qorgau_app' AND datname = current_database()")
        with db.transaction() as conn:
            assert conn.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"] != old


def test_a_transaction_that_fails_leaves_its_connection_idle_and_without_identity(app, cw):
    db = app.extensions["qorgau_db"]
    actor = Actor(user_id=cw.users["social_worker"].id, agency_id=7, roles=frozenset({"caseworker"}))
    for failing in ("SELECT 1/0", "SELECT * FROM no_such_table"):
        with pytest.raises(psycopg.errors.Error):
            with db.transaction(actor) as conn:
                conn.execute(failing)
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert identity_of_idle_connections(app) <= {None, ""}
