"""Where the time goes: py-spy over Qorgau's workers while referrals are filed, and EXPLAIN
(ANALYZE, BUFFERS) of the queue listings' SQL with and without row-level security.

    .venv/bin/pip install py-spy          # once
    .venv/bin/python bench/profile.py     # after make bench, on the qorgau_bench it left

Prints the functions with the largest inclusive share of samples (Qorgau's own code) and the
plans; bench/RESULTS.md quotes them.
"""
from __future__ import annotations

import collections
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import load, scenarios  # noqa: E402

URL = os.environ.get("BENCH_URL", "postgresql://postgres@127.0.0.1:5432/qorgau_bench")
PY_SPY = str(Path(sys.executable).parent / "py-spy")


def profile_filing(world, seconds: int = 15) -> None:
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
        body = {"children": [{"child_id": load.ID_IN_BODY}], "categories": ["neglect"],
                "observed_at": "2026-01-05T10:00:00+05:00", "observation": "Профиль.",
                "receiving_agency_ids": [world.filer.recipient], "submit": True}
        result = load.wrk(server.url, "/api/v1/referrals", seconds=seconds, connections=4, method="POST",
                          body=body, token=world.filer_token, ids=list(world.filer.children))
        for spy in spies:
            spy.wait()
    finally:
        server.stop()
    print(f"filing under profile: {result}")
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


def main() -> None:
    world = scenarios.pick_world(URL)
    profile_filing(world)
    explain_queues(world)


if __name__ == "__main__":
    main()
