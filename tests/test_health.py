"""The liveness and readiness probes answer with JSON, 503 naming what failed, and never 500."""
from __future__ import annotations

import time
from contextlib import contextmanager

import pytest

from services.db import Database


@contextmanager
def swapped_settings(app, **changes):
    """Run with some settings changed for the app's requests, then restore them."""
    original = app.config["QORGAU_SETTINGS"]
    app.config["QORGAU_SETTINGS"] = original.with_(**changes)
    try:
        yield
    finally:
        app.config["QORGAU_SETTINGS"] = original


@contextmanager
def unreachable_database(app):
    """Point the app at a PostgreSQL port where nothing listens, then put the real pool back."""
    original = app.extensions["qorgau_db"]
    dead = Database("postgresql://qorgau_app@127.0.0.1:1/qorgau?connect_timeout=1", max_size=1)
    dead.pool.open(wait=False)
    app.extensions["qorgau_db"] = dead
    try:
        yield
    finally:
        app.extensions["qorgau_db"] = original
        dead.close()


def test_healthz_says_ok_while_the_process_serves(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_is_ok_when_database_and_broker_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": {"ok": True}, "broker": {"ok": True}}


def test_readyz_names_the_broker_when_redis_does_not_answer(app, client):
    with swapped_settings(app, broker_url="redis://127.0.0.1:1/0"):
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["failed"] == ["broker"]
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["broker"] == {"ok": False, "error": "BrokerUnavailable"}


def test_readyz_names_the_database_when_postgres_does_not_answer(app, client):
    with unreachable_database(app):
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["failed"] == ["database"]
    assert body["checks"]["broker"] == {"ok": True}


def test_readyz_checks_the_embedded_broker_folder(app, client, tmp_path):
    from services import broker

    url = broker.filesystem_url(tmp_path / "broker")
    with swapped_settings(app, broker_url=url):
        assert client.get("/readyz").status_code == 503  # folders not created yet
        broker.celery_options(url)
        assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_refuse_other_methods_without_a_500(client, path):
    assert client.post(path).status_code == 405


def test_readyz_is_ready_at_once_after_the_server_ended_pooled_connections(app, client, admin_conn):
    """After a PostgreSQL restart the pool still holds the dead connections; the probe passes over
    them instead of reporting the database down once per dead connection."""
    db = app.extensions["qorgau_db"]
    held = [db.pool.getconn() for _ in range(3)]
    for conn in held:
        db.pool.putconn(conn)
    admin_conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                       " WHERE usename = 'qorgau_app' AND datname = current_database()")
    time.sleep(0.2)  # the FATAL message reaches each idle socket
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
