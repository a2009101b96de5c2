"""The in-app notification list, marking read, and the dead letters the system admin sees."""
from __future__ import annotations

from datetime import datetime

import audit
from audit import Actor, AuditAction
from services import clock as clock_source
from services import outbox
from services.errors import NotFound
from services.notifications import queries
from services.notifications.records import Notification


def list_notifications(conn, *, actor: Actor, unread_only: bool = False,
                       before_id: int | None = None, limit: int = 50) -> tuple[list[Notification], int]:
    """The actor's own notifications, newest first, and how many are unread."""
    items = queries.for_user(conn, actor.user_id, unread_only=unread_only, before_id=before_id,
                             limit=limit)
    unread = queries.unread_count(conn, actor.user_id)
    audit.record(conn, actor=actor, action=AuditAction.NOTIFICATIONS_LISTED,
                 object_type="user", object_id=actor.user_id,
                 details={"notification_count": len(items), "unread_count": unread})
    return items, unread


def unread_count(conn, *, actor: Actor) -> int:
    """How many of the actor's notifications are unread (not audited: it shows no content)."""
    return queries.unread_count(conn, actor.user_id)


def mark_read(conn, *, actor: Actor, notification_id: int | None,
              now: datetime | None = None) -> int:
    """Mark one of the actor's notifications (or all, with None) read; 404 if not theirs."""
    if notification_id is not None:
        found = queries.get(conn, notification_id)
        if found is None or found.user_id != actor.user_id:
            raise NotFound("No such notification.")
    changed = queries.mark_read(conn, actor.user_id, notification_id, now or clock_source.now())
    audit.record(conn, actor=actor, action=AuditAction.NOTIFICATION_READ,
                 object_type="notification", object_id=notification_id,
                 details={"notification_count": changed})
    return changed


def dead_letters(conn, *, actor: Actor, limit: int = 200) -> list[dict]:
    """Outbox rows that failed too often to deliver (system admin)."""
    rows = outbox.dead_letters(conn, limit)
    audit.record(conn, actor=actor, action=AuditAction.OUTBOX_DEAD_LISTED, object_type="outbox",
                 object_id=None, details={"outbox_count": len(rows)})
    return rows


def requeue(conn, *, actor: Actor, outbox_id: int) -> None:
    """Give a dead letter a fresh set of attempts (system admin)."""
    if not outbox.requeue(conn, outbox_id):
        raise NotFound("No such dead-lettered outbox row.")
    audit.record(conn, actor=actor, action=AuditAction.OUTBOX_REQUEUED, object_type="outbox",
                 object_id=outbox_id)
