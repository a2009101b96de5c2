"""Delivery of outbox rows: in-app notifications and e-mail (issue 5 item 5).

One task per outbox row, keyed by its id (``services/notifications/delivery.py``). Retries are
not Celery's: a failure is written to the outbox row with its backoff, and the relay publishes it
again when it is due, so a retry survives a broker that loses its queue.
"""
from __future__ import annotations

from celery import shared_task
from flask import current_app

from services.db import get_db
from services.notifications import delivery


@shared_task(name="notifications.deliver", acks_late=True, soft_time_limit=60, time_limit=90)
def deliver(outbox_id: int) -> str:
    """Deliver one outbox row (a no-op if it was delivered already)."""
    settings = current_app.config["QORGAU_SETTINGS"]
    return delivery.deliver(get_db(), outbox_id, smtp_url=settings.smtp_url,
                            mail_from=settings.mail_from, base_url=settings.base_url)
