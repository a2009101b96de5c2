"""The beat tasks: checkpoints every minute, partitions ahead of time; both safe to run twice."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from audit import Actor, AuditAction, record
from services.db import transaction
from tests.audit.conftest import admin_connection
from tests.conftest import make_settings


def months_ahead(n: int) -> list[str]:
    today = datetime.now(timezone.utc)
    out = []
    for i in range(n + 1):
        year, month = divmod(today.month - 1 + i, 12)
        out.append(f"events_y{today.year + year}m{month + 1:02d}")
    return out


def partitions(conn) -> list[str]:
    return [r["relname"] for r in conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'audit.events'::regclass ORDER BY 1")]


@pytest.fixture
def task_app(fresh_db_url, key_path):
    """An app on a database of its own, with a signing key, as the worker runs it."""
    from services.app import create_app

    app = create_app(make_settings(fresh_db_url, audit_signing_key=str(key_path)))
    yield app
    app.extensions["qorgau_db"].close()


def test_the_checkpoint_task_signs_new_events_once(task_app):
    from workflows import audit as tasks

    actor = Actor.system("tests")
    with task_app.app_context():
        assert tasks.checkpoint() is None  # nothing recorded yet
        with transaction(actor) as conn:
            record(conn, actor=actor, action=AuditAction.DEMO_LOADED, object_type="region",
                   object_id=1)
        assert tasks.checkpoint() == 1
        assert tasks.checkpoint() is None
    assert tasks.checkpoint.name == "audit.checkpoint"


def test_the_partition_task_keeps_three_months_ahead(task_app, fresh_db_url):
    from workflows import audit as tasks

    with task_app.app_context():
        assert tasks.ensure_partitions() == 0  # the migration made them
    with admin_connection(fresh_db_url) as conn:
        assert partitions(conn) == ["events_default", *months_ahead(3)]
        assert conn.execute("SELECT audit.ensure_partitions(5) AS n").fetchone()["n"] == 2
        assert partitions(conn) == ["events_default", *months_ahead(5)]
    assert tasks.ensure_partitions.name == "audit.ensure_partitions"


def test_a_month_whose_events_fell_into_the_default_partition_is_left_alone(fresh_db_url):
    with admin_connection(fresh_db_url) as conn:
        conn.execute("SET session_replication_role = replica")
        far = months_ahead(7)[-1]
        year, month = int(far[8:12]), int(far[13:15])
        conn.execute(
            "INSERT INTO audit.events (id, chain, seq, occurred_at, action, outcome, actor_kind,"
            " actor_roles, actor_mfa, object_type, channel, prev_hash, hash) VALUES (1, 0, 1,"
            " %s, 'demo_loaded', 'allowed', 'system', '{}', false, 'region', 'cli',"
            " decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'))",
            (datetime(year, month, 15, tzinfo=timezone.utc),))
        conn.execute("RESET session_replication_role")
        assert conn.execute("SELECT count(*) AS n FROM audit.events_default").fetchone()["n"] == 1
        created = conn.execute("SELECT audit.ensure_partitions(8) AS n").fetchone()["n"]
        assert created == 4  # months 4..8 but not month 7
        assert far not in partitions(conn) and months_ahead(8)[-1] in partitions(conn)


def test_the_dump_shows_every_stored_value_as_text(fresh_db_url):
    from audit.dump import dump_text
    from tests.audit.conftest import app_connection, record_views

    with app_connection(fresh_db_url) as conn:
        record_views(conn, 2, child_id=4242)
    text = dump_text(fresh_db_url)
    lines = text.splitlines()
    assert len(lines) == 2
    assert all('"child_id": 4242' in line and '"purpose": "screening"' in line for line in lines)
