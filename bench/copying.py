"""COPY plumbing for the generator: one connection per table, fed text lines (or, for the audit
events, binary rows) in chunks, and the index and partition work around a bulk load.

Each table streams over its own connection, so PostgreSQL parses and stores one table's rows
while Python builds the next ones: on two cores the generator and the server work side by side.
"""
from __future__ import annotations

import struct
import time

import psycopg

US = 1_000_000
NULL = "\\N"

BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\0" + bytes(8)  # signature, flags, header extension
BINARY_TRAILER = b"\xff\xff"
BINARY_NULL = b"\xff\xff\xff\xff"
PG_EPOCH_US = 946_684_800 * US  # binary timestamps count microseconds from 2000-01-01 UTC
_LEN = struct.Struct("!i")
_INT8 = struct.Struct("!iq")


def b_text(value: str | None) -> bytes:
    """A text field of a binary COPY row (length and UTF-8 bytes, or NULL)."""
    if value is None:
        return BINARY_NULL
    data = value.encode()
    return _LEN.pack(len(data)) + data


def b_int8(value: int | None) -> bytes:
    return BINARY_NULL if value is None else _INT8.pack(8, value)


def b_bool(value: bool) -> bytes:
    return b"\x00\x00\x00\x01" + (b"\x01" if value else b"\x00")


def b_text_array(values: list[str], text_oid: int = 25) -> bytes:
    """A one-dimensional ``text[]`` without NULLs, in PostgreSQL's binary array form."""
    body = struct.pack("!iiiii", 1, 0, text_oid, len(values), 1) + b"".join(b_text(v) for v in values)
    return _LEN.pack(len(body)) + body


def b_jsonb(text: str) -> bytes:
    """A ``jsonb`` field: version byte 1, then the JSON text."""
    data = text.encode()
    return _LEN.pack(len(data) + 1) + b"\x01" + data


class Sink:
    """``COPY table (columns) FROM STDIN`` held open on a connection of its own, fed text lines
    or, with ``binary``, ready-made binary COPY rows."""

    def __init__(self, url: str, table: str, columns: tuple[str, ...], chunk: int = 5000,
                 binary: bool = False):
        self.table = table
        self.chunk = chunk
        self.binary = binary
        self.rows = 0
        self.buf: list = []
        self.conn = psycopg.connect(url)
        # Bulk load as the administrative role: triggers (foreign keys, audit chaining) off for
        # this session only; the generator writes what they would have written.
        self.conn.execute("SET session_replication_role = replica")
        self.conn.execute("SET synchronous_commit = off")
        self._ctx = self.conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN"
                                            + (" (FORMAT BINARY)" if binary else ""))
        self.copy = self._ctx.__enter__()
        if binary:
            self.copy.write(BINARY_SIGNATURE)

    def add(self, line) -> None:
        buf = self.buf
        buf.append(line)
        if len(buf) >= self.chunk:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            self.copy.write(b"".join(self.buf) if self.binary else "\n".join(self.buf) + "\n")
            self.rows += len(self.buf)
            self.buf = []

    def close(self) -> int:
        self.flush()
        if self.binary:
            self.copy.write(BINARY_TRAILER)
        self._ctx.__exit__(None, None, None)
        self.conn.commit()
        self.conn.close()
        return self.rows


_HMS = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]
DAY_US = 86400 * US


class Timestamps:
    """Microseconds since the epoch as COPY text (``2026-01-02 03:04:05.000006+00``) and as the
    audit canonical form (``2026-01-02T03:04:05.000006Z``); dates are cached, times looked up."""

    def __init__(self):
        self._days: dict[int, str] = {}

    def _day(self, day: int) -> str:
        text = self._days.get(day)
        if text is None:
            text = self._days[day] = time.strftime("%Y-%m-%d", time.gmtime(day * 86400))
        return text

    def copy(self, us: int) -> str:
        day, rest = divmod(us, DAY_US)
        second, micro = divmod(rest, US)
        return f"{self._days.get(day) or self._day(day)} {_HMS[second]}.{micro:06d}+00"

    def canonical(self, us: int) -> str:
        """``2026-01-02T03:04:05.000006Z``, the audit canonical form."""
        day, rest = divmod(us, DAY_US)
        second, micro = divmod(rest, US)
        return f"{self._days.get(day) or self._day(day)}T{_HMS[second]}.{micro:06d}Z"


def secondary_indexes(conn, tables: list[str]) -> list[tuple[str, str]]:
    """(name, definition) of every index on ``tables`` that no constraint owns."""
    rows = conn.execute(
        """SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
             FROM pg_index i
             JOIN pg_class t ON t.oid = i.indrelid
            WHERE i.indrelid = ANY (%s::regclass[])
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
              AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)
            ORDER BY 1""", (tables,)).fetchall()
    return [(name, definition.replace(" ON ONLY ", " ON ")) for name, definition in rows]


def drop_indexes(conn, indexes: list[tuple[str, str]]) -> None:
    for name, _ in indexes:
        conn.execute(f"DROP INDEX {name}")


def run_parallel(url: str, jobs: list[tuple[str, str]], on_done=None, width: int = 2) -> None:
    """Run ``jobs`` ((label, statement): index builds, ANALYZE) ``width`` at a time, in order."""
    pending = list(jobs)
    conns = [psycopg.connect(url, autocommit=True) for _ in range(width)]
    try:
        for conn in conns:
            conn.execute("SET maintenance_work_mem = '512MB'")
            conn.execute("SET max_parallel_maintenance_workers = 0")
        running: list[tuple[psycopg.Connection, str]] = []
        while pending or running:
            while pending and len(running) < len(conns):
                conn = next(c for c in conns if all(c is not r[0] for r in running))
                name, definition = pending.pop(0)
                conn.pgconn.send_query(definition.encode())
                running.append((conn, name))
            time.sleep(0.05)
            for conn, name in list(running):
                conn.pgconn.consume_input()
                if not conn.pgconn.is_busy():
                    while (res := conn.pgconn.get_result()) is not None:
                        if res.status == psycopg.pq.ExecStatus.FATAL_ERROR:
                            raise RuntimeError(f"{name}: {res.error_message.decode()}")
                    running.remove((conn, name))
                    if on_done:
                        on_done(name)
    finally:
        for conn in conns:
            conn.close()


def month_partitions(conn, first_us: int, last_us: int) -> list[tuple[str, str]]:
    """Create the monthly audit partitions between two instants that do not exist yet, as
    ``audit.ensure_partitions`` would have created them month by month; return the definitions
    of their indexes (copied from a partition that function made), to build after the load."""
    template = conn.execute(
        """SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'audit.events'::regclass AND c.relname ~ '^events_y[0-9]{4}m[0-9]{2}$'
            ORDER BY 1 LIMIT 1""").fetchone()
    index_defs = []
    if template:
        index_defs = [d for (d,) in conn.execute(
            """SELECT pg_get_indexdef(x.indexrelid) FROM pg_index x
                WHERE x.indrelid = %s::regclass
                  AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = x.indexrelid)
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)""",
            (f"audit.{template[0]}",))]
    t = time.gmtime(first_us // US)
    year, month = t.tm_year, t.tm_mon
    stop = time.gmtime(last_us // US)
    created = []
    while (year, month) <= (stop.tm_year, stop.tm_mon):
        name = f"events_y{year:04d}m{month:02d}"
        nxt = (year + month // 12, month % 12 + 1)
        if conn.execute("SELECT to_regclass(%s)", (f"audit.{name}",)).fetchone()[0] is None:
            conn.execute(f"CREATE TABLE audit.{name} PARTITION OF audit.events FOR VALUES FROM "
                         f"('{year:04d}-{month:02d}-01 00:00+00') TO ('{nxt[0]:04d}-{nxt[1]:02d}-01 00:00+00')")
            conn.execute(f"ALTER TABLE audit.{name} OWNER TO qorgau_audit_owner")
            conn.execute(f"CREATE TRIGGER no_truncate BEFORE TRUNCATE ON audit.{name} "
                         "FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change()")
            for definition in index_defs:
                created.append((f"audit.{name}", definition.replace(template[0], name)))
        year, month = nxt
    return created
