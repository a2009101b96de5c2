"""The whole audit log as plain text, one event per line, for scans such as the canary test."""
from __future__ import annotations

import json

import psycopg
from psycopg.rows import dict_row


def dump_text(url: str) -> str:
    """Every stored value of every event and checkpoint at ``url`` (read as a superuser/auditor)."""
    lines = []
    with psycopg.connect(url, row_factory=dict_row) as conn:
        for row in conn.execute("SELECT * FROM audit.events ORDER BY id"):
            lines.append(json.dumps({k: _plain(v) for k, v in row.items()}, ensure_ascii=False,
                                    sort_keys=True))
        for row in conn.execute("SELECT body FROM audit.checkpoints ORDER BY id"):
            lines.append(row["body"].replace("\n", " | "))
    return "\n".join(lines) + "\n"


def _plain(value):
    if isinstance(value, (bytes, memoryview)):
        return bytes(value).hex()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
