"""Fixtures for the audit tests: application-role connections, a signing key, quick events."""
from __future__ import annotations

from contextlib import contextmanager

import psycopg
import pytest
from psycopg.rows import dict_row

from audit import Actor, AuditAction, record, signing
from audit.canonical import HASH_SQL
from services.db import set_actor
from services.settings import app_url_from

CASEWORKER = Actor(user_id=101, agency_id=None, roles=frozenset({"caseworker"}), mfa=True)


@contextmanager
def app_connection(url: str):
    """A connection as ``qorgau_app`` to the database at the administrative ``url``."""
    with psycopg.connect(app_url_from(url, None), row_factory=dict_row) as conn:
        yield conn


@contextmanager
def admin_connection(url: str, **kwargs):
    """A superuser connection (autocommit unless told otherwise) to the database at ``url``."""
    kwargs.setdefault("autocommit", True)
    with psycopg.connect(url, row_factory=dict_row, **kwargs) as conn:
        yield conn


def record_views(conn, count: int, *, actor: Actor = CASEWORKER, per_transaction: int = 1,
                 child_id: int = 7) -> None:
    """Record ``count`` child views through ``record``, as the application does."""
    done = 0
    while done < count:
        with conn.transaction():
            set_actor(conn, actor)
            for _ in range(min(per_transaction, count - done)):
                record(conn, actor=actor, action=AuditAction.CHILD_VIEWED, object_type="child",
                       object_id=child_id, child_id=child_id, purpose="screening")
                done += 1


def write_checkpoint(conn, key) -> object:
    """Sign a checkpoint as the beat task does."""
    from audit.checkpoints import write_checkpoint as write

    with conn.transaction():
        set_actor(conn, Actor.system("tests"))
        return write(conn, key)


def tamper(url: str, sql: str, params=()) -> None:
    """Run ``sql`` as a superuser with every trigger switched off."""
    with admin_connection(url) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(sql, params)


def recompute_from(url: str, chain: int, seq: int) -> None:
    """Re-hash a chain from ``seq`` on, as a careful forger would."""
    with admin_connection(url) as conn:
        conn.execute("SET session_replication_role = replica")
        prev = bytes(conn.execute("SELECT hash FROM audit.events WHERE chain = %s AND seq = %s",
                                  (chain, seq - 1)).fetchone()["hash"])
        ids = [r["id"] for r in conn.execute("SELECT id FROM audit.events WHERE chain = %s"
                                             " AND seq >= %s ORDER BY seq", (chain, seq))]
        for event_id in ids:
            conn.execute("UPDATE audit.events SET prev_hash = %s WHERE id = %s", (prev, event_id))
            prev = bytes(conn.execute(f"UPDATE audit.events SET hash = {HASH_SQL} WHERE id = %s"
                                      " RETURNING hash", (event_id,)).fetchone()["hash"])


@pytest.fixture
def key_path(tmp_path):
    """A fresh Ed25519 signing key file (and its .pub) for this test."""
    path, _ = signing.generate_key(tmp_path / "audit-signing.key")
    return path


@pytest.fixture
def private_key(key_path):
    return signing.load_private_key(key_path)


@pytest.fixture(scope="module")
def module_db_url(template_db):
    """A database of this test module's own, migrated, for checks that must not touch others'."""
    import uuid

    from tests.conftest import ADMIN_URL, _recreate, db_url

    name = f"qorgau_audit_{uuid.uuid4().hex[:8]}"
    _recreate(name, template_db)
    yield db_url(name)
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
