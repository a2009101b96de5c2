"""API: your in-app notifications; the outbox's dead letters (system admin); ``flask outbox relay``."""
from __future__ import annotations

import signal
import threading
from typing import Annotated

import click
from flask import Blueprint, current_app, g, jsonify
from pydantic import Field

from audit import AuditAction
from services import access
from services.api.spec import Strict, operation
from services.cases.paging import MAX_ID, ids_fit
from services.db import transaction
from services.notifications import actions, messages
from services.security import csrf

api_bp = Blueprint("notifications_api", __name__, url_prefix="/api/v1/notifications")
csrf.exempt(api_bp)
api_bp.url_value_preprocessor(ids_fit)

# The relay is a command of its own (``flask outbox relay``), registered with this blueprint.
outbox_bp = Blueprint("outbox_admin_api", __name__, url_prefix="/api/v1/admin/outbox",
                      cli_group="outbox")
csrf.exempt(outbox_bp)
outbox_bp.url_value_preprocessor(ids_fit)

Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class ListQuery(Strict):
    unread_only: bool = False
    before_id: Id | None = Field(default=None, description="the last id of the previous page")
    limit: int = Field(default=50, ge=1, le=100)


def _notification_json(n, lang: str) -> dict:
    return {"id": n.id, "kind": n.kind, "title": messages.title(n.kind, lang, n.refs),
            "subject_type": n.subject_type, "subject_id": n.subject_id, "child_id": n.child_id,
            "refs": n.refs, "created_at": n.created_at.isoformat(),
            "read_at": n.read_at.isoformat() if n.read_at else None}


def _language() -> str:
    return messages.language((g.get("user") or {}).get("preferred_language"))


@api_bp.get("")
@operation("Your notifications, newest first, with the unread count", query=ListQuery,
           tags=("notifications",))
def list_notifications(query: ListQuery):
    actor = access.require_signed_in(g.actor)
    with transaction(actor) as conn:
        items, unread = actions.list_notifications(conn, actor=actor, unread_only=query.unread_only,
                                                   before_id=query.before_id, limit=query.limit)
    lang = _language()
    return jsonify(items=[_notification_json(n, lang) for n in items], unread_count=unread)


@api_bp.get("/unread-count")
@operation("How many of your notifications are unread", tags=("notifications",))
def unread_count():
    actor = access.require_signed_in(g.actor)
    with transaction(actor) as conn:
        count = actions.unread_count(conn, actor=actor)
    return jsonify(unread_count=count)


@api_bp.post("/<int:notification_id>/read")
@operation("Mark one of your notifications read", tags=("notifications",), errors=(404,))
def mark_read(notification_id: int):
    actor = access.require_signed_in(g.actor)
    with transaction(actor) as conn:
        actions.mark_read(conn, actor=actor, notification_id=notification_id)
        count = actions.unread_count(conn, actor=actor)
    return jsonify(unread_count=count)


@api_bp.post("/read-all")
@operation("Mark all your notifications read", tags=("notifications",))
def mark_all_read():
    actor = access.require_signed_in(g.actor)
    with transaction(actor) as conn:
        actions.mark_read(conn, actor=actor, notification_id=None)
    return jsonify(unread_count=0)


@outbox_bp.get("/dead")
@operation("Outbox rows that failed too often to deliver (system admin)", tags=("admin",))
def dead_letters():
    actor = access.require_system_admin(g.actor, AuditAction.OUTBOX_DEAD_LISTED, "outbox")
    with transaction(actor) as conn:
        rows = actions.dead_letters(conn, actor=actor)
    return jsonify(items=[{"id": r["id"], "topic": r["topic"], "payload": r["payload"],
                           "created_at": r["created_at"].isoformat(), "attempts": r["attempts"],
                           "dead_at": r["dead_at"].isoformat(), "last_error": r["last_error"]}
                          for r in rows])


@outbox_bp.post("/<int:outbox_id>/requeue")
@operation("Try a dead letter again (system admin)", tags=("admin",), errors=(404,))
def requeue(outbox_id: int):
    actor = access.require_system_admin(g.actor, AuditAction.OUTBOX_REQUEUED, "outbox", outbox_id)
    with transaction(actor) as conn:
        actions.requeue(conn, actor=actor, outbox_id=outbox_id)
    return jsonify(id=outbox_id, requeued=True)


@outbox_bp.cli.command("relay")
@click.option("--once", is_flag=True, help="relay what is due now and exit")
def relay_command(once: bool) -> None:
    """Relay committed outbox rows to Celery until stopped (make run starts this)."""
    # The command is an entry point like the worker, so it may reach into workflows; the
    # services layer itself never imports Celery.
    from workflows import outbox as relay

    settings = current_app.config["QORGAU_SETTINGS"]
    if once:
        click.echo(f"relayed {relay.relay_once(current_app.extensions['qorgau_db'])} row(s)")
        return
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):  # finish the batch in hand, then exit 0
        signal.signal(signum, lambda *_: stop.set())
    relay.run_forever(current_app.extensions["qorgau_db"], settings.app_database_url, stop=stop)
