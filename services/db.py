"""The connection pool and the one way to open a transaction.

``transaction(actor=...)`` sets the acting user, agency and roles with ``set_config(..., true)``,
so the identity is local to the transaction and can never leak to the next borrower of a pooled
connection. Row-level security policies read these settings.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import psycopg
from flask import current_app
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from audit.events import Actor
from services.settings import ConfigError


class Database:
    """A psycopg_pool pool bound to the application role."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10):
        self.url = url
        self.pool = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            kwargs={"row_factory": dict_row, "autocommit": False},
            check=ConnectionPool.check_connection,
            timeout=10,
            name="qorgau",
        )

    def open(self) -> None:
        """Open the pool, failing fast with a readable message if PostgreSQL is unreachable."""
        try:
            with psycopg.connect(self.url, connect_timeout=5) as conn:
                check_app_role(conn)
        except psycopg.OperationalError as exc:
            raise ConfigError(f"cannot connect to PostgreSQL as the application role: {exc}".strip()) from exc
        self.pool.open(wait=False)

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def transaction(self, actor: Actor | None = None) -> Iterator[psycopg.Connection]:
        """One transaction on a pooled connection, with the acting identity set for RLS."""
        with self.pool.connection() as conn:
            with conn.transaction():
                set_actor(conn, actor)
                yield conn


def set_actor(conn: psycopg.Connection, actor: Actor | None) -> None:
    """Make ``actor`` the identity row-level security sees, for this transaction only."""
    actor = actor or Actor.system()
    conn.execute(
        "SELECT set_config('qorgau.user_id', %s, true),"
        " set_config('qorgau.agency_id', %s, true),"
        " set_config('qorgau.region_id', %s, true),"
        " set_config('qorgau.roles', %s, true),"
        " set_config('qorgau.actor_kind', %s, true)",
        (
            "" if actor.user_id is None else str(actor.user_id),
            "" if actor.agency_id is None else str(actor.agency_id),
            "" if actor.region_id is None else str(actor.region_id),
            ",".join(sorted(actor.roles)),
            actor.kind,
        ),
    )


def check_app_role(conn: psycopg.Connection) -> None:
    """Refuse to run as a role that owns tables or bypasses row-level security."""
    row = conn.execute(
        "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    values = list(row.values()) if isinstance(row, dict) else list(row)
    if values[0] or values[1]:
        raise ConfigError(
            "the application database role is a superuser or has BYPASSRLS; connect as qorgau_app"
        )


def init_app(app) -> None:
    """Create the pool for ``app`` from its settings."""
    settings = app.config["QORGAU_SETTINGS"]
    db = Database(settings.app_database_url, min_size=settings.pool_min, max_size=settings.pool_max)
    db.open()
    app.extensions["qorgau_db"] = db


def get_db() -> Database:
    return current_app.extensions["qorgau_db"]


@contextmanager
def transaction(actor: Actor | None = None) -> Iterator[psycopg.Connection]:
    """A transaction on the current app's pool; see ``Database.transaction``."""
    with get_db().transaction(actor) as conn:
        yield conn
