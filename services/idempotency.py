"""``Idempotency-Key`` on POST requests (DESIGN.md §6): a retry returns the first answer.

The key is per user. The first request with a key runs its action and stores its answer in the
same transaction, so the answer exists exactly when the action's effects do. A transaction-scoped
advisory lock on (user, key) makes a concurrent retry wait for the first to finish; it then finds
the stored answer and replays it. A request that failed stored nothing and may simply be retried.
Reusing a key for a different request is refused, naming the header.

Keys are kept ``IDEMPOTENCY_RETENTION_HOURS`` (24 by default) and then removed by the beat task
``idempotency.purge`` (workflows/upkeep.py): a retry after that is a new request.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from flask import Response, jsonify, request
from psycopg.types.json import Jsonb

import audit
from audit import Actor, AuditAction
from services.db import transaction
from services.errors import ValidationFailed

HEADER = "Idempotency-Key"
PURGE_BATCH = 5000
_KEY = re.compile(r"[A-Za-z0-9_.:\-]{8,200}")


@dataclass(frozen=True)
class Answer:
    """A JSON body and its status code, as sent the first time."""

    body: dict
    status: int
    replayed: bool = False


def read_key(headers) -> str | None:
    """The request's key, or None when it sent none; a malformed key is a 422 naming the header."""
    raw = headers.get(HEADER)
    if raw is None:
        return None
    key = raw.strip()
    if not _KEY.fullmatch(key):
        raise ValidationFailed("An Idempotency-Key is 8-200 letters, digits or . _ : -", field=HEADER)
    return key


def fingerprint(method: str, path: str, payload: bytes) -> str:
    """What makes two requests "the same request" for a key."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), payload):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _user_key(actor: Actor) -> str:
    if actor.user_id is not None:
        return f"user:{actor.user_id}"
    return f"{actor.kind}:{actor.agency_id}"


def run_once(conn, actor: Actor, key: str | None, request_hash: str,
             action: Callable[[], Answer]) -> Answer:
    """Run ``action`` in ``conn``'s transaction unless this key already has an answer."""
    if key is None:
        return action()
    user_key = _user_key(actor)
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 4101))", (f"{user_key} {key}",))
    row = conn.execute(
        "SELECT request_sha256, status_code, response FROM idempotency_keys"
        " WHERE user_key = %s AND key = %s", (user_key, key)).fetchone()
    if row is not None:
        if row["request_sha256"] != request_hash:
            raise ValidationFailed("This Idempotency-Key was used for a different request; "
                                   "use a new key for a new request.", field=HEADER)
        return Answer(row["response"], row["status_code"], replayed=True)
    answer = action()
    conn.execute(
        "INSERT INTO idempotency_keys (user_key, key, request_sha256, status_code, response)"
        " VALUES (%s, %s, %s, %s, %s)",
        (user_key, key, request_hash, answer.status, Jsonb(answer.body)))
    return answer


def respond(answer: Answer) -> Response:
    """The HTTP response for an answer; problem documents keep their media type on replay."""
    response = jsonify(answer.body)
    response.status_code = answer.status
    if answer.status >= 400:
        response.mimetype = "application/problem+json"
    if answer.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def idempotent(actor: Actor, action: Callable, *, payload: bytes | None = None) -> Response:
    """Run ``action(conn) -> Answer`` in one transaction, once per Idempotency-Key.

    ``payload`` is what identifies the request when its raw body does not (multipart uploads,
    whose boundaries differ between retries).
    """
    key = read_key(request.headers)
    request_hash = fingerprint(request.method, request.path,
                               request.get_data(cache=True) if payload is None else payload)
    with transaction(actor) as conn:
        answer = run_once(conn, actor, key, request_hash, lambda: action(conn))
    return respond(answer)


def purge_expired(conn, *, actor: Actor, before: datetime) -> int:
    """Remove one batch of keys stored before ``before``; how many went (audited when any).

    Batches keep each transaction short; the caller repeats until a batch comes back short.
    """
    removed = conn.execute(
        "DELETE FROM idempotency_keys WHERE (user_key, key) IN (SELECT user_key, key"
        " FROM idempotency_keys WHERE created_at < %s ORDER BY created_at LIMIT %s)",
        (before, PURGE_BATCH)).rowcount
    if removed:
        audit.record(conn, actor=actor, action=AuditAction.IDEMPOTENCY_KEYS_PURGED,
                     object_type="idempotency_key", object_id=None,
                     details={"removed_count": removed, "before": before.isoformat()})
    return removed
