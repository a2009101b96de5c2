"""Where the time goes: py-spy over Qorgau's workers while referrals are filed, and EXPLAIN
(ANALYZE, BUFFERS) of the queue listings' SQL with and without row-level security.

    .venv/bin/pip install py-spy          # once
    .venv/bin/python bench/profile.py     # after make bench, on the qorgau_bench it left
    .venv/bin/python bench/profile.py --statements   # statements and time per request, no load
    .venv/bin/python bench/profile.py --case-read    # py-spy over the case read instead of filing
    .venv/bin/python bench/profile.py --queues       # py-spy over each queue listing

Prints the functions with the largest inclusive share of samples (Qorgau's own code) and the
plans; bench/RESULTS.md quotes them. ``--statements`` sends each measured request (case read,
the two queues, filing) through the app in this process and prints how many SQL statements it
sent (not counting BEGIN and COMMIT), of which kind, in how many transactions, and its median
time over a few repetitions.
"""
from __future__ import annotations

import collections
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import load, scenarios  # noqa: E402

URL = os.environ.get("BENCH_URL", "postgresql://postgres@127.0.0.1:5432/qorgau_bench")
PY_SPY = str(Path(sys.executable).parent / "py-spy")


def profile_filing(world, seconds: int = 15) -> None:
    body = {"children": [{"child_id": load.ID_IN_BODY}], "categories": ["neglect"],
            "observed_at": "2026-01-05T10:00:00+05:00", "observation": "Профиль.",
            "receiving_agency_ids": [world.filer.recipient], "submit": True}
    profile("filing", "/api/v1/referrals", seconds=seconds, method="POST", body=body,
            token=world.filer_token, ids=list(world.filer.children))


def profile(label: str, path: str, *, seconds: int = 15, **request) -> None:
    """py-spy over both workers while wrk sends ``request`` to ``path`` (see load.wrk)."""
    server = load.Server("services.wsgi:app", {"DATABASE_URL": URL, "SECRET_KEY": scenarios.SECRET,
                                               "COOKIE_SECURE": "false", "BASE_URL": "http://127.0.0.1"},
                         Path(tempfile.gettempdir()) / "bench-profile.log")
    out = Path(tempfile.mkdtemp(prefix="bench-spy-"))
    try:
        server.wait("/healthz")
        workers = subprocess.run(["pgrep", "-P", str(server.proc.pid)], capture_output=True,
                                 text=True).stdout.split()
        spies = [subprocess.Popen([PY_SPY, "record", "-p", w, "-d", str(seconds - 1), "-r", "50", "-f", "raw",
                                   "-o", str(out / f"{w}.txt"), "--nonblocking"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for w in workers]
        result = load.wrk(server.url, path, seconds=seconds, connections=4, **request)
        for spy in spies:
            spy.wait()
    finally:
        server.stop()
    print(f"{label} under profile: {result}")
    inclusive, leaf, total = collections.Counter(), collections.Counter(), 0
    for path in out.glob("*.txt"):
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames = stack.split(";")
            total += int(count)
            leaf[frames[-1]] += int(count)
            for frame in set(frames):
                inclusive[frame] += int(count)
    print(f"{total} samples; largest self time:")
    for frame, n in leaf.most_common(5):
        print(f"  {n / total:6.1%}  {frame}")
    print("largest inclusive share, Qorgau's code:")
    shown = [(f, n) for f, n in inclusive.most_common() if ("services/" in f or "audit/" in f)
             and "site-packages" not in f][:25]
    for frame, n in shown:
        print(f"  {n / total:6.1%}  {frame}")


def explain_queues(world) -> None:
    app_url = URL.replace("postgres@", "qorgau_app@", 1)
    for label, path, token in (("caseworker's cases", "/api/v1/cases?limit=25", world.reader_token),
                               ("supervisor's escalations", "/api/v1/escalations", world.supervisor_token)):
        statements = [(t, p) for t, p in scenarios._capture(URL, path, token) if "api_tokens" not in t]
        actor = [s for s in statements if "set_config('qorgau.user_id'" in s[0]][-1]
        main = max(statements, key=lambda s: len(s[0]))
        print(f"== {label}: {len(statements)} statements; the largest, planned:")
        for who, url in (("row-level security (application role)", app_url), ("superuser, no RLS", URL)):
            with psycopg.connect(url) as conn:
                conn.execute(*actor)
                plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + main[0], main[1]).fetchall()
            print(f"-- {who}")
            print("\n".join(row[0] for row in plan))


def count_statements(world, repeats: int = 20) -> None:
    """Statements per request and median milliseconds, for each request the bench measures."""
    from services.app import create_app
    from services.settings import Settings, app_url_from

    app = create_app(Settings(database_url=URL, app_database_url=app_url_from(URL, None),
                              secret_key=scenarios.SECRET, base_url="http://127.0.0.1",
                              cookie_secure=False, log_level="WARNING"))
    client = app.test_client()
    body = {"children": [{"child_id": world.filer.children[0]}], "categories": ["neglect"],
            "observed_at": "2026-01-05T10:00:00+05:00", "observation": "Профиль.",
            "receiving_agency_ids": [world.filer.recipient], "submit": True}
    requests = (("case read", "GET", "/api/v1/cases/%d" % world.case_ids[0], world.reader_token),
                ("caseworker queue", "GET", "/api/v1/cases?limit=25", world.reader_token),
                ("escalation queue", "GET", "/api/v1/escalations", world.supervisor_token),
                ("filing", "POST", "/api/v1/referrals", world.filer_token))
    try:
        for label, method, path, token in requests:
            times = []
            for i in range(repeats):
                headers = {"Authorization": "Bearer " + token}
                if method == "POST":
                    headers["Idempotency-Key"] = f"profile-{time.time_ns()}-{i}"
                with scenarios.begun_transactions() as begun, scenarios.sent_statements() as sent:
                    t = time.perf_counter()
                    response = client.open(path, method=method, headers=headers,
                                           json=body if method == "POST" else None)
                    times.append((time.perf_counter() - t) * 1000)
                if response.status_code >= 300:
                    raise RuntimeError(f"{method} {path}: {response.status_code} "
                                       f"{response.get_data(as_text=True)[:300]}")
            sent = [(text, params) for text, params in sent if text != "BEGIN"]  # as before: not counted
            kinds = collections.Counter((text.split() or ["(empty)"])[0].upper() for text, _ in sent)
            print(f"{label}: {len(sent)} statements ({dict(kinds)}) in {len(begun)} transaction(s),"
                  f" median {statistics.median(times):.1f} ms")
            if "-v" in sys.argv[1:]:
                print("".join(f"    {' '.join(text.split())[:150]}\n" for text, _ in sent))
    finally:
        app.extensions["qorgau_db"].close()


def main() -> None:
    world = scenarios.pick_world(URL)
    if "--statements" in sys.argv[1:]:
        count_statements(world)
        return
    if "--case-read" in sys.argv[1:]:
        profile("case read", "/api/v1/cases/{id}", token=world.reader_token, ids=world.case_ids)
        return
    if "--queues" in sys.argv[1:]:
        profile("caseworker queue", "/api/v1/cases?limit=25", token=world.reader_token)
        profile("escalation queue", "/api/v1/escalations", token=world.supervisor_token)
        return
    profile_filing(world)
    explain_queues(world)


if __name__ == "__main__":
    main()
