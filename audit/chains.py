"""Checking one hash chain: runs of ``seq``, links, recomputed hashes, and its Merkle leaves.

PostgreSQL recomputes each event's hash from the stored row with the same expression the insert
used, sent from here rather than read from the database, so a doctored function cannot vouch
for a doctored row. The rows stream out of one ``COPY ... TO STDOUT (FORMAT BINARY)`` per chain,
read straight from libpq: PostgreSQL goes on rendering and hashing while this process checks
what it has received, where a cursor's fetches would make each wait for the other, and the
per-row cost on this side stays around a microsecond.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

import psycopg

from audit.canonical import GENESIS, HASH_SQL
from audit.merkle import CompactRange, leaf_hash
from audit.problems import Problem

CHAIN_COPY = (f"COPY (SELECT seq, id, prev_hash, hash, {HASH_SQL} FROM audit.events"
              " WHERE chain = %d AND seq > %d AND seq <= %d ORDER BY seq, id) TO STDOUT (FORMAT BINARY)")
# A row of CHAIN_COPY whose columns all hold values of the usual sizes: (field count, then each
# field's length and bytes) for seq, id, prev_hash, hash and the recomputed hash.
_ROW = struct.Struct("!hiqiqi32si32si32s")
_USUAL = (5, 8, 8, 32, 32, 32)
_SIGNATURE = b"PGCOPY\n\xff\r\n\0"


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
    for seq, event_id, prev_hash, stored, computed in chain_rows(conn, chain, start_seq, stop_seq):
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


def chain_rows(conn: psycopg.Connection, chain: int, start_seq: int, stop_seq: int):
    """``(seq, id, prev_hash, hash, recomputed hash)`` of the chain's events with ``start_seq <
    seq <= stop_seq``, in ``seq`` then ``id`` order; NULL columns come back as None."""
    pgconn = conn.pgconn
    statement = CHAIN_COPY % (chain, start_seq, stop_seq)
    with conn.lock:
        pgconn.send_query(statement.encode())
        res = pgconn.get_result()
        if res is None or res.status != psycopg.pq.ExecStatus.COPY_OUT:
            message = res.error_message.decode() if res is not None else "COPY did not start"
            while pgconn.get_result() is not None:
                pass
            raise psycopg.DatabaseError(message)
        get = pgconn.get_copy_data
        unpack, size = _ROW.unpack, _ROW.size
        first = True
        while True:
            nbytes, data = get(0)
            if nbytes < 0:
                break
            data = bytes(data)
            if first:
                first = False
                if not data.startswith(_SIGNATURE):
                    raise psycopg.DataError("the binary COPY has no signature")
                data = data[19 + int.from_bytes(data[15:19], "big"):]
                if not data:
                    continue
            if data == b"\xff\xff":
                continue  # the trailer
            if len(data) == size:
                n, a, seq, b, event_id, c, prev_hash, d, stored, e, computed = unpack(data)
                if (n, a, b, c, d, e) == _USUAL:
                    yield seq, event_id, prev_hash, stored, computed
                    continue
            yield _fields(data)
        errors = []
        while (res := pgconn.get_result()) is not None:
            if res.status != psycopg.pq.ExecStatus.COMMAND_OK:
                errors.append(res.error_message.decode())
        if errors:
            raise psycopg.DatabaseError(errors[0])


def _fields(data: bytes) -> tuple:
    """A CHAIN_COPY row of any shape (NULLs, hashes of other lengths): seq and id as integers,
    the rest as bytes, NULL as None."""
    count, pos, out = int.from_bytes(data[:2], "big"), 2, []
    for k in range(count):
        length = int.from_bytes(data[pos:pos + 4], "big", signed=True)
        pos += 4
        if length < 0:
            out.append(None)
            continue
        value = data[pos:pos + length]
        pos += length
        out.append(int.from_bytes(value, "big", signed=True) if k < 2 else value)
    return tuple(out)


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
