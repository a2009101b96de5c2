"""The benchmark run behind ``make bench`` (short) and ``make bench-full`` (national).

    .venv/bin/python bench/run.py [--full] [--seconds S] [--children N --referrals M --audit-events K]

1. Recreates database ``qorgau_bench`` on the machine's PostgreSQL (never a test database),
   migrates it and fills it with ``flask bench generate`` (timed).
2. Starts Qorgau and the bare app (``bench/bare_app.py``) under the same gunicorn settings on
   loopback ports, and measures each scenario next to its baseline, in this run:

   * filing: ``POST /api/v1/referrals`` (token, policy, validation, audit, outbox) under wrk
     against pgbench running the same SQL transaction (``bench/filing.py``) at 1, 4 and 8 clients,
     and against the bare app's POST of that transaction;
   * case read: ``GET /api/v1/cases/{id}`` (with its audit row) against the bare app's
     primary-key select;
   * queues: a caseworker's case list and a supervisor's escalation queue over HTTP, and the SQL
     each sends, timed with row-level security (application role) and without (the superuser);
   * the clock sweep with 1,000 due clocks among 10 k and among 1 M open ones;
   * ``audit verify`` over every event, against a bare hashlib loop;
   * after every load run, the audit chains it extended are checked: 0 breaks.
3. Prints the table (figure, baseline, ratio, target, met?) and appends it, with the date, the
   commit, the machine and the command, to ``bench/RESULTS.md``.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import scenarios  # noqa: E402
from bench.load import Server  # noqa: E402

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SHORT = {"children": 10_000, "referrals": 44_000, "audit_events": 500_000}
FULL = {"children": 1_000_000, "referrals": 4_400_000, "audit_events": 50_000_000}
SECRET = "bench-secret-key-" + "x" * 40


def db_url(admin: str, name: str, user: str | None = None) -> str:
    base, _, _ = admin.rpartition("/")
    if user:
        scheme, rest = base.split("://", 1)
        base = f"{scheme}://{user}@{rest.split('@', 1)[-1]}"
    return f"{base}/{name}"


def recreate(admin: str, name: str) -> str:
    if not name.startswith("qorgau_bench"):
        raise SystemExit("benchmark databases are named qorgau_bench*; refusing " + name)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = db_url(admin, name)
    subprocess.run([sys.executable, "-c", "from services.migrate import upgrade; upgrade()"],
                   cwd=ROOT, env={**os.environ, "DATABASE_URL": url}, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return url


def flask(url: str, *args: str, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": SECRET}
    return subprocess.run([sys.executable, "-m", "flask", "--app", "services.app:create_app", *args],
                          cwd=ROOT, env=env, check=True, text=True, **kw)


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown CPU")
    mem = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0)
    with psycopg.connect(ADMIN) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
    return (f"{os.cpu_count()} CPUs (nproc), {model}, {mem / 1024 / 1024:.0f} GiB RAM; PostgreSQL "
            f"{version} on the same machine; Python {platform.python_version()}; load average at "
            f"start {os.getloadavg()[0]:.1f}")


def commit() -> str:
    if os.environ.get("BENCH_COMMIT"):  # a run from an exported tree (git archive) names its commit
        return os.environ["BENCH_COMMIT"]
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def ensure_wrk() -> None:
    """wrk is Debian's package; install it when missing (as root), or say how."""
    if shutil.which("wrk"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk: installing Debian's package", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed for the load runs: apt-get install wrk")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="the national data set (1 M / 4.4 M / 50 M)")
    parser.add_argument("--children", type=int)
    parser.add_argument("--referrals", type=int)
    parser.add_argument("--audit-events", type=int)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seconds", type=int, default=None, help="length of each load run")
    parser.add_argument("--admin-url", default=os.environ.get("BENCH_ADMIN_URL", ADMIN))
    parser.add_argument("--db", default="qorgau_bench")
    parser.add_argument("--reuse", action="store_true", help="keep the generated database")
    parser.add_argument("--sweep-open", type=int, default=None, help="open clocks in the large sweep")
    parser.add_argument("--results", default=str(ROOT / "bench" / "RESULTS.md"))
    args = parser.parse_args(argv)
    # A stopped run still stops the servers it started (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = dict(FULL if args.full else SHORT)
    for key in sizes:
        if getattr(args, key) is not None:
            sizes[key] = getattr(args, key)
    seconds = args.seconds or (20 if args.full else 8)
    ensure_wrk()
    command = "bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    started = datetime.now(timezone.utc)
    info = machine()
    print(f"machine: {info}", flush=True)
    table = scenarios.Table()

    url = db_url(args.admin_url, args.db)
    if not args.reuse:
        url = recreate(args.admin_url, args.db)
        print(f"generating {sizes} into {args.db}", flush=True)
        t = time.perf_counter()
        flask(url, "bench", "generate", "--children", str(sizes["children"]), "--referrals",
              str(sizes["referrals"]), "--audit-events", str(sizes["audit_events"]), "--seed", str(args.seed))
        table.note(f"generation: {time.perf_counter() - t:.0f} s for {sizes['children']:,} children, "
                   f"{sizes['referrals']:,} referrals, {sizes['audit_events']:,} audit events "
                   "(flask bench generate, including index builds and ANALYZE)")
    app_url = db_url(args.admin_url, args.db, "qorgau_app")
    world = scenarios.pick_world(url)
    logs = ROOT / "var" / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    qorgau = Server("services.wsgi:app", {"DATABASE_URL": url, "SECRET_KEY": SECRET, "COOKIE_SECURE": "false",
                                          "BASE_URL": "http://127.0.0.1", "LOG_LEVEL": "INFO"},
                    logs / "qorgau.log")
    bare = Server("bench.bare_app:app", {"BENCH_ADMIN_URL": url, "BENCH_APP_URL": app_url,
                                         "BENCH_FILER": str(world.filer)}, logs / "bare.log")
    try:
        qorgau.wait("/healthz")
        bare.wait("/pk/1")
        scenarios.filing(table, url, app_url, world, qorgau, bare, seconds, full=args.full)
        scenarios.case_read(table, url, world, qorgau, bare, seconds)
        scenarios.queues(table, url, world, qorgau, seconds, rounds=40 if args.full else 10)
    finally:
        qorgau.stop()
        bare.stop()
    scenarios.verify_all(table, url)
    scenarios.sweep(table, args.admin_url, open_large=args.sweep_open or 1_000_000,
                    repeats=3 if args.full else 1)
    scenarios.outbox(table, args.admin_url, full=args.full)
    table.note(f"load average at end {os.getloadavg()[0]:.1f} (1 min), {os.getloadavg()[2]:.1f} (15 min)")
    text = table.render(title=f"{'National' if args.full else 'Short'} run, {started:%Y-%m-%d %H:%M} UTC",
                        commit=commit(), machine=info, command=f".venv/bin/python {command}".strip(),
                        elapsed=(datetime.now(timezone.utc) - started).total_seconds())
    print(text)
    with open(args.results, "a", encoding="utf-8") as f:
        f.write("\n" + text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
