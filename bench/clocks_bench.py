"""Clocks benchmarks (issue 5, "Speed"): sweep cost against open clocks, relay throughput, and
commit-to-SMTP latency.

    .venv/bin/python bench/clocks_bench.py [--open 10000 1000000] [--due 1000] [--messages 2000]
                                           [--rounds 3] [--latency 50] [--verbose]

1. Sweep: 1,000 due clocks among 10 k and among 1 M open ones, in a scratch database. The open
   clocks are bulk-loaded (not yet due), the due ones get one ladder step each (level 1, which
   writes an escalation, a step, an outbox row and an audit event). The sweep reads due rows
   through the partial index on ``next_action_at``, so the target is a ratio of at most 1.5.
2. Relay: N outbox rows relayed to Redis by ``relay_once`` (claim with SKIP LOCKED, publish, mark)
   against N bare ``send_task`` calls of a no-op task to the same broker, in the same run. Both
   measure messages handed to the broker per second (target: relay ≥ 0.70 × bare). The broker is
   a private ``redis-server``, and the two alternate over several rounds (medians reported), so
   other work on the machine does not favour one of them.
3. Latency: with the relay (woken by LISTEN/NOTIFY) and a Celery worker running, one outbox row
   is committed at a time and the time until an SMTP server (aiosmtpd) holds the message is
   measured; p50 and p95 (target p95 < 1 s).

Needs PostgreSQL at TEST_ADMIN_DATABASE_URL and ``redis-server`` on the PATH.
"""
from __future__ import annotations

import argparse
import tempfile
import os
import platform
import statistics
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import redis
from celery import Celery

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audit import Actor  # noqa: E402
from services import broker, outbox  # noqa: E402
from services.app import create_app  # noqa: E402
from services.clocks import sweep  # noqa: E402
from services.migrate import upgrade  # noqa: E402
from tests.clocks.harness import PrivateRedis, Stack, make_people, wait_for  # noqa: E402
from tests.clocks.smtp import free_port, smtp_server  # noqa: E402
from tests.conftest import make_settings  # noqa: E402
from workflows import outbox as relay  # noqa: E402

ADMIN_URL = os.environ.get("TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SYSTEM = Actor.system("bench")


def scratch_database() -> str:
    name = f"qorgau_clocks_bench_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rpartition("/")[0] + "/" + name
    upgrade(url)
    return url


def drop_database(url: str) -> None:
    name = url.rpartition("/")[2]
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- 1. the sweep -------------------------------------------------------------------------------

LOAD = """
INSERT INTO clocks (kind, subject_type, subject_id, region_id, agency_id, priority, policy_id,
                    amount, unit, started_at, due_at, reminder_at, level_2_at, level_3_at,
                    next_action_at)
SELECT 'screening_decision', 'referral', %(first)s + g, %(region)s, %(agency)s, 'urgent', 1,
       1, 'working_days', %(now)s + %(start)s, %(now)s + %(due)s, %(now)s + %(due)s,
       %(now)s + %(l2)s, %(now)s + %(l3)s, %(now)s + %(next)s
  FROM generate_series(1, %(count)s) AS g
"""


def load_clocks(url: str, people: dict, count: int, *, first: int, due: bool) -> None:
    now = datetime.now(timezone.utc)
    # Due clocks breached a day ago and are level 2 tomorrow: each sweep takes one step. The
    # others are due in a week.
    offsets = ({"start": timedelta(days=-3), "due": timedelta(days=-1), "l2": timedelta(days=1),
                "l3": timedelta(days=5), "next": timedelta(days=-1)} if due else
               {"start": timedelta(hours=-1), "due": timedelta(days=7), "l2": timedelta(days=8),
                "l3": timedelta(days=12), "next": timedelta(days=6)})
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(LOAD, {"first": first, "region": people["region_id"],
                            "agency": people["agency_id"], "now": now, "count": count, **offsets})
        conn.execute("ANALYZE clocks")


def time_sweep(app, url: str, people: dict, open_count: int, due: int) -> dict:
    with psycopg.connect(url, autocommit=True) as conn:
        present = conn.execute("SELECT count(*) FROM clocks WHERE stopped_at IS NULL").fetchone()[0]
    if present < open_count - due:
        load_clocks(url, people, open_count - due - present, first=10_000_000 + present, due=False)
    load_clocks(url, people, due, first=100_000_000 + open_count, due=True)
    db = app.extensions["qorgau_db"]
    with app.app_context():
        started = time.perf_counter()
        result = sweep.sweep(db)
        seconds = time.perf_counter() - started
    with psycopg.connect(url, autocommit=True) as conn:
        plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS) SELECT id FROM clocks"
                            " WHERE next_action_at <= now() ORDER BY next_action_at LIMIT 200"
                            ).fetchall()
        total = conn.execute("SELECT count(*) FROM clocks WHERE stopped_at IS NULL").fetchone()[0]
    assert result.steps == due, result
    return {"open": total, "due": due, "seconds": seconds, "steps": result.steps,
            "plan": plan[0][0] + " | " + plan[1][0].strip()}


# --- 2. relay throughput ------------------------------------------------------------------------


def publisher(url: str) -> Celery:
    app = Celery("bench-publisher")
    app.conf.update(broker.celery_options(url))
    return app


def time_bare(app: Celery, n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        app.send_task("bench.noop", args=[i])
    return n / (time.perf_counter() - started)


def time_relay(flask_app, celery: Celery, n: int) -> float:
    db = flask_app.extensions["qorgau_db"]
    with db.transaction(SYSTEM) as conn:
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO outbox (topic, payload) VALUES ('bench.noop', '{}')",
                            [() for _ in range(n)])

    def send(task_name: str, outbox_id: int) -> None:
        celery.send_task("bench.noop", args=[outbox_id])

    started = time.perf_counter()
    moved = 0
    while moved < n:
        moved += relay.relay_once(db, send=send)
    return n / (time.perf_counter() - started)


# --- 3. commit-to-SMTP latency ------------------------------------------------------------------


def time_latency(flask_app, url: str, people: dict, samples: int, broker_url: str) -> list[float]:
    db = flask_app.extensions["qorgau_db"]
    arrivals: dict[str, float] = {}
    with smtp_server() as (smtp, smtp_url):
        original = smtp.handle_DATA

        async def stamped(server, session, envelope):
            reply = await original(server, session, envelope)
            arrivals[smtp.messages[-1].message_id] = time.perf_counter()
            return reply

        smtp.handle_DATA = stamped
        stack = Stack(url, broker_url, smtp_url, Path(tempfile.mkdtemp(prefix="clocks-bench-")))
        try:
            stack.worker()
            with stack.relay(db):
                latencies = []
                for i in range(samples + 3):  # three first messages warm the worker up
                    with db.transaction(SYSTEM) as conn:
                        outbox_id = outbox.enqueue(conn, "referral.received", referral_id=1,
                                                   user_ids=[people["supervisor"]])
                    committed = time.perf_counter()
                    mid = f"<qorgau.{outbox_id}.{people['supervisor']}@example.kz>"
                    wait_for(lambda: mid in arrivals, 30, "the e-mail", interval=0.002)
                    if i >= 3:
                        latencies.append(arrivals[mid] - committed)
                    time.sleep(0.2)  # an idle system between samples
        finally:
            stack.stop_workers()
    return latencies


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
               if line.startswith("MemTotal"))
    load = os.getloadavg()
    return (f"{cpu}, {os.cpu_count()} CPUs, {mem / 1024 / 1024:.0f} GiB, Python "
            f"{platform.python_version()}, load average at start {load[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--latency", type=int, default=50)
    args = parser.parse_args()
    print(f"# {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {machine()}")
    print(f"# command: .venv/bin/python bench/clocks_bench.py {' '.join(sys.argv[1:])}".rstrip())
    private = PrivateRedis(free_port(), Path(tempfile.mkdtemp(prefix="clocks-bench-redis-")))
    private.start()
    url = scratch_database()
    app = create_app(make_settings(url, broker_url=private.url, redis_url=None))
    try:
        people = make_people(url)
        sweeps = [time_sweep(app, url, people, n, args.due) for n in sorted(args.open)]
        for s in sweeps:
            print(f"sweep: {s['due']} due among {s['open']:>9,} open clocks: {s['seconds']:.2f} s"
                  f" ({s['due'] / s['seconds']:.0f} steps/s)\n       plan: {s['plan']}")
        if len(sweeps) > 1:
            print(f"sweep ratio largest/smallest: {sweeps[-1]['seconds'] / sweeps[0]['seconds']:.2f}"
                  " (target <= 1.5)")
        celery = publisher(private.url)
        bare, relayed = [], []
        for _ in range(args.rounds):
            bare.append(time_bare(celery, args.messages))
            relayed.append(time_relay(app, celery, args.messages))
            redis.Redis.from_url(private.url).flushdb()
        b, r = statistics.median(bare), statistics.median(relayed)
        print(f"publish ({args.rounds} rounds of {args.messages:,}, medians): bare send_task "
              f"{b:,.0f}/s, outbox relay {r:,.0f}/s, ratio {r / b:.2f} (target >= 0.70)")
        # Latency is measured on an idle system: nothing of the earlier parts left to deliver.
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE outbox SET delivered_at = now() WHERE delivered_at IS NULL")
        latencies = time_latency(app, url, people, args.latency, private.url)
        if args.verbose:
            print("latencies (ms):", [round(x * 1000) for x in latencies])
        q = statistics.quantiles(latencies, n=20)
        print(f"commit-to-SMTP: p50 {statistics.median(latencies) * 1000:.0f} ms, "
              f"p95 {q[18] * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms over "
              f"{len(latencies)} messages (target p95 < 1000 ms)")
    finally:
        app.extensions["qorgau_db"].close()
        drop_database(url)
        private.stop()


if __name__ == "__main__":
    main()
