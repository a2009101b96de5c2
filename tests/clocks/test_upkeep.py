"""Idempotency-Keys are removed by beat once their retention has passed, and not before."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from celery.schedules import crontab

from services import clock, idempotency
from services.settings import ConfigError, Settings
from workflows import upkeep
from workflows.celery_app import celery_app
from workflows.schedule import beat_schedule


def store_key(admin_conn, created_at) -> str:
    key = f"key-{uuid.uuid4().hex}"
    admin_conn.execute(
        "INSERT INTO idempotency_keys (user_key, key, request_sha256, status_code, response, created_at)"
        " VALUES ('user:0', %s, 'x', 201, '{}', %s)", (key, created_at))
    return key


def kept(admin_conn, keys: list[str]) -> set[str]:
    rows = admin_conn.execute("SELECT key FROM idempotency_keys WHERE key = ANY(%s)", (keys,)).fetchall()
    return {r["key"] for r in rows}


def test_keys_older_than_the_retention_are_purged_and_younger_ones_kept(app, admin_conn, monkeypatch):
    now = clock.now().replace(microsecond=0)
    stale = [store_key(admin_conn, now - timedelta(hours=24, seconds=1)) for _ in range(3)]
    fresh = store_key(admin_conn, now - timedelta(hours=23, minutes=59))
    clock.set_now(now)
    try:
        with app.app_context():
            monkeypatch.setattr(idempotency, "PURGE_BATCH", 2)  # two batches: 2, then 1
            removed = upkeep.purge_idempotency_keys()
    finally:
        clock.set_now(None)
    assert removed >= 3
    assert kept(admin_conn, stale + [fresh]) == {fresh}
    event = admin_conn.execute("SELECT details FROM audit.events"
                               " WHERE action = 'idempotency_keys_purged' ORDER BY id DESC LIMIT 1").fetchone()
    assert event["details"]["before"] == (now - timedelta(hours=24)).isoformat()


def test_the_retention_is_a_setting(app, admin_conn):
    now = clock.now().replace(microsecond=0)
    key = store_key(admin_conn, now - timedelta(hours=3))
    young = store_key(admin_conn, now - timedelta(hours=1))
    settings = app.config["QORGAU_SETTINGS"]
    app.config["QORGAU_SETTINGS"] = settings.with_(idempotency_retention_hours=2)
    clock.set_now(now)
    try:
        with app.app_context():
            upkeep.purge_idempotency_keys()
    finally:
        clock.set_now(None)
        app.config["QORGAU_SETTINGS"] = settings
    assert kept(admin_conn, [key, young]) == {young}
    env = {"DATABASE_URL": "postgresql://x@localhost/x", "SECRET_KEY": "k" * 40}
    assert Settings.from_env(env).idempotency_retention_hours == 24
    assert Settings.from_env({**env, "IDEMPOTENCY_RETENTION_HOURS": "48"}).idempotency_retention_hours == 48
    for bad in ("0", "-1", "a day"):
        with pytest.raises(ConfigError, match="IDEMPOTENCY_RETENTION_HOURS"):
            Settings.from_env({**env, "IDEMPOTENCY_RETENTION_HOURS": bad})


def test_beat_purges_hourly_with_a_registered_task():
    entry = beat_schedule["idempotency-purge"]
    assert entry["task"] == "idempotency.purge" and isinstance(entry["schedule"], crontab)
    assert entry["schedule"].minute == {23} and entry["schedule"].hour == set(range(24))
    assert "workflows.upkeep" in celery_app.conf.imports
