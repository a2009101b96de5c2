"""A task for the Celery tests: it writes down the context it ran in."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from flask import current_app, has_app_context

from audit import context as audit_context
from workflows.celery_app import celery_app

log = logging.getLogger("qorgau.tests.probe")


@celery_app.task(name="tests.record_task_context")
def record_task_context(path: str) -> None:
    """Write the task's request id, channel and app-context facts to ``path``."""
    ctx = audit_context.current()
    log.info("probe task ran")
    Path(path).write_text(json.dumps({
        "request_id": ctx.request_id,
        "channel": ctx.channel,
        "app_context": has_app_context(),
        "has_settings": has_app_context() and "QORGAU_SETTINGS" in current_app.config,
    }))
