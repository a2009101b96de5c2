"""``make run``'s stack starts from nothing, lets a demo caseworker sign in, and stops cleanly.

The launcher runs exactly as ``make run`` runs it, with the embedded defaults: no DATABASE_URL
(so an embedded PostgreSQL in a fresh var directory) and no REDIS_URL (so the embedded broker).
"""
from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CASEWORKER = "psychologist.school12"
START_SECONDS = 240
# Settings the launcher must choose for itself in this test.
UNSET = {"DATABASE_URL", "APP_DATABASE_URL", "REDIS_URL", "BROKER_URL", "SECRET_KEY",
         "AUDIT_SIGNING_KEY", "BASE_URL", "COOKIE_SECURE", "PORT", "QORGAU_VAR"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Stack:
    proc: subprocess.Popen
    var: Path
    base_url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def pids(self) -> dict[str, int]:
        """The pids the launcher reported: web, worker, beat and the embedded postmaster."""
        out = self.output()
        pids = {name: int(pid) for name, pid in re.findall(r"started (\w+) \(pid (\d+)\)", out)}
        postmaster = re.search(r"postmaster pid (\d+)", out)
        if postmaster:
            pids["postgres"] = int(postmaster.group(1))
        return pids


@pytest.fixture
def stack(tmp_path):
    """``python -m services.devstack`` on a free port with a fresh var directory."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(
        QORGAU_VAR=str(tmp_path / "var"),
        PORT=str(port),
        BASE_URL=f"http://127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
        WORKER_CONCURRENCY="1",
    )
    log = tmp_path / "devstack.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "services.devstack"], cwd=ROOT, env=env,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    running = Stack(proc, tmp_path / "var", f"http://127.0.0.1:{port}", log)
    yield running
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_until_ready(stack: Stack) -> dict:
    deadline = time.monotonic() + START_SECONDS
    last = None
    while time.monotonic() < deadline:
        if stack.proc.poll() is not None:
            pytest.fail(f"the launcher exited with {stack.proc.returncode}:\n{stack.output()[-6000:]}")
        try:
            with urllib.request.urlopen(stack.base_url + "/readyz", timeout=5) as response:
                body = json.loads(response.read())
            if "press Ctrl-C to stop" in stack.output():
                return body
        except urllib.error.HTTPError as exc:
            last = exc.read().decode(errors="replace")
        except (urllib.error.URLError, OSError) as exc:
            last = repr(exc)
        time.sleep(1)
    pytest.fail(f"/readyz not ready within {START_SECONDS} s (last: {last}):\n{stack.output()[-6000:]}")


def demo_password(var: Path, username: str) -> str:
    """The password of ``username`` from var/demo-credentials.json, whatever its layout."""
    data = json.loads((var / "demo-credentials.json").read_text())
    users = data.get("users", data) if isinstance(data, dict) else data
    if isinstance(users, dict):
        entry = users[username]
    else:
        entry = next(u for u in users if u.get("username") == username)
    return entry["password"]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.timeout(START_SECONDS + 180)
def test_make_run_stack_serves_a_sign_in_and_stops_cleanly(stack):
    ready = wait_until_ready(stack)
    assert ready["status"] == "ok"
    out = stack.output()
    assert "PostgreSQL: embedded" in out
    assert "broker: embedded filesystem broker" in out
    assert f"running at {stack.base_url}" in out
    assert str(stack.var / "demo-credentials.json") in out
    assert (stack.var / "secret_key").stat().st_mode & 0o077 == 0
    assert (stack.var / "audit-signing-key.pem").read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert (stack.var / "audit-signing-key.pem.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")

    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with browser.open(stack.base_url + "/auth/login", timeout=10) as response:
        login_page = response.read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login_page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', login_page)
    assert token, "the login page has no csrf_token field"
    form = urllib.parse.urlencode({
        "csrf_token": token.group(1),
        "username": CASEWORKER,
        "password": demo_password(stack.var, CASEWORKER),
    }).encode()
    with browser.open(stack.base_url + "/auth/login", data=form, timeout=30) as response:
        landing = response.read().decode()
        landing_url = response.geturl()
    assert response.status == 200
    assert "/auth/login" not in urllib.parse.urlsplit(landing_url).path
    assert '<dd id="roles">caseworker</dd>' in landing
    assert "Secondary School No. 12" in landing
    assert 'action="/auth/logout"' in landing
    assert "qorgau" in {cookie.name for cookie in jar}

    pids = stack.pids()
    assert {"web", "worker", "beat", "postgres"} <= set(pids), stack.output()[-4000:]
    stack.proc.send_signal(signal.SIGINT)
    assert stack.proc.wait(timeout=90) == 0, stack.output()[-4000:]
    for name in ("web", "worker", "beat"):
        assert not group_alive(pids[name]), f"{name} or one of its processes is still running"
    assert not alive(pids["postgres"]), "the embedded PostgreSQL is still running"
    assert not (stack.var / "pg" / "postmaster.pid").exists()
    assert "embedded PostgreSQL stopped" in stack.output()
