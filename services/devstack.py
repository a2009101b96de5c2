"""``make run``: the whole of Qorgau on one machine, from nothing but Python.

Prepares ``./var/`` (a generated secret key and audit signing key, an embedded PostgreSQL when
``DATABASE_URL`` is unset, an embedded broker when Redis is unset or unreachable), migrates, loads
the demo world into an empty database, then runs gunicorn, a Celery worker and Celery beat until
Ctrl-C or SIGTERM, when it stops them all, and the embedded PostgreSQL, and exits 0.

This module is a launcher, not part of the application: it is the one place besides
``services/settings.py`` that reads the environment, because it builds the environment every
process it starts will read its settings from.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from services import broker

ROOT = Path(__file__).resolve().parent.parent
CELERY_APP = "workflows.celery_app:celery_app"
FLASK_APP = "services.app:create_app"
STOP_TIMEOUT_SECONDS = 20


class StopRequested(Exception):
    """Ctrl-C or SIGTERM arrived."""


class StartupFailed(Exception):
    """A step of start-up failed; the message says which and how to fix it."""


def say(message: str) -> None:
    print(f"[make run] {message}", flush=True)


# --- secrets ------------------------------------------------------------------------------------


def ensure_secret_key(var: Path) -> str:
    """The session-signing secret in ``var/secret_key``, generated on first use."""
    path = var / "secret_key"
    if not path.exists():
        _write_private(path, secrets.token_urlsafe(48).encode())
    return path.read_text().strip()


def ensure_signing_key(var: Path) -> Path:
    """The Ed25519 audit checkpoint key, ``var/audit-signing-key.pem`` (public half: ``.pub``)."""
    from audit.signing import ensure_key

    return ensure_key(var / "audit-signing-key.pem")


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


# --- PostgreSQL ---------------------------------------------------------------------------------

# pgserver starts the postmaster with pg_ctl, which leaves it in the caller's session. Starting it
# from a helper process in a session of its own keeps the terminal's Ctrl-C away from it, so it
# is stopped last, after everything that uses it.
_PGSERVER_START = """
import json, sys, warnings
warnings.simplefilter("ignore")
import pgserver
server = pgserver.get_server(sys.argv[1], cleanup_mode=None)
print(json.dumps({"uri": server.get_uri(), "pid": server.get_pid()}))
"""


@dataclass
class EmbeddedPostgres:
    """PostgreSQL from the ``pgserver`` wheel, with its data in ``var/pg``."""

    data_dir: Path
    pid: int | None = None

    def start(self, database: str = "qorgau") -> str:
        """Start (or join) the server, create ``database`` if missing, and return its URL."""
        result = subprocess.run(
            [sys.executable, "-c", _PGSERVER_START, str(self.data_dir)],
            capture_output=True, text=True, start_new_session=True, timeout=120,
        )
        if result.returncode != 0:
            raise StartupFailed(f"embedded PostgreSQL did not start:\n{result.stderr.strip()}")
        info = json.loads(result.stdout.strip().splitlines()[-1])
        self.pid = int(info["pid"])
        admin_url = info["uri"]
        _create_database(admin_url, database)
        return _with_database(admin_url, database)

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster) and wait until it has gone."""
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGINT)
        except ProcessLookupError:
            return
        if not _wait_gone(self.pid, 30):
            os.kill(self.pid, signal.SIGQUIT)
            _wait_gone(self.pid, 10)
        say("embedded PostgreSQL stopped")


def _create_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return parts._replace(path=f"/{name}").geturl()


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.2)
    return not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive, even though it still has a pid
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _describe_database(url: str) -> str:
    parts = urlsplit(url)
    where = parts.hostname or dict(
        p.split("=", 1) for p in parts.query.split("&") if "=" in p
    ).get("host", "local socket")
    port = f":{parts.port}" if parts.port else ""
    return f"PostgreSQL at {where}{port}{parts.path}"


# --- the broker ---------------------------------------------------------------------------------


def choose_broker(env: dict[str, str], var: Path) -> tuple[str, str | None]:
    """``(BROKER_URL, REDIS_URL or None)``: Redis when it is set and answers, else embedded."""
    explicit = env.get("BROKER_URL") or ""
    redis_url = env.get("REDIS_URL") or ""
    embedded = broker.filesystem_url(var / "broker")
    if explicit and not broker.is_redis(explicit):
        return explicit, redis_url or None
    candidate = explicit or redis_url
    if not candidate:
        say("REDIS_URL is not set")
        return embedded, None
    try:
        broker.ping_redis(candidate)
    except broker.BrokerUnavailable as exc:
        say(f"{exc}; falling back to the embedded broker")
        return embedded, None
    return candidate, redis_url or None


# --- child processes ----------------------------------------------------------------------------


def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this child if the launcher itself is killed outright."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


@dataclass
class Children:
    """The long-running processes of the stack, each in a session of its own."""

    env: dict[str, str]
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, argv: list[str]) -> None:
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=self.env, start_new_session=True, preexec_fn=_die_with_parent,
        )
        self.procs[name] = proc
        say(f"started {name} (pid {proc.pid})")

    def exited(self) -> tuple[str, int] | None:
        """The first child that has exited, with its status, or None while all run."""
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                return name, proc.returncode
        return None

    def stop(self) -> None:
        """SIGTERM every child (a graceful stop for gunicorn and Celery), then SIGKILL stragglers."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"{name} did not stop in {STOP_TIMEOUT_SECONDS} s; killing it")
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for proc in self.procs.values():
            try:  # the process group too: gunicorn's and Celery's own workers
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.procs:
            say("web, worker and beat stopped")


def wait_until_serving(url: str, children: Children, seconds: float = 60) -> None:
    """Poll ``url`` until it answers 200, failing early if a child has died."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if (dead := children.exited()) is not None:
            raise StartupFailed(f"{dead[0]} exited with status {dead[1]} during start-up")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise StartupFailed(f"{url} did not answer within {seconds:.0f} s")


# --- the stack ----------------------------------------------------------------------------------


def _on_signal(signum, frame):
    raise StopRequested(signal.Signals(signum).name)


def run(env: dict[str, str]) -> int:
    """Start the stack, supervise it until asked to stop, and tear it down; return the exit code."""
    var = Path(env.get("QORGAU_VAR") or ROOT / "var").resolve()
    var.mkdir(parents=True, exist_ok=True)
    port = int(env.get("PORT") or 8000)
    host = env.get("HOST") or "127.0.0.1"
    base_url = (env.get("BASE_URL") or f"http://localhost:{port}").rstrip("/")
    postgres: EmbeddedPostgres | None = None
    children = Children(env={})
    code = 0
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        secret_key = env.get("SECRET_KEY") or ensure_secret_key(var)
        signing_key = env.get("AUDIT_SIGNING_KEY") or str(ensure_signing_key(var))

        database_url = env.get("DATABASE_URL") or ""
        if not database_url:
            postgres = EmbeddedPostgres(var / "pg")
            database_url = postgres.start()
            say(f"PostgreSQL: embedded (pgserver), data in {postgres.data_dir}, "
                f"postmaster pid {postgres.pid}")
        else:
            say(f"PostgreSQL: {_describe_database(database_url)} (from DATABASE_URL)")

        broker_url, redis_url = choose_broker(env, var)
        broker.celery_options(broker_url)  # creates the embedded broker's folders
        say(f"broker: {broker.describe(broker_url)}")

        child_env = dict(env)
        child_env.pop("REDIS_URL", None)
        child_env.update(
            DATABASE_URL=database_url,
            SECRET_KEY=secret_key,
            AUDIT_SIGNING_KEY=signing_key,
            BROKER_URL=broker_url,
            BASE_URL=base_url,
            QORGAU_VAR=str(var),
            PYTHONUNBUFFERED="1",
        )
        if redis_url:
            child_env["REDIS_URL"] = redis_url
        if "COOKIE_SECURE" not in env and _plain_http_localhost(base_url):
            child_env["COOKIE_SECURE"] = "false"
        children.env = child_env

        say("migrating the database")
        _run_step([sys.executable, "-c", "from services.migrate import upgrade; upgrade()"],
                  child_env, "migrations")
        say("loading the demo world (skipped when the database already has data)")
        _run_step([sys.executable, "-m", "flask", "--app", FLASK_APP, "demo", "load"],
                  child_env, "flask demo load")

        log_level = env.get("LOG_LEVEL", "INFO").upper()
        children.start("web", [
            sys.executable, "-m", "gunicorn", "services.wsgi:app",
            "--bind", f"{host}:{port}", "--workers", env.get("WEB_CONCURRENCY", "2"),
            "--graceful-timeout", "10", "--access-logfile", "-", "--log-level", log_level.lower(),
            "--no-control-socket",
        ])
        worker = [sys.executable, "-m", "celery", "-A", CELERY_APP, "worker",
                  "--loglevel", log_level, "--concurrency", env.get("WORKER_CONCURRENCY", "2"),
                  "--hostname", "worker@%h"]
        if broker.is_filesystem(broker_url):
            # The filesystem transport has no broadcast channel worth using between workers.
            worker += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        children.start("worker", worker)
        children.start("beat", [
            sys.executable, "-m", "celery", "-A", CELERY_APP, "beat", "--loglevel", log_level,
            "--schedule", str(var / "celerybeat-schedule"),
        ])
        # The outbox relay (workflows/outbox.py): publishes committed notifications to the broker.
        children.start("relay", [sys.executable, "-m", "flask", "--app", FLASK_APP, "outbox", "relay"])
        wait_until_serving(f"http://127.0.0.1:{port}/healthz", children)

        credentials = var / "demo-credentials.json"
        say(f"Qorgau is running at {base_url}")
        say(f"demo sign-ins: {credentials}"
            + ("" if credentials.exists() else " (not written: the database already had data)"))
        say("press Ctrl-C to stop")
        while (dead := children.exited()) is None:
            time.sleep(0.5)
        say(f"{dead[0]} exited with status {dead[1]}; stopping the rest")
        code = 1
    except StopRequested as stop:
        say(f"{stop} received; stopping")
    except StartupFailed as exc:
        say(f"start-up failed: {exc}")
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        children.stop()
        if postgres is not None:
            postgres.stop()
    return code


def _run_step(argv: list[str], env: dict[str, str], name: str) -> None:
    result = subprocess.run(argv, cwd=ROOT, env=env, preexec_fn=_die_with_parent)
    if result.returncode != 0:
        raise StartupFailed(f"{name} failed with status {result.returncode} (see above)")


def _plain_http_localhost(base_url: str) -> bool:
    parts = urlsplit(base_url)
    return parts.scheme == "http" and parts.hostname in {"localhost", "127.0.0.1"}


def main() -> None:
    sys.exit(run(dict(os.environ)))


if __name__ == "__main__":
    main()
