"""Liveness and readiness probes for gunicorn's supervisors, compose and load balancers.

``/healthz`` answers while the process can serve at all; ``/readyz`` also checks PostgreSQL and the
broker. Both answer with JSON and never with a 500: a probe that crashes reads as "down" without
saying why.
"""
from __future__ import annotations

import logging

from flask import Blueprint, current_app

from services import broker
from services.db import ended_while_idle, get_db

bp = Blueprint("health", __name__)
log = logging.getLogger("qorgau.health")

CHECK_TIMEOUT_SECONDS = 3.0


@bp.get("/healthz")
def healthz():
    """The process is alive and serving requests."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    """PostgreSQL and the broker both answer; 503 names the ones that did not."""
    checks = {"database": _check(check_database), "broker": _check(check_broker)}
    failed = [name for name, result in checks.items() if not result["ok"]]
    body = {"status": "unavailable" if failed else "ok", "checks": checks}
    if failed:
        body["failed"] = failed
    return body, 503 if failed else 200


def check_database() -> None:
    """A ``SELECT 1`` on a pooled connection, as the application role. Connections PostgreSQL
    ended while they sat in the pool (a restart) are passed over, as ``Database.begin`` does, so
    the probe reports the server, not the pool's leftovers."""
    pool = get_db().pool
    for _ in range(pool.max_size + 1):
        with pool.connection(timeout=CHECK_TIMEOUT_SECONDS) as conn:
            if ended_while_idle(conn):
                continue  # closed: the pool replaces it
            conn.execute("SELECT 1").fetchone()
            conn.rollback()
            return
    raise RuntimeError("every pooled connection had been ended by the server")


def check_broker() -> None:
    """The configured broker answers (Redis PING, or the embedded broker's folder is writable)."""
    broker.ping(current_app.config["QORGAU_SETTINGS"], timeout=CHECK_TIMEOUT_SECONDS)


def _check(probe) -> dict:
    # Any failure, of any type, is a "not ready" answer; the details go to the log, and the
    # response names only the kind of error so it leaks no addresses or credentials.
    try:
        probe()
        return {"ok": True}
    except Exception as exc:
        log.warning("readiness check failed", extra={"check": probe.__name__, "error": str(exc)})
        return {"ok": False, "error": type(exc).__name__}
