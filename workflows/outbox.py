"""The outbox relay: the one producer that sends committed outbox rows to Celery.

It runs as its own long-lived process, ``flask outbox relay`` (``make run`` starts it beside the
worker and beat), woken by ``NOTIFY qorgau_outbox`` when a transaction that enqueued commits and
polling every second in case a notification was missed (a dropped connection, a relay started
late). Beat also runs ``outbox.relay`` every 15 seconds as a safety net, so notifications are
only late, never lost, while the relay process is down. Two relays never publish the same row at
once: each claims its rows with ``FOR UPDATE SKIP LOCKED``.

Order: publish, then mark published, in one transaction. A relay killed between the two leaves
the rows unmarked, and they are published again; the delivery task is keyed by the outbox id, so
the second copy sends nothing twice. A broker that is down makes the publish fail and the
transaction roll back; the relay backs off and tries again.
"""
from __future__ import annotations

import logging
import threading
from datetime import timedelta

import psycopg
from celery import shared_task

from audit import Actor
from services import outbox
from services.db import get_db
from workflows.celery_app import celery_app

log = logging.getLogger("qorgau.outbox")
SYSTEM = Actor.system("outbox-relay")
DEFAULT_TASK = "notifications.deliver"
# Topics delivered by a task other than the notification task (none yet).
TOPIC_TASKS: dict[str, str] = {}
BATCH = 200
POLL_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 10.0
# The broker gets two quick retries inside one publish; beyond that the relay's own backoff
# takes over, so a broker outage never blocks the relay for long.
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1}


def task_for(topic: str) -> str:
    return TOPIC_TASKS.get(topic, DEFAULT_TASK)


def publish(task_name: str, outbox_id: int) -> None:
    """Hand one row to the broker (raises if the broker does not take it)."""
    celery_app.send_task(task_name, args=[outbox_id], retry=True, retry_policy=PUBLISH_RETRY)


def relay_once(db, *, send=publish, limit: int = BATCH,
               lease: timedelta = outbox.LEASE) -> int:
    """Publish the due rows of one batch and mark them; how many were published."""
    with db.transaction(SYSTEM) as conn:
        rows = outbox.claim_due(conn, limit)
        for row in rows:
            send(task_for(row["topic"]), row["id"])
        if rows:
            outbox.mark_published(conn, [r["id"] for r in rows], lease)
    return len(rows)


def _listen(url: str) -> psycopg.Connection:
    conn = psycopg.connect(url, autocommit=True, connect_timeout=5)
    conn.execute(f"LISTEN {outbox.CHANNEL}")
    return conn


def run_forever(db, listen_url: str, *, stop: threading.Event | None = None,
                poll: float = POLL_SECONDS, send=publish,
                lease: timedelta = outbox.LEASE) -> None:
    """Relay until ``stop`` is set (or the process is told to stop)."""
    stop = stop or threading.Event()
    listener: psycopg.Connection | None = None
    backoff = 0.0
    log.info("outbox relay started")
    while not stop.is_set():
        try:
            if listener is None:
                listener = _listen(listen_url)
            published = relay_once(db, send=send, lease=lease)
            backoff = 0.0
            if published >= BATCH:
                continue
            for _ in listener.notifies(timeout=poll, stop_after=1):
                pass
        except Exception as exc:  # PostgreSQL or the broker is away: back off, then resume
            log.warning("outbox relay: %s: %s; retrying", type(exc).__name__, exc)
            if listener is not None:
                listener.close()
                listener = None
            backoff = min(max(backoff * 2, 0.5), MAX_BACKOFF_SECONDS)
            stop.wait(backoff)
    if listener is not None:
        listener.close()
    log.info("outbox relay stopped")


@shared_task(name="outbox.relay", acks_late=True)
def relay() -> int:
    """The beat-driven safety net: relay whatever is due now."""
    return relay_once(get_db())
