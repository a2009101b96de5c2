"""Database upkeep tasks; beat runs them (``workflows/schedule.py``)."""
from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from flask import current_app

from audit import Actor
from services import clock, idempotency
from services.db import get_db

SYSTEM = Actor.system("beat")


@shared_task(name="idempotency.purge", acks_late=True)
def purge_idempotency_keys() -> int:
    """Remove Idempotency-Keys older than their retention; safe to run twice or at once."""
    hours = current_app.config["QORGAU_SETTINGS"].idempotency_retention_hours
    before = clock.now() - timedelta(hours=hours)
    total = 0
    while True:
        with get_db().transaction(SYSTEM) as conn:
            removed = idempotency.purge_expired(conn, actor=SYSTEM, before=before)
        total += removed
        if removed < idempotency.PURGE_BATCH:
            return total
