"""The connection pool and the one way to open a transaction.

``transaction(actor=...)`` sets the acting user, agency and roles with ``set_config(..., true)``,
so the identity is local to the transaction and can never leak to the next borrower of a pooled
connection. Row-level security policies read these settings.

Pooled connections are in autocommit mode and ``Database.begin`` sends BEGIN itself, pipelined
with the identity (and, for a request, the token's lookup): one round trip where psycopg's own
BEGIN would wait for its answer first. Transactions end when their block does, as before.

A connection is used without a query to test it first: ``ended_while_idle`` asks the socket
whether PostgreSQL has closed it (a terminated backend, a restart). If that first round trip still
finds it broken, nothing has been done in it yet, so the pool drops it and the transaction starts
again on another connection at once (the pool's own check would wait a second before trying the
next one).

Within a request, authentication reads the token in the request's first transaction
(``begin_request``): the view's ``transaction(actor)`` continues it with the actor set, so an API
request costs one transaction, not two.
"""
from __future__ import annotations

import select
from contextlib import ExitStack, contextmanager
from typing import Callable, Iterator, TypeVar

import psycopg
from flask import current_app, g, has_request_context
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from audit.events import Actor
from services.settings import ConfigError

T = TypeVar("T")


class Database:
    """A psycopg_pool pool bound to the application role."""

    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10):
        self.url = url
        self.pool = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            open=False,
            # Transactions are begun explicitly (``begin``): psycopg's own BEGIN, sent before a
            # connection's first statement, would wait for its answer even in a pipeline.
            kwargs={"row_factory": dict_row, "autocommit": True},
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
        conn, rest, _ = self.begin(actor)
        with rest:
            yield conn

    def begin(self, actor: Actor | None = None, first: Callable[[psycopg.Connection], T] | None = None,
              ) -> tuple[psycopg.Connection, ExitStack, T | None]:
        """(connection, the rest of its transaction, what ``first`` returned): the transaction
        begun and the identity set in one round trip, on a connection that answered them.
        ``first(conn)`` may send statements of its own in that round trip: it runs in pipeline
        mode, so it returns cursors whose rows are read after. Exiting ``rest`` commits (rolls
        back, on an exception) and returns the connection to the pool; the caller must exit it."""
        for attempt in range(self.pool.max_size + 1):
            rest = ExitStack()
            conn = rest.enter_context(self.pool.connection())
            if ended_while_idle(conn):
                rest.close()  # closed: the pool replaces it
                continue
            try:
                with conn.pipeline():  # one round trip
                    conn.execute("BEGIN", prepare=False)
                    set_actor(conn, actor)
                    sent = first(conn) if first is not None else None
            except psycopg.OperationalError:
                rest.close()  # a broken connection goes back to the pool, which replaces it
                if not conn.broken or attempt == self.pool.max_size:
                    raise
                continue
            except BaseException:
                if not conn.broken and not conn.closed:
                    conn.rollback()
                rest.close()
                raise
            rest.enter_context(_committed(conn))
            return conn, rest, sent
        raise AssertionError("unreachable")


@contextmanager
def _committed(conn: psycopg.Connection) -> Iterator[None]:
    """End the transaction ``begin`` opened: commit, or roll back if the block raised."""
    try:
        yield
    except BaseException:
        if not conn.broken and not conn.closed:
            conn.rollback()
        raise
    conn.commit()


def ended_while_idle(conn: psycopg.Connection) -> bool:
    """Whether PostgreSQL has ended this idle connection (a terminated backend, a restart), found
    without a round trip: an idle connection has nothing to read, so a readable socket means its
    FATAL message or its closing has arrived. Such a connection is closed here."""
    if conn.closed:
        return True
    readable, _, _ = select.select([conn.fileno()], [], [], 0)
    if readable:
        conn.close()
    return bool(readable)


ANONYMOUS = "anonymous"  # the identity before authentication


def set_actor(conn: psycopg.Connection, actor: Actor | None) -> None:
    """Make ``actor`` the identity row-level security sees, for this transaction only.

    ``None`` is nobody yet: the work before authentication (a token or session looked up, a
    sign-in checked) runs with no user, no roles and kind ``anonymous``, so row-level security
    gives it no child data, no clock and no outbox row. Qorgau's own work (beat, workers, the
    command line) names ``Actor.system()`` explicitly."""
    values = (("", "", "", "", ANONYMOUS) if actor is None else (
        "" if actor.user_id is None else str(actor.user_id),
        "" if actor.agency_id is None else str(actor.agency_id),
        "" if actor.region_id is None else str(actor.region_id),
        ",".join(sorted(actor.roles)),
        actor.kind,
    ))
    conn.execute(
        "SELECT set_config('qorgau.user_id', %s, true),"
        " set_config('qorgau.agency_id', %s, true),"
        " set_config('qorgau.region_id', %s, true),"
        " set_config('qorgau.roles', %s, true),"
        " set_config('qorgau.actor_kind', %s, true)",
        values,
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
    app.teardown_request(end_request)


def get_db() -> Database:
    return current_app.extensions["qorgau_db"]


@contextmanager
def transaction(actor: Actor | None = None) -> Iterator[psycopg.Connection]:
    """A transaction on the current app's pool; see ``Database.transaction``.

    The first one a request opens continues the transaction authentication began (``begin_request``),
    with ``actor`` set in place of the identity it ran under; later and nested ones are new
    transactions on their own connections (a denial recorded while the caller's work rolls back)."""
    held = g.pop(_HELD, None) if has_request_context() else None
    if held is None:
        with get_db().transaction(actor) as conn:
            yield conn
        return
    conn, rest = held
    with rest:
        set_actor(conn, actor)
        yield conn


_HELD = "_qorgau_request_transaction"


def begin_request(first: Callable[[psycopg.Connection], T]) -> tuple[psycopg.Connection, T]:
    """Begin this request's first transaction now, as the system with no user, with ``first``'s
    statements in the same round trip (see ``Database.begin``): (connection, what ``first``
    returned). The request's first ``transaction(actor)`` continues it; if the request opens none,
    ``end_request`` commits it when the request ends."""
    end_request()
    conn, rest, sent = get_db().begin(None, first)
    g.setdefault(_HELD, (conn, rest))
    return conn, sent


def end_request(exc: BaseException | None = None) -> None:
    """Finish the transaction ``begin_request`` left, if nothing continued it: committed, or
    rolled back if the request failed with ``exc``."""
    held = g.pop(_HELD, None) if has_request_context() else None
    if held is not None:
        held[1].__exit__(type(exc) if exc else None, exc, exc.__traceback__ if exc else None)
