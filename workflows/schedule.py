"""Every periodic job Qorgau runs, in one place; Celery beat reads ``beat_schedule``.

Jobs are named tasks that are safe to run twice, so a beat restart or an overlapping run costs
nothing but a repeated check. Clocks themselves live in PostgreSQL (DESIGN.md §6): missing a
tick delays work, it never loses it.
"""
from __future__ import annotations

from datetime import timedelta

from celery.schedules import crontab

beat_schedule = {
    # Signed head hashes of the audit chain, so an outside party can prove it was not rewritten
    # (DESIGN.md §5).
    "audit-checkpoint": {
        "task": "audit.checkpoint",
        "schedule": timedelta(seconds=60),
    },
    # Create the coming months' audit partitions ahead of time. A fixed time of day (UTC), not
    # a one-day interval: an interval restarts with beat, and a beat restarted more often than
    # daily would never reach it.
    "audit-ensure-partitions": {
        "task": "audit.ensure_partitions",
        "schedule": crontab(hour=0, minute=17),
    },
    # Walk due clocks along the escalation ladder (DESIGN.md §3, §6). Every 30 seconds; a run
    # that waited in the queue longer than that is dropped, as the next one does the same work.
    "clocks-sweep": {
        "task": "clocks.sweep",
        "schedule": timedelta(seconds=30),
        "options": {"expires": 25},
    },
    # Idempotency-Keys outlive any client's retry by far after IDEMPOTENCY_RETENTION_HOURS (24 h
    # by default); removing them hourly keeps the table to about a day of POSTs.
    "idempotency-purge": {
        "task": "idempotency.purge",
        "schedule": crontab(minute=23),
    },
    # The safety net under the relay process (workflows/outbox.py): outbox rows are relayed
    # within seconds even when that process is down.
    "outbox-relay": {
        "task": "outbox.relay",
        "schedule": timedelta(seconds=15),
        "options": {"expires": 10},
    },
}
