"""Verification reads each chain as a binary COPY stream: rows of unusual shape (a NULL or a hash
of another length, as a forger with the triggers off could leave) are reported, not misread."""
from __future__ import annotations

import struct

from audit.chains import _fields
from audit.verify import verify
from tests.audit.conftest import admin_connection, app_connection, record_views, tamper


def test_a_row_of_any_shape_is_read_field_by_field():
    row = (struct.pack("!hiqiq", 5, 8, 7, 8, -3) + struct.pack("!i", 3) + b"abc"
           + struct.pack("!i", -1) + struct.pack("!i", 32) + b"x" * 32)
    assert _fields(row) == (7, -3, b"abc", None, b"x" * 32)


def test_a_short_or_missing_hash_is_named_not_misread(fresh_db_url):
    with app_connection(fresh_db_url) as conn:
        record_views(conn, 4)
    with admin_connection(fresh_db_url) as conn:
        first, second = [r["id"] for r in conn.execute(
            "SELECT id FROM audit.events ORDER BY id LIMIT 2").fetchall()]
    with admin_connection(fresh_db_url) as conn:  # a forger drops what would refuse the edits
        names = [r["conname"] for r in conn.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'audit.events'::regclass"
            " AND contype = 'c'")]
    for name in names:
        tamper(fresh_db_url, f"ALTER TABLE audit.events DROP CONSTRAINT {name}")
    tamper(fresh_db_url, "ALTER TABLE audit.events ALTER COLUMN prev_hash DROP NOT NULL")
    tamper(fresh_db_url, "UPDATE audit.events SET hash = '\\x00'::bytea WHERE id = %s", (first,))
    tamper(fresh_db_url, "UPDATE audit.events SET prev_hash = NULL WHERE id = %s", (second,))
    report = verify(fresh_db_url, workers=1)
    named = {(p.kind, p.event_id) for p in report.problems}
    assert ("altered_event", first) in named
    assert ("altered_event", second) in named or ("broken_link", second) in named
    assert report.events == 4
