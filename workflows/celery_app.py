"""Celery bound to the Flask app factory: the worker and beat entry point.

    celery -A workflows.celery_app:celery_app worker
    celery -A workflows.celery_app:celery_app beat

Tasks run inside an application context (Flask's ``examples/celery`` FlaskTask), carry the request
id of whatever published them, and are acknowledged only after they finish, so a task whose worker
died is delivered again; every task must therefore be safe to run twice (STYLE.md §7).
"""
from __future__ import annotations

import os
import pkgutil

from celery import Celery, Task, signals
from flask import Flask, has_app_context

import workflows
from audit import context as audit_context
from services import broker
from services.settings import Settings
from workflows.schedule import beat_schedule

REQUEST_ID_HEADER = "qorgau_request_id"
NOT_TASK_MODULES = {"celery_app", "schedule"}

_flask: Flask | None = None
_flask_pid: int | None = None


def flask_app() -> Flask:
    """This process's Flask app, created on first use so each forked worker has its own pool."""
    global _flask, _flask_pid
    if _flask is None or _flask_pid != os.getpid():
        from services.app import create_app

        _flask, _flask_pid = create_app(), os.getpid()
    return _flask


class FlaskTask(Task):
    """A task that runs inside an application context (the caller's, if it already has one)."""

    def __call__(self, *args, **kwargs):
        if has_app_context():
            return self.run(*args, **kwargs)
        with flask_app().app_context():
            return self.run(*args, **kwargs)


def task_modules() -> list[str]:
    """Every module of the ``workflows`` package but this one and the schedule: they hold tasks."""
    return sorted(
        f"workflows.{module.name}"
        for module in pkgutil.iter_modules(workflows.__path__)
        if module.name not in NOT_TASK_MODULES and not module.ispkg
    )


CONFIG = {
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
    # Both limits stay well below broker.VISIBILITY_TIMEOUT, so Redis never hands a task that is
    # still running to a second worker.
    "task_soft_time_limit": 240,
    "task_time_limit": 300,
    "task_ignore_result": True,
    "task_serializer": "json",
    "result_serializer": "json",
    "accept_content": ["json"],
    "enable_utc": True,
    "timezone": "UTC",
    "beat_schedule": beat_schedule,
    "imports": task_modules(),
    "broker_connection_retry_on_startup": True,
    "worker_hijack_root_logger": False,
}

celery_app = Celery("qorgau", task_cls=FlaskTask)
celery_app.conf.update(CONFIG)
celery_app.set_default()


_explicit_settings: list[Settings] = []


def configure(settings: Settings) -> None:
    """Point Celery at the broker ``settings`` name (tests call this; processes use the env)."""
    _explicit_settings[:] = [settings]
    celery_app.conf.update(broker.celery_options(broker.configured_url(settings)))


@celery_app.on_configure.connect
def _configure_from_environment(sender: Celery, **kwargs) -> None:
    """Read the broker from the environment, unless ``configure`` was given settings."""
    # The celery command line also reads BROKER_URL into broker_url, but knows nothing of the
    # embedded broker's folders, so the options are always set here, from the same variable.
    settings = _explicit_settings[0] if _explicit_settings else Settings.from_env()
    sender.conf.update(broker.celery_options(broker.configured_url(settings)))


@signals.setup_logging.connect
def _json_logging(loglevel=None, **kwargs) -> None:
    """Worker and beat log the same JSON lines as the web, request id included."""
    from services.logs import configure_logging

    configure_logging(loglevel or "INFO")


@signals.before_task_publish.connect
def _carry_request_id(headers: dict | None = None, **kwargs) -> None:
    """Send the publishing request's id along with the task."""
    request_id = audit_context.current().request_id
    if request_id and headers is not None:
        headers.setdefault(REQUEST_ID_HEADER, request_id)


_outer_contexts: dict[str, audit_context.AuditContext] = {}


@signals.task_prerun.connect
def _enter_task_context(task_id: str | None = None, task: Task | None = None, **kwargs) -> None:
    """Audit events and log lines of a task carry the request id that published it."""
    request_id = _request_id_of(task) or task_id
    _outer_contexts[task_id] = audit_context.current()
    audit_context.set_context(audit_context.AuditContext(request_id=request_id, channel="task"))


@signals.task_postrun.connect
def _leave_task_context(task_id: str | None = None, **kwargs) -> None:
    outer = _outer_contexts.pop(task_id, None)
    audit_context.set_context(outer or audit_context.AuditContext())


def _request_id_of(task: Task | None) -> str | None:
    if task is None:
        return None
    request = task.request
    value = getattr(request, REQUEST_ID_HEADER, None)
    if value is None:
        value = (getattr(request, "headers", None) or {}).get(REQUEST_ID_HEADER)
    return value if isinstance(value, str) and value.isalnum() and len(value) <= 64 else None
