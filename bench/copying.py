"""COPY plumbing for the generator: one connection per table, fed text lines in chunks, and the
index and partition work around a bulk load.

Each table streams over its own connection, so PostgreSQL parses and stores one table's rows
while Python builds the next ones: on two cores the generator and the server work side by side.
"""
from __future__ import annotations

import time

import psycopg

US = 1_000_000
NULL = "\\N"


class Sink:
    """``COPY table (columns) FROM STDIN`` held open on a connection of its own."""

    def __init__(self, url: str, table: str, columns: tuple[str, ...], chunk: int = 5000):
        self.table = table
        self.chunk = chunk
        self.rows = 0
        self.buf: list[str] = []
        self.conn = psycopg.connect(url)
        # Bulk load as the administrative role: triggers (foreign keys, audit chaining) off for
        # this session only; the generator writes what they would have written.
        self.conn.execute("SET session_replication_role = replica")
        self.conn.execute("SET synchronous_commit = off")
        self._ctx = self.conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN")
        self.copy = self._ctx.__enter__()

    def add(self, line: str) -> None:
        buf = self.buf
        buf.append(line)
        if len(buf) >= self.chunk:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            self.copy.write("\n".join(self.buf) + "\n")
            self.rows += len(self.buf)
            self.buf = []

    def close(self) -> int:
        self.flush()
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

    def both(self, us: int) -> tuple[str, str]:
        day, rest = divmod(us, DAY_US)
        second, micro = divmod(rest, US)
        date, hms = self._days.get(day) or self._day(day), _HMS[second]
        return f"{date} {hms}.{micro:06d}+00", f"{date}T{hms}.{micro:06d}Z"


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


def build_indexes(url: str, indexes: list[tuple[str, str]], on_done=None) -> None:
    """Recreate ``indexes`` two at a time (one per core), largest tables first as listed."""
    pending = list(indexes)
    conns = [psycopg.connect(url, autocommit=True) for _ in range(2)]
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
                            raise RuntimeError(f"building {name}: {res.error_message.decode()}")
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
