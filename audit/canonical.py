"""The canonical bytes of an audit event, defined once as SQL and once as a Python reference.

``hash = sha256(prev_hash || canonical)``. PostgreSQL computes it from the row being inserted
(the chaining trigger) and again from the stored row when ``verify`` runs, so the hash covers
exactly what is stored and verification streams hashes, not rows. The Python function reproduces the same bytes for anyone
checking an exported event outside the database; a test holds the two to each other.

Format (version 1): a JSON object with the keys below in this order (which is alphabetical),
no whitespace, strings JSON-escaped with non-ASCII kept as UTF-8, integers in decimal, ``null``
for missing values, ``at`` as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC, and ``details`` embedded in
PostgreSQL's normal ``jsonb`` text form (members ordered by key length, then key bytes; ``", "``
and ``": "`` separators).
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any, Mapping

FORMAT_VERSION = 1
GENESIS = bytes(32)  # prev_hash of the first event of every chain
GENESIS_HEX = GENESIS.hex()

# (key in the canonical document, column, kind)
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("action", "action", "text"),
    ("actor_agency_id", "actor_agency_id", "int"),
    ("actor_kind", "actor_kind", "text"),
    ("actor_mfa", "actor_mfa", "bool"),
    ("actor_region_id", "actor_region_id", "int"),
    ("actor_roles", "actor_roles", "text[]"),
    ("actor_user_id", "actor_user_id", "int"),
    ("at", "occurred_at", "time"),
    ("auth_strength", "auth_strength", "text"),
    ("chain", "chain", "int"),
    ("channel", "channel", "text"),
    ("child_id", "child_id", "int"),
    ("client_addr", "client_addr", "text"),
    ("details", "details", "jsonb"),
    ("id", "id", "int"),
    ("object_id", "object_id", "text"),
    ("object_type", "object_type", "text"),
    ("outcome", "outcome", "text"),
    ("purpose", "purpose", "text"),
    ("request_id", "request_id", "text"),
    ("seq", "seq", "int"),
    ("session_ref", "session_ref", "text"),
    ("user_agent", "user_agent", "text"),
)
COLUMNS = tuple(column for _, column, _ in FIELDS)

_SQL_VALUE = {
    "text": "coalesce(to_json({c})::text, 'null')",
    "int": "coalesce({c}::text, 'null')",
    "bool": "coalesce({c}::text, 'null')",
    "text[]": "coalesce(to_json({c})::text, 'null')",
    "time": "'\"' || to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') || '\"'",
    "jsonb": "{c}::text",
}


def canonical_sql(row: str = "") -> str:
    """An SQL expression yielding the canonical bytes (bytea) of a row; ``row`` qualifies the
    columns (``"NEW."`` in a trigger)."""
    parts = []
    for i, (key, column, kind) in enumerate(FIELDS):
        prefix = ("{" if i == 0 else ",") + json.dumps(key) + ":"
        parts.append(f"'{prefix}' || " + _SQL_VALUE[kind].format(c=row + column))
    parts.append(f"',\"v\":' || '{FORMAT_VERSION}}}'")  # no ':<digit>': SQLAlchemy reads binds
    return "convert_to(" + " || ".join(parts) + ", 'UTF8')"


CANONICAL_SQL = canonical_sql()
HASH_SQL = f"sha256(prev_hash || {CANONICAL_SQL})"  # over the columns of audit.events


_quote = json.encoder.encode_basestring  # JSON string escaping, non-ASCII kept (C speed)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return _quote(value)
    return json.dumps(value, ensure_ascii=False)


def jsonb_text(value: Any) -> str:
    """``value`` as PostgreSQL prints a ``jsonb`` holding it."""
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (len(k.encode()), k.encode()))
        return "{" + ", ".join(f"{_text(k)}: {jsonb_text(value[k])}" for k in keys) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(jsonb_text(v) for v in value) + "]"
    return _text(value)


def _time(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return '"' + value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ") + '"'


def _value(kind: str, value: Any) -> str:
    if value is None:
        return "null"
    if kind == "text":
        return _text(value)
    if kind == "int":
        return str(int(value))
    if kind == "bool":
        return "true" if value else "false"
    if kind == "text[]":
        return "[" + ",".join(_text(v) for v in value) + "]"
    if kind == "time":
        return _time(value)
    return jsonb_text(value)


def canonical_bytes(row: Mapping[str, Any]) -> bytes:
    """The canonical bytes of an event given as a mapping of column names to values."""
    body = ",".join(f"{_text(key)}:{_value(kind, row[column])}" for key, column, kind in FIELDS)
    return ("{" + body + f',"v":{FORMAT_VERSION}}}').encode("utf-8")


def event_hash(prev_hash: bytes, canonical: bytes) -> bytes:
    """The chain hash of an event."""
    return hashlib.sha256(prev_hash + canonical).digest()
