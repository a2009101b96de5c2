"""The canonical bytes: PostgreSQL's expression and the Python reference agree, and are pinned."""
from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from psycopg.types.json import Jsonb

from audit.canonical import CANONICAL_SQL, COLUMNS, canonical_bytes, event_hash

EVENT = {
    "id": 41, "chain": 3, "seq": 9,
    "occurred_at": datetime(2026, 3, 1, 8, 30, 0, 5, tzinfo=timezone.utc),
    "action": "child_viewed", "outcome": "allowed", "actor_kind": "user", "actor_user_id": 12,
    "actor_agency_id": 4, "actor_region_id": 1, "actor_roles": ["caseworker", "supervisor"],
    "actor_mfa": True, "object_type": "child", "object_id": "77", "child_id": 77,
    "purpose": "screening", "request_id": "r1", "client_addr": "10.0.0.1",
    "user_agent": "Mozilla/5.0 «тест» \"q\" \\ \t", "session_ref": None,
    "auth_strength": "password+totp", "channel": "web",
    "details": {"case_id": 5, "roles": ["a", "b"], "mfa": False, "z": None},
}
TYPES = {"id": "bigint", "chain": "smallint", "seq": "bigint", "occurred_at": "timestamptz",
         "actor_user_id": "bigint", "actor_agency_id": "bigint", "actor_region_id": "bigint",
         "actor_roles": "text[]", "actor_mfa": "boolean", "child_id": "bigint", "details": "jsonb"}
SELECT = ("SELECT " + CANONICAL_SQL + " FROM (SELECT "
          + ", ".join(f"%({c})s::{TYPES.get(c, 'text')} AS {c}" for c in COLUMNS) + ") AS e")


@pytest.fixture(scope="module")
def conn(database_url):
    """A plain connection: the expression is evaluated on literal values, not on the table."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SET TimeZone = 'America/New_York'")  # the session zone must not matter
        yield conn


def in_sql(conn, event: dict) -> bytes:
    params = dict(event, details=Jsonb(event["details"]))
    return bytes(conn.execute(SELECT, params).fetchone()[0])


def test_format_is_pinned():
    # Changing this is a new format version: old events would no longer verify.
    assert canonical_bytes(EVENT).startswith(
        b'{"action":"child_viewed","actor_agency_id":4,"actor_kind":"user","actor_mfa":true,')
    assert b'"at":"2026-03-01T08:30:00.000005Z"' in canonical_bytes(EVENT)
    assert b'"details":{"z": null, "mfa": false, "roles": ["a", "b"], "case_id": 5}' in \
        canonical_bytes(EVENT)
    assert hashlib.sha256(canonical_bytes(EVENT)).hexdigest() == \
        "dd367eaa3fdc3bba569c2a9727fc56fceb2a11051bdb9377d23feca8f17c7175"


def test_sql_and_python_give_the_same_bytes(conn):
    assert in_sql(conn, EVENT) == canonical_bytes(EVENT)


def test_the_hash_chains_the_previous_hash():
    prev = b"\x07" * 32
    assert event_hash(prev, b"x") == hashlib.sha256(prev + b"x").digest()


text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               max_size=40)
code = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(user_agent=text, request_id=st.none() | text, object_id=st.none() | text,
       roles=st.lists(code, max_size=3), when=st.datetimes(
           min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
           timezones=st.just(timezone.utc)),
       details=st.dictionaries(code, st.none() | st.booleans() | st.integers(-2**62, 2**62)
                               | code | st.lists(code | st.integers(0, 9), max_size=3),
                               max_size=5),
       child_id=st.none() | st.integers(1, 2**62))
def test_sql_and_python_agree_on_any_stored_values(conn, user_agent, request_id, object_id,
                                                    roles, when, details, child_id):
    event = dict(EVENT, user_agent=user_agent, request_id=request_id, object_id=object_id,
                 actor_roles=roles, occurred_at=when, details=details, child_id=child_id)
    assert in_sql(conn, event) == canonical_bytes(event)
