"""Browser sessions stored server-side, so that sign-out and disabling end them everywhere.

The cookie (Flask's signed session) carries a random id; the table stores its SHA-256 only.
Idle (30 min) and absolute (12 h) limits are checked on every request.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta, timezone

TOUCH_EVERY = timedelta(seconds=60)  # refresh last_seen_at at most once a minute


def _hash(raw: str) -> bytes:
    return hashlib.sha256(raw.encode()).digest()


def session_ref(raw: str) -> str:
    """A short, non-secret reference to a session for audit events and logs."""
    return hashlib.sha256(("ref:" + raw).encode()).hexdigest()[:16]


def create(conn, user_id: int, *, mfa: bool, client_addr: str | None, user_agent: str | None) -> str:
    """Start a session and return its raw id (goes into the cookie, nowhere else)."""
    raw = secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO web_sessions (id_hash, user_id, mfa, client_addr, user_agent)"
        " VALUES (%s, %s, %s, %s, %s)",
        (_hash(raw), user_id, mfa, client_addr, (user_agent or "")[:300]),
    )
    return raw


def load(conn, raw: str, *, idle: timedelta, absolute: timedelta, now: datetime | None = None):
    """The live session row for ``raw``, or None if unknown or timed out (then it is deleted)."""
    now = now or datetime.now(timezone.utc)
    row = conn.execute(
        "SELECT s.user_id, s.mfa, s.created_at, s.last_seen_at FROM web_sessions s"
        " JOIN users u ON u.id = s.user_id WHERE s.id_hash = %s AND u.disabled_at IS NULL",
        (_hash(raw),),
    ).fetchone()
    if row is None:
        return None
    if now - row["last_seen_at"] > idle or now - row["created_at"] > absolute:
        end(conn, raw)
        return None
    if now - row["last_seen_at"] > TOUCH_EVERY:
        conn.execute("UPDATE web_sessions SET last_seen_at = %s WHERE id_hash = %s", (now, _hash(raw)))
    return row


def end(conn, raw: str) -> None:
    conn.execute("DELETE FROM web_sessions WHERE id_hash = %s", (_hash(raw),))


def end_all(conn, user_id: int) -> int:
    """End every session of ``user_id``; returns how many there were."""
    return conn.execute("DELETE FROM web_sessions WHERE user_id = %s", (user_id,)).rowcount


def new_raw_id() -> str:
    return secrets.token_urlsafe(32)
