"""Routine upkeep of the audit log: signing checkpoints and creating next months' partitions."""
from __future__ import annotations

from audit import signing
from audit.checkpoints import SignedCheckpoint, write_checkpoint

PARTITION_MONTHS_AHEAD = 3


def checkpoint_now(conn, key_path: str | None) -> SignedCheckpoint | None:
    """Sign a checkpoint with the key at ``key_path``; None when nothing was recorded since."""
    return write_checkpoint(conn, signing.load_private_key(key_path))


def ensure_partitions(conn, months_ahead: int = PARTITION_MONTHS_AHEAD) -> int:
    """Create the monthly partitions from this month to ``months_ahead``; how many were new."""
    row = conn.execute("SELECT audit.ensure_partitions(%s) AS created", (months_ahead,)).fetchone()
    return row["created"] if isinstance(row, dict) else row[0]
