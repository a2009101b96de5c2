"""The clock sweep, run by beat every 30 seconds (``schedule.py``; issue 5 item 3)."""
from __future__ import annotations

from celery import shared_task

from services.clocks import sweep as clock_sweep
from services.db import get_db


@shared_task(name="clocks.sweep", acks_late=True)
def sweep() -> int:
    """Take every due ladder step; safe to run twice or in two workers at once."""
    return clock_sweep.sweep(get_db()).steps
