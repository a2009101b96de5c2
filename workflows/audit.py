"""Audit upkeep tasks; beat runs them (``workflows/schedule.py``)."""
from __future__ import annotations

from celery import shared_task
from flask import current_app

from audit import Actor, maintenance
from services.db import transaction


@shared_task(name="audit.checkpoint", acks_late=True)
def checkpoint() -> int | None:
    """Sign a checkpoint over the events recorded since the last one (a no-op when none)."""
    key_path = current_app.config["QORGAU_SETTINGS"].audit_signing_key
    with transaction(Actor.system("beat")) as conn:
        signed = maintenance.checkpoint_now(conn, key_path)
    return signed.checkpoint.id if signed else None


@shared_task(name="audit.ensure_partitions", acks_late=True)
def ensure_partitions() -> int:
    """Create the audit log's partitions for the coming months (a no-op when they exist)."""
    with transaction(Actor.system("beat")) as conn:
        return maintenance.ensure_partitions(conn)
