"""The transactional outbox: ``enqueue`` writes a row in the caller's transaction.

A change that must notify someone never calls the broker (DESIGN.md §6, STYLE.md "Services never
import Celery"): it enqueues a row beside the change, so both commit or neither does, and
``NOTIFY qorgau_outbox`` wakes the relay (``workflows/outbox.py``) once it commits. The relay
publishes due rows to Celery; the delivery task marks them delivered, or schedules a retry with
backoff, or after ``MAX_ATTEMPTS`` failures dead-letters them for the system administrator.

Payloads carry ids and codes only: a message in a broker or a log must not tell a child's story.
"""
from __future__ import annotations

import random
import re
from datetime import timedelta

from psycopg.types.json import Jsonb

CHANNEL = "qorgau_outbox"
MAX_ATTEMPTS = 8
# A published row that is still undelivered after the lease is published again: the broker may
# have lost it (a Redis restart without persistence loses queued messages). Delivery is keyed by
# the outbox id, so a second copy sends nothing twice. Longer than a task's hard time limit.
LEASE = timedelta(minutes=10)
BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_CAP = timedelta(hours=1)

_TOPIC = re.compile(r"[a-z][a-z0-9_.]{2,60}")
_KEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
_CODE = re.compile(r"[A-Za-z0-9_.:+\-]{1,64}")
MAX_LIST = 1000


class PayloadError(ValueError):
    """An outbox payload value that is not an id or a code."""


def _value(key: str, value):
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _CODE.fullmatch(value):
        return value
    if isinstance(value, (list, tuple)) and len(value) <= MAX_LIST and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        return list(value)
    raise PayloadError(f"outbox payload {key!r} must be an id, a code or a list of ids")


def check_payload(ids: dict) -> dict:
    """The payload as stored: snake_case keys; ids, codes, booleans or lists of ids."""
    for key in ids:
        if not _KEY.fullmatch(key):
            raise PayloadError(f"outbox payload key {key!r} must be a lowercase identifier")
    return {key: _value(key, value) for key, value in ids.items()}


def enqueue(conn, topic: str, **ids) -> int:
    """Write an outbox row in ``conn``'s transaction and wake the relay when it commits."""
    if not _TOPIC.fullmatch(topic):
        raise PayloadError(f"outbox topic {topic!r} must be a dotted lowercase name")
    row = conn.execute(
        """WITH added AS (INSERT INTO outbox (topic, payload) VALUES (%s, %s) RETURNING id)
           SELECT id, pg_notify(%s, id::text) FROM added""",
        (topic, Jsonb(check_payload(ids)), CHANNEL)).fetchone()
    return row["id"] if isinstance(row, dict) else row[0]


def backoff(attempts: int, *, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with jitter: uniformly between half and all of base·2^(n-1), capped."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(attempts - 1, 0)))
    return ceiling * (0.5 + 0.5 * (rng or random).random())


# --- the relay's and the delivery task's statements ---------------------------------------------


def claim_due(conn, limit: int) -> list[dict]:
    """Undelivered, live rows whose time has come, locked; rows another relay holds are skipped."""
    return conn.execute(
        """SELECT id, topic, attempts FROM outbox
            WHERE delivered_at IS NULL AND dead_at IS NULL AND next_attempt_at <= now()
            ORDER BY next_attempt_at, id
            LIMIT %s
              FOR UPDATE SKIP LOCKED""", (limit,)).fetchall()


def mark_published(conn, ids: list[int], lease: timedelta = LEASE) -> None:
    conn.execute("UPDATE outbox SET published_at = now(), publish_count = publish_count + 1,"
                 " next_attempt_at = now() + %s WHERE id = ANY(%s)", (lease, ids))


def lock(conn, outbox_id: int):
    """The row, locked until the caller's transaction ends (one delivery of a row at a time)."""
    return conn.execute("SELECT id, topic, payload, attempts, delivered_at, dead_at FROM outbox"
                        " WHERE id = %s FOR UPDATE", (outbox_id,)).fetchone()


def mark_delivered(conn, outbox_id: int) -> None:
    conn.execute("UPDATE outbox SET delivered_at = now(), last_error = NULL WHERE id = %s",
                 (outbox_id,))


def record_failure(conn, outbox_id: int, error: str, *, max_attempts: int = MAX_ATTEMPTS,
                   rng: random.Random | None = None) -> bool:
    """Count a failed delivery; schedule the retry, or dead-letter the row. True if now dead."""
    row = conn.execute("UPDATE outbox SET attempts = attempts + 1, last_error = %s"
                       " WHERE id = %s RETURNING attempts", (error[:2000], outbox_id)).fetchone()
    attempts = row["attempts"]
    if attempts >= max_attempts:
        conn.execute("UPDATE outbox SET dead_at = now() WHERE id = %s", (outbox_id,))
        return True
    conn.execute("UPDATE outbox SET next_attempt_at = now() + %s WHERE id = %s",
                 (backoff(attempts, rng=rng), outbox_id))
    return False


def dead_letters(conn, limit: int = 200) -> list[dict]:
    return conn.execute("SELECT id, topic, payload, created_at, attempts, dead_at, last_error"
                        " FROM outbox WHERE dead_at IS NOT NULL ORDER BY dead_at DESC LIMIT %s",
                        (limit,)).fetchall()


def requeue(conn, outbox_id: int) -> bool:
    """Give a dead-lettered row a fresh set of attempts."""
    done = conn.execute("UPDATE outbox SET dead_at = NULL, attempts = 0, next_attempt_at = now()"
                        " WHERE id = %s AND dead_at IS NOT NULL", (outbox_id,)).rowcount == 1
    if done:
        conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(outbox_id)))
    return done
