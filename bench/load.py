"""Servers under test and the load sent to them: gunicorn processes, wrk runs, pgbench runs.

Every server listens on 127.0.0.1 only and every load run is bounded in time (wrk ``-d``,
pgbench ``-T``), from a second process on the same machine.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PGBENCH = next((p for p in ("/usr/lib/postgresql/15/bin/pgbench", shutil.which("pgbench") or "")
                if p and os.path.exists(p)), "pgbench")
# The same for Qorgau and the bare app: DEVELOPERS.md's WEB_CONCURRENCY default, sync workers.
GUNICORN = ["--workers", "2", "--graceful-timeout", "10", "--no-control-socket",
            "--access-logfile", "/dev/null"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A gunicorn serving ``app`` on a free loopback port until ``stop``."""

    def __init__(self, app: str, env: dict, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{self.port}", *GUNICORN],
            cwd=ROOT, env={**os.environ, **env}, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)

    def wait(self, path: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.proc.returncode}); see {self.log.name}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=2):
                    return
            except Exception:
                time.sleep(0.3)
        raise RuntimeError(f"{self.url}{path} did not answer within {timeout} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


@dataclass
class LoadResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx responses and socket errors

    def as_dict(self) -> dict:
        return self.__dict__


# A wrk script: a request template filled per request from a list of ids, a token, and an
# Idempotency-Key unique per thread and request.
LUA = """
local counter = 0
local thread_id = 0
local ids = {%(ids)s}
local body = %(body)s
local method = "%(method)s"
local path = "%(path)s"
local token = "%(token)s"
setup = function(thread)
  thread:set("tid", thread_id)
  thread_id = thread_id + 1
end
init = function(args)
  math.randomseed(1234 + tid)
end
request = function()
  counter = counter + 1
  local headers = {}
  if token ~= "" then headers["Authorization"] = "Bearer " .. token end
  local p = path
  local b = body
  if #ids > 0 then
    local id = tostring(ids[math.random(#ids)])
    p = string.gsub(path, "{id}", id)
    b = string.gsub(body, "987654321987", id)
  end
  if method == "POST" then
    headers["Content-Type"] = "application/json"
    headers["Idempotency-Key"] = string.format("bench-%%d-%%d-%%d", %(stamp)d, tid, counter)
    return wrk.format("POST", p, headers, b)
  end
  return wrk.format("GET", p, headers)
end
"""


ID_IN_BODY = 987654321987


def wrk(base: str, path: str, *, seconds: int, connections: int, token: str = "",
        method: str = "GET", body: dict | None = None, ids: list[int] | None = None) -> LoadResult:
    """Run wrk against ``base + path``: ``{id}`` in the path, and the number ``ID_IN_BODY`` in the
    body, replaced by a random one of ``ids`` per request."""
    script = LUA % {"ids": ",".join(str(i) for i in (ids or [])),
                    "body": _lua_string(json.dumps(body)) if body is not None else '""',
                    "method": method, "path": path, "token": token,
                    "stamp": time.time_ns() // 1000}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(["wrk", "-t", str(min(2, connections)), "-c", str(connections),
                              "-d", f"{seconds}s", "--latency", "--timeout", "10s", "-s", f.name, base],
                             check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(f.name)
    return _parse_wrk(out)


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def _parse_wrk(out: str) -> LoadResult:
    pct = {p: _ms(v, u) for p, v, u in re.findall(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)}
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(x) for x in m.groups())
    return LoadResult(rps, pct.get("50", float("nan")), pct.get("99", float("nan")), requests, errors)


def pgbench(url: str, script: str, *, clients: int, seconds: int) -> LoadResult:
    """Transactions per second (and latency percentiles) of ``script`` at ``clients`` clients."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "script.sql"
        path.write_text(script)
        out = subprocess.run([PGBENCH, "-n", "-c", str(clients), "-j", str(clients), "-T", str(seconds),
                              "-r", "-l", "--log-prefix", str(Path(tmp) / "log"), "-f", str(path), url],
                             check=True, capture_output=True, text=True, cwd=tmp).stdout
        latencies = sorted(int(line.split()[2]) for log in Path(tmp).glob("log*")
                           for line in log.read_text().splitlines() if line.strip())
    tps = float(re.search(r"tps = ([\d.]+) \(without initial", out).group(1))
    failed = int(m.group(1)) if (m := re.search(r"number of failed transactions: (\d+)", out)) else 0
    return LoadResult(tps, _percentile(latencies, 50) / 1000, _percentile(latencies, 99) / 1000,
                      len(latencies), failed)


def _percentile(values: list, p: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]
