"""Audit benchmarks: the cost of the hash chain on a write transaction, and verify throughput.

    .venv/bin/python bench/audit_bench.py [--seconds 6] [--repeats 3] [--events 1000000]

Writes: pgbench runs a referral-style transaction (set the actor, insert a referral row, record
one audit event) as the application role against scratch databases, at 1, 4 and 8 clients, in
four variants side by side, rotated on every repetition so drift hits them all alike:

  no-audit     the business insert only
  unchained    plus the audit insert with the chaining trigger disabled (same table and indexes)
  chained-32   plus the audit insert as ``record`` issues it (32 chains; the shipped design)
  chained-1    the same with a single chain (every writer queues on one head row)

Verify: generates N events over 32 chains straight into a scratch database, signs a checkpoint
over them, then times ``audit.verify.verify`` with 1 worker and one per CPU against a bare
``hashlib`` loop over the same rows' canonical bytes (fetched beforehand, not timed).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audit import signing  # noqa: E402
from audit.canonical import CANONICAL_SQL, GENESIS  # noqa: E402
from audit.checkpoints import write_checkpoint  # noqa: E402
from audit.verify import verify  # noqa: E402
from services.migrate import upgrade  # noqa: E402

SETUP = """
CREATE TABLE bench_referrals (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    child_id bigint NOT NULL, agency_id bigint NOT NULL, priority text NOT NULL,
    summary text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX ON bench_referrals (child_id);
GRANT SELECT, INSERT ON bench_referrals TO qorgau_app;
"""

ACTOR = """\\set child random(1, 100000)
BEGIN;
SELECT set_config('qorgau.user_id', '7', true), set_config('qorgau.agency_id', '3', true),
       set_config('qorgau.roles', 'caseworker', true), set_config('qorgau.actor_kind', 'user', true);
INSERT INTO bench_referrals (child_id, agency_id, priority, summary)
VALUES (:child, 3, 'urgent', repeat('x', 400));
"""
COLUMNS = ("action, outcome, actor_kind, actor_user_id, actor_agency_id, actor_region_id, "
           "actor_roles, actor_mfa, object_type, object_id, child_id, purpose, request_id, "
           "client_addr, user_agent, session_ref, auth_strength, channel, details")
VALUES = ("'referral_filed', 'allowed', 'user', 7, 3, 1, '{caseworker}', true, 'referral', "
          ":child, :child, 'screening', 'req-0123456789abcdef', '10.1.2.3', "
          "'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0', 'sess-0123456789abcdef', "
          "'password+totp', 'web', '{\"referral_id\": 1, \"priority\": \"urgent\"}'")
ZERO = "'\\x" + "00" * 32 + "'"
SCRIPTS = {
    "no-audit": ACTOR + "END;\n",
    "unchained": ACTOR + "\\set id random(1, 9000000000000000000)\n"
                 f"INSERT INTO audit.events (id, chain, seq, prev_hash, hash, {COLUMNS}) VALUES "
                 f"(:id, 0, :id, {ZERO}, {ZERO}, {VALUES});\nEND;\n",
    "chained-32": ACTOR + f"INSERT INTO audit.events ({COLUMNS}) VALUES ({VALUES});\nEND;\n",
    "chained-1": ACTOR + f"INSERT INTO audit.events ({COLUMNS}) VALUES ({VALUES});\nEND;\n",
}


def db_url(admin_url: str, name: str, user: str | None = None) -> str:
    base, _, _ = admin_url.rpartition("/")
    if user:
        base = re.sub(r"//[^@/]*@", f"//{user}@", base)
    return f"{base}/{name}"


def recreate(admin_url: str, name: str) -> str:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = db_url(admin_url, name)
    upgrade(url)
    return url


def prepare_write_dbs(admin_url: str) -> dict[str, str]:
    """Two scratch databases: the shipped 32 chains, and a single chain for comparison."""
    urls = {}
    for name, chains in (("qorgau_bench_audit", 32), ("qorgau_bench_audit_1", 1)):
        url = recreate(admin_url, name)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SETUP)
            # The unchained variant writes ids itself; the app role needs nothing more.
            if chains == 1:
                conn.execute("SET session_replication_role = replica")
                conn.execute("UPDATE audit.log_info SET chains = 1")
        urls[chains] = url
    return urls


def pgbench(url: str, script: str, clients: int, seconds: int) -> float:
    """Transactions per second reported by pgbench."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(["pgbench", "-n", "-c", str(clients), "-j", str(clients),
                              "-T", str(seconds), "-f", f.name, url],
                             check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(f.name)
    return float(re.search(r"tps = ([\d.]+) \(without initial", out).group(1))


def set_chaining(url: str, on: bool) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE audit.events {'ENABLE' if on else 'DISABLE'} TRIGGER events_chain")


def bench_writes(admin_url: str, seconds: int, repeats: int) -> dict:
    urls = prepare_write_dbs(admin_url)
    app = {chains: db_url(admin_url, url.rpartition("/")[2], "qorgau_app")
           for chains, url in urls.items()}
    where = {"no-audit": 32, "unchained": 32, "chained-32": 32, "chained-1": 1}
    results: dict = {}
    variants = list(SCRIPTS)
    for clients in (1, 4, 8):
        for rep in range(repeats):
            for variant in variants[rep % 4:] + variants[:rep % 4]:
                chains = where[variant]
                set_chaining(urls[chains], variant != "unchained")
                tps = pgbench(app[chains], SCRIPTS[variant], clients, seconds)
                results.setdefault((variant, clients), []).append(tps)
                print(f"  {variant:<11} c={clients} run {rep + 1}: {tps:8.0f} tps", flush=True)
        set_chaining(urls[32], True)
    return {k: statistics.median(v) for k, v in results.items()}


STAGE = """
CREATE UNLOGGED TABLE bench_stage AS
SELECT i AS id, (i % {chains})::smallint AS chain, (i / {chains} + 1)::bigint AS seq,
       now() - interval '30 minutes' + i * interval '1 microsecond' AS occurred_at,
       'child_viewed'::text AS action, 'allowed'::text AS outcome, 'user'::text AS actor_kind,
       (i % 500)::bigint AS actor_user_id, (i % 40)::bigint AS actor_agency_id,
       1::bigint AS actor_region_id, '{{caseworker}}'::text[] AS actor_roles, true AS actor_mfa,
       'child'::text AS object_type, (i % 9000)::text AS object_id, (i % 9000)::bigint AS child_id,
       'screening'::text AS purpose, 'req-' || lpad(to_hex(i), 16, '0') AS request_id,
       '10.1.2.3'::text AS client_addr,
       'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0'::text AS user_agent,
       'sess-' || lpad(to_hex(i % 700), 12, '0') AS session_ref,
       'password+totp'::text AS auth_strength, 'web'::text AS channel,
       jsonb_build_object('case_id', i % 3000, 'priority', 'urgent') AS details
  FROM generate_series(0::bigint, {last}) AS i;
CREATE UNLOGGED TABLE bench_hashes (id bigint PRIMARY KEY, prev_hash bytea, hash bytea);
"""


def populate(url: str, events: int, chains: int = 32) -> None:
    """``events`` chained events as ``record`` would leave them, written in bulk (triggers off):
    PostgreSQL renders the canonical bytes, Python chains the hashes."""
    heads = [(0, GENESIS)] * chains
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(STAGE.format(chains=chains, last=events - 1))
        hashes = []
        with conn.cursor(binary=True) as cur:
            with cur.copy(f"COPY (SELECT id, chain, {CANONICAL_SQL} FROM bench_stage"
                          " ORDER BY chain, seq) TO STDOUT (FORMAT BINARY)") as copy:
                copy.set_types(["bigint", "smallint", "bytea"])
                for event_id, chain, body in copy.rows():
                    seq, prev = heads[chain]
                    digest = hashlib.sha256(prev + body).digest()
                    heads[chain] = (seq + 1, digest)
                    hashes.append((event_id, prev, digest))
        with conn.cursor().copy("COPY bench_hashes FROM STDIN") as copy:
            for row in hashes:
                copy.write_row(row)
        conn.execute("SET session_replication_role = replica")
        conn.execute("INSERT INTO audit.events SELECT s.id, s.chain, s.seq, s.occurred_at,"
                     " s.action, s.outcome, s.actor_kind, s.actor_user_id, s.actor_agency_id,"
                     " s.actor_region_id, s.actor_roles, s.actor_mfa, s.object_type, s.object_id,"
                     " s.child_id, s.purpose, s.request_id, s.client_addr, s.user_agent,"
                     " s.session_ref, s.auth_strength, s.channel, s.details, h.prev_hash, h.hash"
                     " FROM bench_stage s JOIN bench_hashes h USING (id)")
        conn.execute("DROP TABLE bench_stage, bench_hashes")
        conn.execute("VACUUM ANALYZE audit.events")


def bench_verify(admin_url: str, events: int) -> dict:
    url = recreate(admin_url, "qorgau_bench_verify")
    t = time.perf_counter()
    populate(url, events)
    print(f"  populated {events} events in {time.perf_counter() - t:.1f} s", flush=True)
    key_path = Path(tempfile.mkdtemp()) / "bench.key"
    signing.generate_key(key_path)
    key = signing.load_private_key(key_path)
    with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as conn, conn.transaction():
        t = time.perf_counter()
        write_checkpoint(conn, key)
        checkpoint_s = time.perf_counter() - t
    with psycopg.connect(url) as conn:
        rows = [(bytes(p), bytes(c)) for p, c in conn.execute(
            f"SELECT prev_hash, {CANONICAL_SQL} FROM audit.events")]
    bare = []
    for _ in range(3):
        t = time.perf_counter()
        for prev, body in rows:
            hashlib.sha256(prev + body).digest()
        bare.append(len(rows) / (time.perf_counter() - t))
    del rows
    out = {"events": events, "checkpoint_s": checkpoint_s, "bare": statistics.median(bare)}
    cpus = os.cpu_count() or 1
    for workers in sorted({1, cpus}):
        rates = []
        for _ in range(3):
            t = time.perf_counter()
            report = verify(url, public_key=key.public_key(), workers=workers)
            elapsed = time.perf_counter() - t
            assert report.ok and report.events == events, report.problems[:3]
            rates.append(events / elapsed)
        out[f"verify_{workers}"] = statistics.median(rates)
        print(f"  verify workers={workers}: {out[f'verify_{workers}']:,.0f} events/s", flush=True)
    return out


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    with psycopg.connect(os.environ.get("BENCH_ADMIN_URL", ADMIN)) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
    return (f"{os.cpu_count()} CPUs (nproc), {model}; PostgreSQL {version} on the same machine; "
            f"Python {platform.python_version()}")


def report(writes: dict, verified: dict, args) -> str:
    lines = [f"## Audit ({datetime.now(timezone.utc):%Y-%m-%d})", "",
             f"Command: `.venv/bin/python bench/audit_bench.py --seconds {args.seconds} "
             f"--repeats {args.repeats} --events {args.events}`  ", f"Machine: {machine()}  ",
             f"Load average (1 min) at start / end: {args.load_start:.1f} / "
             f"{os.getloadavg()[0]:.1f} (other work shared the machine)", ""]
    if writes:
        lines += ["Write transaction (pgbench, application role; median of "
                  f"{args.repeats} runs of {args.seconds} s; transactions/s):", "",
                  "| clients | no audit | audit, unchained | audit, 32 chains | audit, 1 chain "
                  "| 32 chains / unchained | 1 chain / unchained |",
                  "|---|---|---|---|---|---|---|"]
        for c in (1, 4, 8):
            base = writes[("unchained", c)]
            lines.append(f"| {c} | {writes[('no-audit', c)]:.0f} | {base:.0f} | "
                         f"{writes[('chained-32', c)]:.0f} | {writes[('chained-1', c)]:.0f} | "
                         f"{writes[('chained-32', c)] / base:.2f} | "
                         f"{writes[('chained-1', c)] / base:.2f} |")
        lines.append("")
    if verified:
        cpus = os.cpu_count() or 1
        lines += [f"Verify ({verified['events']:,} events in 32 chains, one checkpoint; median of "
                  "3; events/s):", "",
                  "| bare hashlib loop | verify, 1 worker | "
                  f"verify, {cpus} workers | {cpus} workers / bare |", "|---|---|---|---|",
                  f"| {verified['bare']:,.0f} | {verified['verify_1']:,.0f} | "
                  f"{verified[f'verify_{cpus}']:,.0f} | "
                  f"{verified[f'verify_{cpus}'] / verified['bare']:.2f} |", "",
                  f"Signing the checkpoint over all {verified['events']:,} events took "
                  f"{verified['checkpoint_s']:.1f} s.", ""]
    return "\n".join(lines)


ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--admin-url", default=os.environ.get("BENCH_ADMIN_URL", ADMIN))
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--skip-writes", action="store_true")
    parser.add_argument("--skip-verify", action="store_true")
    args = parser.parse_args()
    args.load_start = os.getloadavg()[0]
    writes = {} if args.skip_writes else bench_writes(args.admin_url, args.seconds, args.repeats)
    verified = {} if args.skip_verify else bench_verify(args.admin_url, args.events)
    print()
    print(report(writes, verified, args))


if __name__ == "__main__":
    main()
