"""The scenarios of ``bench/run.py``, each measured next to its baseline in the same run."""
from __future__ import annotations

import hashlib
import io
import os
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg

from bench import load
from bench.filing import Filer, pgbench_script

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-key-" + "x" * 40


# --- the table ------------------------------------------------------------------------------------

@dataclass
class Table:
    rows: list[tuple] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, figure: str, value: str, baseline: str = "", ratio: float | None = None,
            target: str = "", met: bool | None = None) -> None:
        self.rows.append((figure, value, baseline, ratio, target, met))
        print(f"  {figure}: {value}" + (f" vs {baseline}" if baseline else "")
              + (f" = {ratio:.2f}" if ratio is not None else "")
              + (f" (target {target}: {'met' if met else 'MISSED'})" if target else ""), flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    def render(self, *, title: str, commit: str, machine: str, command: str, elapsed: float) -> str:
        lines = [f"## {title}", "", f"Commit `{commit}`; machine: {machine}.  ",
                 f"Command: `{command}` (took {elapsed / 60:.1f} min).", "",
                 "| figure | measured | baseline (same run) | ratio | target | met? |",
                 "|---|---|---|---|---|---|"]
        for figure, value, baseline, ratio, target, met in self.rows:
            lines.append(f"| {figure} | {value} | {baseline} | "
                         f"{'' if ratio is None else f'{ratio:.2f}'} | {target} | "
                         f"{'' if met is None else 'yes' if met else '**no**'} |")
        if self.notes:
            lines += [""] + [f"- {n}" for n in self.notes]
        return "\n".join(lines)


# --- who acts ---------------------------------------------------------------------------------------

@dataclass
class World:
    filer: Filer
    filer_token: str
    reader: int
    reader_token: str
    case_ids: list[int]
    supervisor: int
    supervisor_token: str


def _token(conn, user_id: int, name: str, mfa: bool) -> str:
    raw = "qg_bench_" + hashlib.sha256(f"{name}:{user_id}:{time.time_ns()}".encode()).hexdigest()[:40]
    conn.execute("INSERT INTO api_tokens (token_hash, kind, user_id, agency_id, name, mfa, created_by,"
                 " expires_at) SELECT %s, 'personal', u.id, u.agency_id, %s, %s, u.id, now() + interval '1 day'"
                 " FROM users u WHERE u.id = %s",
                 (hashlib.sha256(raw.encode()).digest(), name, mfa, user_id))
    return raw


def pick_world(url: str) -> World:
    """A school caseworker who files, the caseworker with most cases, a busy supervisor."""
    with psycopg.connect(url, autocommit=True) as conn:
        user, agency, region, district = conn.execute(
            """SELECT min(u.id), a.id, a.region_id, a.district_id
                 FROM agencies a JOIN users u ON u.agency_id = a.id
                 JOIN user_roles r ON r.user_id = u.id AND r.role = 'caseworker'
                WHERE a.kind = 'school' GROUP BY a.id ORDER BY a.id LIMIT 1""").fetchone()
        children = tuple(c for (c,) in conn.execute(
            "SELECT id FROM children WHERE created_by_agency_id = %s ORDER BY id LIMIT 200", (agency,)))
        recipient = conn.execute("SELECT id FROM agencies WHERE kind = 'social_services' AND district_id = %s",
                                 (district,)).fetchone()[0]
        reader = conn.execute(
            """SELECT assigned_user_id FROM case_participants WHERE assigned_user_id IS NOT NULL
                GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1""").fetchone()[0]
        case_ids = [r[0] for r in conn.execute(
            "SELECT case_id FROM case_participants WHERE assigned_user_id = %s AND left_at IS NULL"
            " ORDER BY case_id DESC LIMIT 2000", (reader,))]
        supervisor = conn.execute(
            """SELECT r.user_id FROM escalations e JOIN users u ON u.agency_id = e.agency_id
                 JOIN user_roles r ON r.user_id = u.id AND r.role = 'supervisor'
                WHERE e.state <> 'resolved' GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1""").fetchone()
        if supervisor is None:
            supervisor = conn.execute("SELECT user_id FROM user_roles WHERE role = 'supervisor' ORDER BY 1"
                                      " LIMIT 1").fetchone()
        world = World(Filer(user, agency, region, district, recipient, children),
                      _token(conn, user, "bench-filer", False), reader,
                      _token(conn, reader, "bench-reader", False), case_ids, supervisor[0],
                      _token(conn, supervisor[0], "bench-supervisor", True))
    return world


# --- audit chains after load ----------------------------------------------------------------------

def chain_heads(url: str) -> dict[int, tuple[int, bytes]]:
    with psycopg.connect(url) as conn:
        return {c: (s, bytes(h)) for c, s, h in conn.execute("SELECT chain, seq, hash FROM audit.chain_heads")}


def chain_breaks(url: str, before: dict[int, tuple[int, bytes]]) -> tuple[int, int]:
    """(events checked, problems) in every chain past the heads seen before a load run."""
    try:
        from audit.chains import verify_chain
    except ImportError:  # before verification was split into modules
        from audit.verify import verify_chain
    events = problems = 0
    with psycopg.connect(url) as conn:
        for chain, (seq, digest) in sorted(before.items()):
            result = verify_chain(conn, chain, seq, digest, 2**62, [])
            events += result.events
            problems += len(result.problems)
    return events, problems


def _check_chains(table: Table, url: str, before, label: str) -> None:
    events, problems = chain_breaks(url, before)
    table.add(f"audit chain breaks after {label}", f"{problems} in {events:,} new events", "", None,
              "0", problems == 0)


# --- filing -------------------------------------------------------------------------------------------

def filing(table: Table, url: str, app_url: str, world: World, qorgau, bare, seconds: int, *, full: bool) -> None:
    """POST /api/v1/referrals against pgbench on the same transaction, and the bare app's POST."""
    script = pgbench_script(world.filer)
    raw = {}
    before = chain_heads(url)
    for clients in (1, 4, 8):
        raw[clients] = load.pgbench(app_url, script, clients=clients, seconds=seconds)
        table.add(f"raw filing transaction, pgbench, {clients} client{'s' * (clients > 1)}",
                  f"{raw[clients].rps:.0f} tx/s, p99 {raw[clients].p99_ms:.1f} ms"
                  + (f", {raw[clients].errors} failed" if raw[clients].errors else ""))
    _check_chains(table, url, before, "pgbench")
    body = {"children": [{"child_id": load.ID_IN_BODY}], "categories": ["neglect"],
            "observed_at": (datetime.now(timezone.utc) - timedelta(hours=3)).isoformat(timespec="seconds"),
            "observed_place": "школа", "observation": "Ребёнок приходит в школу голодным, в грязной одежде.",
            "receiving_agency_ids": [world.filer.recipient], "submit": True}
    before = chain_heads(url)
    for clients in ((1, 4, 8) if full else (4,)):
        bare_post = load.wrk(bare.url, "/referrals", seconds=seconds, connections=clients, method="POST", body={})
        real = load.wrk(qorgau.url, "/api/v1/referrals", seconds=seconds, connections=clients,
                        method="POST", body=body, token=world.filer_token, ids=list(world.filer.children))
        ratio = real.rps / raw[clients].rps if raw[clients].rps else None
        table.add(f"filing POST /api/v1/referrals, {clients} connections", _fmt(real),
                  f"pgbench {raw[clients].rps:.0f} tx/s", ratio, "≥ 0.60× at 4" if clients == 4 else "",
                  (ratio or 0) >= 0.60 if clients == 4 else None)
        p99_ratio = real.p99_ms / bare_post.p99_ms if bare_post.p99_ms else None
        table.add(f"filing p99 vs bare POST, {clients} connections", f"p99 {real.p99_ms:.1f} ms",
                  f"bare POST {_fmt(bare_post)}", p99_ratio, "≤ 2×" if clients == 4 else "",
                  (p99_ratio or 99) <= 2 if clients == 4 else None)
    _check_chains(table, url, before, "filing")


def _fmt(r: load.LoadResult) -> str:
    text = f"{r.rps:.0f} req/s, p50 {r.p50_ms:.1f} ms, p99 {r.p99_ms:.1f} ms"
    return text + (f", {r.errors} errors of {r.requests}" if r.errors else "")


# --- case read ---------------------------------------------------------------------------------------

def case_read(table: Table, url: str, world: World, qorgau, bare, seconds: int) -> None:
    before = chain_heads(url)
    base = load.wrk(bare.url, "/pk/{id}", seconds=seconds, connections=4, ids=world.case_ids)
    real = load.wrk(qorgau.url, "/api/v1/cases/{id}", seconds=seconds, connections=4, ids=world.case_ids,
                    token=world.reader_token)
    ratio = real.rps / base.rps if base.rps else None
    table.add(f"case read GET /api/v1/cases/{{id}} ({len(world.case_ids)} cases of one worker), 4 connections",
              _fmt(real), f"bare PK select {_fmt(base)}", ratio, "≥ 0.50×", (ratio or 0) >= 0.5)
    _check_chains(table, url, before, "case reads")


# --- queues ------------------------------------------------------------------------------------------

def _capture(url: str, path: str, token: str) -> list[tuple[str, object]]:
    """The SELECT statements one request sends, in order (through the app, in this process)."""
    from services.app import create_app
    from services.settings import Settings, app_url_from

    app = create_app(Settings(database_url=url, app_database_url=app_url_from(url, None),
                              secret_key=SECRET, base_url="http://127.0.0.1", cookie_secure=False,
                              log_level="WARNING"))
    try:
        with sent_statements() as sent:
            response = app.test_client().get(path, headers={"Authorization": "Bearer " + token})
    finally:
        app.extensions["qorgau_db"].close()
    if response.status_code != 200:
        raise RuntimeError(f"GET {path}: {response.status_code} {response.get_data(as_text=True)[:300]}")
    return [(text, params) for text, params in sent if text.lstrip().upper().startswith(("SELECT", "WITH"))]


@contextmanager
def sent_statements():
    """[(text, params)] of every statement sent through a psycopg cursor in this process meanwhile."""
    seen: list[tuple[str, object]] = []
    original = psycopg.Cursor.execute

    def spy(self, query, params=None, **kw):
        seen.append((query if isinstance(query, str) else query.as_string(self), params))
        return original(self, query, params, **kw)

    psycopg.Cursor.execute = spy
    try:
        yield seen
    finally:
        psycopg.Cursor.execute = original


@contextmanager
def begun_transactions():
    """A list that gains one entry per transaction begun in this process meanwhile: each
    ``Connection.transaction()`` or statement that finds its connection outside a transaction
    (psycopg then sends BEGIN first, which no cursor sees)."""
    begun: list[int] = []
    idle = psycopg.pq.TransactionStatus.IDLE
    transaction, execute = psycopg.Connection.transaction, psycopg.Cursor.execute

    def spy_transaction(self, *args, **kwargs):
        if self.info.transaction_status == idle:
            begun.append(self.info.backend_pid)
        return transaction(self, *args, **kwargs)

    def spy_execute(self, *args, **kwargs):
        if self.connection.info.transaction_status == idle:
            begun.append(self.connection.info.backend_pid)
        return execute(self, *args, **kwargs)

    psycopg.Connection.transaction, psycopg.Cursor.execute = spy_transaction, spy_execute
    try:
        yield begun
    finally:
        psycopg.Connection.transaction, psycopg.Cursor.execute = transaction, execute


def _replay(conn, statements, rounds: int) -> list[float]:
    """Milliseconds per replay of ``statements`` in one transaction, ``rounds`` times."""
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        with conn.transaction():
            for text, params in statements:
                conn.execute(text, params).fetchall()
        times.append((time.perf_counter() - t) * 1000)
    return times


def queues(table: Table, url: str, world: World, qorgau, seconds: int, *, rounds: int = 40) -> None:
    """Caseworker's case list and supervisor's escalation queue: HTTP p99; SQL with and without RLS."""
    app_url = url.replace("postgres@", "qorgau_app@", 1)
    for label, path, token in (("caseworker queue GET /api/v1/cases", "/api/v1/cases?limit=25", world.reader_token),
                               ("supervisor escalation queue GET /api/v1/escalations", "/api/v1/escalations",
                                world.supervisor_token)):
        before = chain_heads(url)
        http = load.wrk(qorgau.url, path, seconds=seconds, connections=4, token=token)
        table.add(f"{label}, 4 connections", _fmt(http), "", None, "p99 < 20 ms", http.p99_ms < 20)
        _check_chains(table, url, before, label.split(" GET")[0])
        statements = [(t, p) for t, p in _capture(url, path, token) if "api_tokens" not in t]
        rls, plain = [], []
        # One connection per side for the whole comparison, warmed up first, as the app's pooled
        # connections are: psycopg prepares a statement on its fifth run, and PostgreSQL then
        # keeps its plan. Planning is part of neither side's steady state (a fresh connection
        # per few rounds would time mostly planning, which policies make larger).
        with psycopg.connect(app_url) as as_app, psycopg.connect(url) as as_owner:
            _replay(as_app, statements, rounds)
            _replay(as_owner, statements, rounds)
            for _ in range(5):  # alternate, so drift on a shared machine hits both alike
                rls += _replay(as_app, statements, rounds)
                plain += _replay(as_owner, statements, rounds)
        ratio = statistics.median(rls) / statistics.median(plain)
        table.add(f"{label.split(' GET')[0]} SQL ({len(statements)} statements), row-level security",
                  f"median {statistics.median(rls):.2f} ms, p99 {_p99(rls):.2f} ms",
                  f"superuser, no RLS: median {statistics.median(plain):.2f} ms, p99 {_p99(plain):.2f} ms",
                  ratio, "≤ 1.2×", ratio <= 1.2)


def _p99(values: list[float]) -> float:
    return sorted(values)[min(len(values) - 1, int(0.99 * (len(values) - 1)))]


# --- audit verify ------------------------------------------------------------------------------------

def verify_all(table: Table, url: str) -> None:
    from audit.canonical import CANONICAL_SQL
    from audit.verify import verify

    t = time.perf_counter()
    report = verify(url)
    elapsed = time.perf_counter() - t
    rate = report.events / elapsed
    with psycopg.connect(url) as conn:
        rows = [(bytes(p), bytes(c)) for p, c in conn.execute(
            f"SELECT prev_hash, {CANONICAL_SQL} FROM audit.events LIMIT 1000000")]
    t = time.perf_counter()
    for prev, body in rows:
        hashlib.sha256(prev + body).digest()
    bare = len(rows) / (time.perf_counter() - t) if rows else float("nan")
    table.add(f"audit verify, {report.events:,} events ({os.cpu_count()} workers)",
              f"{rate:,.0f} events/s ({elapsed:.1f} s)", f"bare hashlib loop {bare:,.0f} events/s",
              rate / bare if rows else None, "≥ 1 M events/s", rate >= 1_000_000)
    table.add("audit chain breaks, whole log", f"{len(report.problems)} problems", "", None, "0", report.ok)


# --- clock sweep -------------------------------------------------------------------------------------

CLOCK_COLUMNS = ("kind", "subject_type", "subject_id", "region_id", "agency_id", "priority", "policy_id",
                 "amount", "unit", "started_at", "due_at", "reminder_at", "level_2_at", "level_3_at",
                 "next_action_at")


def _add_clocks(url: str, n: int, *, due: bool, offset: int) -> None:
    now = datetime.now(timezone.utc)
    with psycopg.connect(url) as conn:
        conn.execute("SET session_replication_role = replica")
        policy = conn.execute("SELECT id FROM deadline_policies WHERE region_id IS NULL ORDER BY version DESC"
                              " LIMIT 1").fetchone()[0]
        owners = conn.execute("SELECT DISTINCT a.id, a.region_id FROM agencies a JOIN users u ON u.agency_id = a.id"
                              " JOIN user_roles r ON r.user_id = u.id AND r.role = 'supervisor' ORDER BY 1").fetchall()
        if due:
            times = [now - timedelta(days=5), now - timedelta(hours=1), now - timedelta(days=2),
                     now + timedelta(days=1), now + timedelta(days=5), now - timedelta(minutes=1)]
        else:
            times = [now - timedelta(days=10), now + timedelta(days=80), now + timedelta(days=50),
                     now + timedelta(days=82), now + timedelta(days=86), now + timedelta(days=50)]
        stamp = [t.isoformat() for t in times]
        with conn.cursor().copy(f"COPY clocks ({', '.join(CLOCK_COLUMNS)}) FROM STDIN") as copy:
            buf = io.StringIO()
            for i in range(n):
                agency, region = owners[i % len(owners)]
                buf.write(f"first_review\tcase\t{offset + i}\t{region}\t{agency}\tstandard\t{policy}\t3\tmonths\t"
                          + "\t".join(stamp) + "\n")
                if i % 50000 == 49999:
                    copy.write(buf.getvalue())
                    buf = io.StringIO()
            copy.write(buf.getvalue())
        conn.commit()
        conn.execute("ANALYZE clocks")
        conn.commit()


def _sweep_once(url: str) -> tuple[float, int]:
    code = ("import time, json; from services.app import create_app; from services.settings import Settings;"
            "from services.clocks.sweep import sweep; import sys;"
            f"app = create_app(Settings(database_url={url!r}, app_database_url={url.replace('postgres@', 'qorgau_app@', 1)!r},"
            f" secret_key={SECRET!r}, log_level='WARNING'));"
            "ctx = app.app_context(); ctx.push(); t = time.perf_counter();"
            "r = sweep(app.extensions['qorgau_db']); print(json.dumps([time.perf_counter() - t, r.clocks]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    import json
    elapsed, clocks = json.loads(out.strip().splitlines()[-1])
    return elapsed, clocks


def sweep(table: Table, admin: str, *, open_large: int, repeats: int = 3) -> None:
    """1,000 due clocks among 10 k open ones, then among ``open_large``, in a database of their own."""
    from bench.run import flask, recreate

    url = recreate(admin, "qorgau_bench_sweep")
    flask(url, "bench", "generate", "--children", "2000", "--referrals", "0", "--audit-events", "0",
          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = {}
    offset = 0
    before = chain_heads(url)
    for total in (10_000, open_large):
        with psycopg.connect(url) as conn:
            have = conn.execute("SELECT count(*) FROM clocks WHERE next_action_at IS NOT NULL").fetchone()[0]
        filler = max(0, total - have - 1000)
        _add_clocks(url, filler, due=False, offset=offset)
        offset += filler
        times = []
        for _ in range(repeats):
            _add_clocks(url, 1000, due=True, offset=offset)
            offset += 1000
            elapsed, clocks = _sweep_once(url)
            times.append(elapsed)
        results[total] = (statistics.median(times), clocks)
    small, large = results[10_000], results[open_large]
    ratio = large[0] / small[0]
    table.add(f"clock sweep, 1,000 due among {open_large:,} open (median of {repeats})",
              f"{large[0] * 1000:.0f} ms ({large[1]} clocks)",
              f"among 10,000 open: {small[0] * 1000:.0f} ms", ratio, "≤ 1.5×", ratio <= 1.5)
    _check_chains(table, url, before, "sweeps")


def outbox(table: Table, admin: str, *, full: bool) -> None:
    """Outbox relay and commit-to-SMTP latency, as bench/clocks_bench.py measures them."""
    import re

    script = ROOT / "bench" / "clocks_bench.py"
    if not script.exists():
        table.note("outbox relay and commit-to-SMTP latency: not measured in this run "
                   "(bench/clocks_bench.py, which measures them, is not in this commit)")
        return
    args = ["--open", "10000", "--due", "200", "--messages", "5000" if full else "2000",
            "--rounds", "5" if full else "3", "--latency", "50" if full else "30"]
    try:
        out = subprocess.run([sys.executable, str(script), *args], cwd=ROOT, check=True, capture_output=True,
                             text=True, timeout=1800, env={**os.environ, "TEST_ADMIN_DATABASE_URL": admin}).stdout
    except (subprocess.SubprocessError, OSError) as exc:
        table.note(f"outbox relay and commit-to-SMTP latency: bench/clocks_bench.py failed ({exc})")
        return
    publish = re.search(r"bare send_task ([\d,]+)/s, outbox relay ([\d,]+)/s, ratio ([\d.]+)", out)
    latency = re.search(r"commit-to-SMTP: p50 (\d+) ms, p95 (\d+) ms", out)
    if publish:
        bare, relay, ratio = publish.groups()
        table.add("outbox relay to the broker (clocks_bench.py)", f"{relay} messages/s",
                  f"bare Celery send_task {bare}/s", float(ratio), "≥ 0.70×", float(ratio) >= 0.70)
    if latency:
        p50, p95 = latency.groups()
        table.add("commit-to-SMTP latency, idle (clocks_bench.py)", f"p50 {p50} ms, p95 {p95} ms", "", None,
                  "p95 < 1 s", int(p95) < 1000)
    if not (publish and latency):
        table.note("bench/clocks_bench.py printed no relay or latency figures: " + out[-300:].replace("\n", " "))
