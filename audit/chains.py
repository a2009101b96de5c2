"""Checking one hash chain: runs of ``seq``, links, recomputed hashes, and its Merkle leaves.

PostgreSQL recomputes each event's hash from the stored row with the same expression the insert
used, sent from here rather than read from the database, so a doctored function cannot vouch
for a doctored row.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from audit.canonical import GENESIS, HASH_SQL
from audit.merkle import CompactRange, leaf_hash
from audit.problems import Problem

CHAIN_QUERY = (f"SELECT seq, id, prev_hash, hash, {HASH_SQL} FROM audit.events"
               " WHERE chain = %s AND seq > %s AND seq <= %s ORDER BY seq, id")
FETCH = 20_000


@dataclass(frozen=True)
class Segment:
    """The events ``(lo, hi]`` of one chain that checkpoint ``checkpoint_id`` appended at ``offset``."""

    checkpoint_id: int
    lo: int
    hi: int
    offset: int


@dataclass
class ChainResult:
    chain: int
    events: int = 0
    last_seq: int = 0
    last_hash: bytes = GENESIS
    problems: list[Problem] = field(default_factory=list)
    ranges: dict[int, CompactRange] = field(default_factory=dict)
    hashes_at: dict[int, bytes] = field(default_factory=dict)  # seq -> stored hash, at segment ends
    first_ids: dict[int, int] = field(default_factory=dict)  # checkpoint id -> first event id


_worker_conn: psycopg.Connection | None = None


def open_worker(url: str, snapshot: str) -> None:
    """Process initialiser: one connection per worker, inside the coordinator's snapshot."""
    global _worker_conn
    _worker_conn = join_snapshot(reader(url), snapshot)


def verify_in_worker(task: tuple) -> ChainResult:
    """``verify_chain`` on the worker process's connection."""
    return verify_chain(_worker_conn, *task)


def verify_chain(conn, chain: int, start_seq: int, start_hash: bytes, stop_seq: int,
                 segments: list[Segment]) -> ChainResult:
    """Check one chain from ``start_seq`` (whose hash is ``start_hash``) up to ``stop_seq``."""
    result = ChainResult(chain, last_seq=start_seq, last_hash=start_hash)
    pending = sorted(segments, key=lambda s: s.lo)
    for s in pending:
        result.ranges[s.checkpoint_id] = CompactRange(s.offset, s.offset)
    seg = pending.pop(0) if pending else None
    expect_seq, prev = start_seq + 1, start_hash
    with conn.cursor(name=f"audit_chain_{chain}", binary=True) as cur:
        cur.itersize = FETCH
        cur.execute(CHAIN_QUERY, (chain, start_seq, stop_seq))
        for seq, event_id, prev_hash, stored, computed in cur:
            result.events += 1
            duplicate = seq < expect_seq
            if seq != expect_seq:
                kind = "duplicate_or_reordered" if duplicate else "missing_events"
                result.problems.append(Problem(
                    kind, f"expected seq {expect_seq} here, found {seq}", chain, seq, event_id))
            elif prev_hash != prev:
                result.problems.append(Problem(
                    "broken_link", "prev_hash is not the hash of the event before it",
                    chain, seq, event_id))
            if computed != stored:
                result.problems.append(Problem(
                    "altered_event", "the stored hash does not match the event's content",
                    chain, seq, event_id))
            while seg is not None and seq > seg.hi:
                seg = pending.pop(0) if pending else None
            if seg is not None and seq > seg.lo:
                rng = result.ranges[seg.checkpoint_id]
                if rng.end == rng.begin:
                    result.first_ids[seg.checkpoint_id] = event_id
                rng.append(leaf_hash(computed))  # an extra row still changes the tree
                if seq == seg.hi and not duplicate:
                    result.hashes_at[seq] = stored
            if duplicate:
                continue  # the chain goes on from the first event that held this place
            expect_seq, prev = seq + 1, stored
            result.last_seq, result.last_hash = seq, stored
    return result


def reader(url: str, **kwargs) -> psycopg.Connection:
    """A read-only REPEATABLE READ connection: one snapshot for the whole check."""
    conn = psycopg.connect(url, **kwargs)
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    return conn


def join_snapshot(conn: psycopg.Connection, snapshot: str) -> psycopg.Connection:
    """Make ``conn``'s transaction see exactly what the coordinator's exported snapshot sees."""
    if not all(ch.isalnum() or ch == "-" for ch in snapshot):
        raise ValueError("unexpected snapshot id")
    conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
    return conn
