"""Real processes for the outbox tests: Celery workers, the relay, a private Redis or PostgreSQL.

Nothing here is a mock: workers are ``celery worker`` subprocesses on a real Redis and the test
database, the relay is ``workflows.outbox.run_forever`` in a thread, mail goes to a real SMTP
server. Waits poll for a condition with a deadline; none waits for a clock to run out.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
from celery import Celery
from psycopg.rows import dict_row

from audit import Actor
from services import broker, outbox
from services.clocks import actions, sweep
from services.settings import app_url_from
from tests.conftest import SECRET
from workflows import outbox as relay

ROOT = Path(__file__).resolve().parents[2]
SYSTEM = Actor.system("tests")
PG_BIN = Path("/usr/lib/postgresql/15/bin")
MAIL_FROM = "qorgau@example.kz"
# Short, so that a message a dead worker or a restarted Redis lost is published again quickly;
# longer in the long run, whose backlog would otherwise be published again and again while it
# waits in the queue (harmless, as delivery is keyed by the outbox id, but slow).
LEASE = timedelta(seconds=60 if os.environ.get("QORGAU_LONG") == "1" else 4)


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    """Poll ``predicate`` until it is truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@dataclass
class Worker:
    proc: subprocess.Popen
    log: Path

    def tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:]

    def kill9(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@dataclass
class Stack:
    """Where the processes of one test meet: database, broker, mail server, a folder for logs."""

    database_url: str  # administrative
    broker_url: str
    smtp_url: str
    folder: Path
    workers: list[Worker] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in {"REDIS_URL", "BROKER_URL", "SMTP_URL", "DATABASE_URL"}}
        env.update(DATABASE_URL=self.database_url, SECRET_KEY=SECRET, BROKER_URL=self.broker_url,
                   SMTP_URL=self.smtp_url, MAIL_FROM=MAIL_FROM, BASE_URL="http://localhost",
                   COOKIE_SECURE="false", LOG_LEVEL="INFO", PYTHONUNBUFFERED="1")
        return env

    def worker(self, *, concurrency: int = 4, pool: str = "threads") -> Worker:
        """A ``celery worker`` subprocess, started and ready to consume.

        Deliveries wait on PostgreSQL and SMTP, so a pool of threads runs several at once; a
        SIGKILL then interrupts all of them together, which is the harsher test.
        """
        log = self.folder / f"worker-{len(self.workers)}.log"
        pool = ["--pool", pool, "--concurrency", str(concurrency)]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "workflows.celery_app:celery_app", "worker",
                 *pool, "--loglevel", "INFO", "--without-gossip", "--without-mingle",
                 "--without-heartbeat", "--hostname", f"w{len(self.workers)}@%h"],
                cwd=ROOT, env=self.env(), stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        worker = Worker(proc, log)
        self.workers.append(worker)
        wait_for(lambda: proc.poll() is not None or " ready." in log.read_text(errors="replace"),
                 60, "the worker to be ready")
        assert proc.poll() is None, worker.tail()
        return worker

    def stop_workers(self) -> None:
        for w in self.workers:
            w.stop()

    def publisher(self):
        """The relay's ``send``: a Celery publisher of this test's own on this test's broker."""
        app = Celery("tests-publisher")
        app.conf.update(broker.celery_options(self.broker_url))
        app.conf.broker_connection_retry_on_startup = True

        def send(task_name: str, outbox_id: int) -> None:
            app.send_task(task_name, args=[outbox_id], retry=True, retry_policy=relay.PUBLISH_RETRY)

        return send

    @contextmanager
    def relay(self, db):
        """The relay running in a thread until the block ends."""
        stop = threading.Event()
        thread = threading.Thread(
            target=relay.run_forever, args=(db, app_url_from(self.database_url, None)),
            kwargs={"stop": stop, "send": self.publisher(), "lease": LEASE, "poll": 0.5},
            daemon=True)
        thread.start()
        try:
            yield thread
        finally:
            stop.set()
            thread.join(timeout=30)


# --- events -------------------------------------------------------------------------------------


def file_referral(db, people, *, started_at: datetime, subject_id: int) -> int:
    """What filing a referral does to this capability, in one transaction: a screening clock for
    the receiving agency and a notification to its supervisors (the row's id)."""
    with db.transaction(SYSTEM) as conn:
        actions.start_clock(conn, actor=SYSTEM, kind="screening_decision", subject_type="referral",
                            subject_id=subject_id, child_id=None, region_id=people["region_id"],
                            agency_id=people["agency_id"], assignee_user_id=None,
                            priority="urgent", started_at=started_at)
        return outbox.enqueue(conn, "referral.received", referral_id=subject_id,
                              user_ids=people["recipients"])


class Filer:
    """Files referrals in a thread, retrying one that failed (the database may be restarting)."""

    def __init__(self, db, people, *, count: int, first_id: int, pace: float = 0.0):
        self.db, self.people, self.count, self.first_id, self.pace = db, people, count, first_id, pace
        self.filed: list[int] = []
        self.errors = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        started_at = datetime.now(timezone.utc) - timedelta(days=10)  # already due
        for i in range(self.count):
            while True:
                try:
                    self.filed.append(file_referral(self.db, self.people, started_at=started_at,
                                                    subject_id=self.first_id + i))
                    break
                except Exception:
                    self.errors += 1
                    time.sleep(0.2)
            if self.pace:
                time.sleep(self.pace)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.thread.join(timeout=600)


class Sweeper:
    """Beat, compressed: sweeps every ``every`` seconds in a thread, surviving database restarts."""

    def __init__(self, db, app, every: float = 0.3):
        self.db, self.app, self.every = db, app, every
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self.app.app_context():
            while not self.stop.is_set():
                try:
                    sweep.sweep(self.db)
                except Exception as exc:  # a restart in progress; the next sweep takes over
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                self.stop.wait(self.every)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        # No timeout: a sweep still walking a large batch must finish before anyone counts
        # what it wrote (pytest-timeout bounds the whole test).
        self.thread.join()
        with self.app.app_context():
            sweep.sweep(self.db)  # one last, undisturbed sweep


# --- checks -------------------------------------------------------------------------------------


def admin(url: str):
    return psycopg.connect(url, autocommit=True, row_factory=dict_row)


def undelivered(url: str, ids: list[int]) -> int:
    with admin(url) as conn:
        return conn.execute("SELECT count(*) AS n FROM outbox WHERE id = ANY(%s)"
                            " AND delivered_at IS NULL", (ids,)).fetchone()["n"]


def all_outbox_ids(url: str, since_id: int = 0) -> list[int]:
    with admin(url) as conn:
        return [r["id"] for r in conn.execute("SELECT id FROM outbox WHERE id > %s ORDER BY id",
                                              (since_id,))]


def last_outbox_id(url: str) -> int:
    with admin(url) as conn:
        return conn.execute("SELECT coalesce(max(id), 0) AS n FROM outbox").fetchone()["n"]


def expected_mail(url: str, ids: list[int]) -> set[str]:
    """Every Message-ID the rows ``ids`` must produce: one per recipient with an address."""
    with admin(url) as conn:
        rows = conn.execute(
            """SELECT o.id AS outbox_id, u.id AS user_id
                 FROM outbox o, jsonb_array_elements_text(o.payload->'user_ids') AS r(uid)
                 JOIN users u ON u.id = r.uid::bigint
                WHERE o.id = ANY(%s) AND u.email IS NOT NULL AND u.disabled_at IS NULL""",
            (ids,)).fetchall()
    domain = MAIL_FROM.rpartition("@")[2]
    return {f"<qorgau.{r['outbox_id']}.{r['user_id']}@{domain}>" for r in rows}


def assert_exactly_once(smtp, expected: set[str]) -> None:
    counts = Counter(smtp.ids())
    twice = {m: n for m, n in counts.items() if n > 1}
    missing = expected - set(counts)
    unexpected = set(counts) - expected
    assert not twice, f"{len(twice)} e-mails arrived more than once, e.g. {list(twice)[:3]}"
    assert not missing, f"{len(missing)} e-mails never arrived, e.g. {sorted(missing)[:3]}"
    assert not unexpected, f"{len(unexpected)} unexpected e-mails, e.g. {sorted(unexpected)[:3]}"


def assert_escalated_once(url: str, subject_ids: list[int]) -> None:
    """Every clock of these referrals has exactly one level-1 step and one escalation."""
    with admin(url) as conn:
        rows = conn.execute(
            """SELECT k.id, (SELECT count(*) FROM clock_steps s WHERE s.clock_id = k.id
                              AND s.step = 'level_1') AS steps,
                      (SELECT count(*) FROM escalations e WHERE e.clock_id = k.id) AS escalations
                 FROM clocks k WHERE k.subject_type = 'referral' AND k.subject_id = ANY(%s)""",
            (subject_ids,)).fetchall()
    assert len(rows) == len(set(subject_ids))
    bad = [r for r in rows if (r["steps"], r["escalations"]) != (1, 1)]
    assert not bad, f"{len(bad)} clocks escalated other than once, e.g. {bad[:3]}"


# --- private servers ----------------------------------------------------------------------------


@dataclass
class PrivateRedis:
    """A ``redis-server`` of the test's own, so stopping it disturbs nobody else."""

    port: int
    folder: Path
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for(lambda: self._ping(), 20, "the private Redis to answer")

    def _ping(self) -> bool:
        try:
            broker.ping_redis(self.url, 0.5)
            return True
        except broker.BrokerUnavailable:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


@dataclass
class PrivateCluster:
    """A PostgreSQL cluster of the test's own (initdb in a temporary folder, its own port), so
    restarting it disturbs nobody else on this machine. PostgreSQL refuses to run as root, so
    under root the server runs as the ``postgres`` system user, in a folder it owns."""

    port: int
    folder: Path

    @classmethod
    def create(cls, port: int) -> "PrivateCluster":
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix="qorgau-pg-"))
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres", "postgres")
        return cls(port, folder)

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        result = subprocess.run([*prefix, *argv], capture_output=True, text=True)
        assert result.returncode == 0, f"{argv[0]} failed: {result.stderr[-2000:]}"

    def init(self) -> None:
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-sync")

    def _ctl(self, *args: str) -> None:
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c max_connections=200")
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options,
                  "-l", str(self.folder / "postgres.log"), "-w", "-t", "60", *args)

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> None:
        self._ctl("restart", "-m", "fast")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._ctl("stop", "-m", "immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    @staticmethod
    def available() -> bool:
        return (PG_BIN / "initdb").exists() and shutil.which("redis-server") is not None


def make_people(url: str) -> dict:
    """A region, social services and a prosecutor's office with the ladder's people, written
    straight into the database at ``url`` (they never sign in, so no password work is done)."""
    import uuid

    tag = uuid.uuid4().hex[:8]
    with admin(url) as conn:
        region = conn.execute("INSERT INTO regions (code, name) VALUES (%s, 'Fault region')"
                              " RETURNING id", (f"f-{tag}",)).fetchone()["id"]

        def agency(kind):
            return conn.execute("INSERT INTO agencies (code, name, kind, region_id) VALUES"
                                " (%s, %s, %s, %s) RETURNING id",
                                (f"{kind[:6]}-{tag}", kind, kind, region)).fetchone()["id"]

        social, prosecutor = agency("social_services"), agency("prosecutor")

        def user(name, agency_id, role, email):
            uid = conn.execute("INSERT INTO users (agency_id, username, full_name, email,"
                               " password_hash, preferred_language) VALUES (%s, %s, %s, %s,"
                               " 'not-a-hash', 'ru') RETURNING id",
                               (agency_id, f"{name}.{tag}", name, email)).fetchone()["id"]
            conn.execute("INSERT INTO user_roles (user_id, role) VALUES (%s, %s)", (uid, role))
            return uid

        people = {
            "region_id": region, "agency_id": social,
            "supervisor": user("supervisor", social, "supervisor", f"sup.{tag}@example.kz"),
            "supervisor2": user("supervisor2", social, "supervisor", None),
            "head": user("head", social, "supervisor", f"head.{tag}@example.kz"),
            "oversight": user("oversight", prosecutor, "oversight", f"prosecutor.{tag}@example.kz"),
        }
        conn.execute("INSERT INTO agency_heads (agency_id, user_id) VALUES (%s, %s)",
                     (social, people["head"]))
    people["recipients"] = [people["supervisor"], people["supervisor2"], people["head"]]
    return people
