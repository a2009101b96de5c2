"""Delivering one outbox row: in-app notifications, then one e-mail per recipient.

Keyed by the outbox id, so a task delivered twice (a worker killed, the relay restarted, the
broker redelivering) adds nothing and sends nothing twice: in-app rows are unique on
(outbox_id, user_id), and each e-mail has a ``deliveries`` row, locked while it is sent and
committed as sent before the message is released (``mailer.py`` explains the order). A failure
is counted on the outbox row, which the relay publishes again after an exponential backoff with
jitter; after ``outbox.MAX_ATTEMPTS`` failures the row is dead-lettered for the system admin.
"""
from __future__ import annotations

import logging
from datetime import datetime

import audit
from audit import Actor, AuditAction
from services import outbox
from services.notifications import mailer, messages, queries
from services.notifications.records import Notice, Recipient

log = logging.getLogger("qorgau.notifications")
SYSTEM = Actor.system("notifications")
# The subject of a row about no clock, disagreement or case: (payload key, subject type).
REF_SUBJECTS = (("referral_id", "referral"), ("approval_id", "approval"), ("grant_id", "grant"))


def recipients_for(conn, topic: str, payload: dict) -> list[int]:
    """Who a row is for: its ``user_ids``, or for other capabilities' topics, who they concern."""
    if payload.get("user_ids"):
        return list(payload["user_ids"])
    agency_id, region_id = payload.get("agency_id"), payload.get("region_id")
    users: list[int] = []
    if agency_id is not None:
        users += queries.users_with_role(conn, "supervisor", agency_id=agency_id)
    if topic == "grants.emergency_access_granted" and region_id is not None:
        # DESIGN.md §2: an emergency grant is reviewed by a supervisor and notifies oversight.
        users += queries.users_with_role(conn, "oversight", region_id=region_id)
    return sorted(set(users))


def compose(conn, row: dict) -> Notice:
    """The notice for an outbox row: its context loaded by id, its recipients resolved."""
    topic, payload = row["topic"], row["payload"]
    refs = {k: v for k, v in payload.items() if k != "user_ids"}
    context: dict = {}
    if payload.get("clock_id"):
        c = queries.clock_context(conn, payload["clock_id"])
        if c:
            context = dict(subject_type=c["subject_type"], subject_id=c["subject_id"],
                           child_id=c["child_id"], clock_kind=c["kind"], due_at=c["due_at"],
                           timezone=c["timezone"])
    elif payload.get("disagreement_id"):
        d = queries.disagreement_context(conn, payload["disagreement_id"])
        if d:
            context = dict(subject_type="disagreement", subject_id=payload["disagreement_id"],
                           child_id=d["child_id"], clock_kind=f"disagreement_stage_{d['stage']}",
                           due_at=d["due_at"], timezone=d["timezone"])
    elif payload.get("case_id"):
        context = dict(subject_type="case", subject_id=payload["case_id"],
                       child_id=payload.get("child_id"))
        if payload.get("due_at"):
            context["due_at"] = datetime.fromisoformat(payload["due_at"])
    else:
        # A referral received or changed, an approval asked for, an emergency grant to review:
        # the record the row names is the subject, so the notification leads straight to it.
        for key, subject_type in REF_SUBJECTS:
            if payload.get(key):
                context = dict(subject_type=subject_type, subject_id=payload[key])
                break
        if payload.get("child_id"):
            context["child_id"] = payload["child_id"]
    users = queries.recipients(conn, recipients_for(conn, topic, payload))
    return Notice(outbox_id=row["id"], kind=topic, refs=refs, recipients=tuple(users), **context)


def deliver(db, outbox_id: int, *, smtp_url: str | None, mail_from: str, base_url: str,
            max_attempts: int = outbox.MAX_ATTEMPTS) -> str:
    """Deliver one outbox row; 'delivered', 'done' (already, by this or another copy of the
    task), 'retry', 'dead' or 'missing'."""
    with db.transaction(SYSTEM) as conn:
        row = outbox.lock(conn, outbox_id)
        if row is None:
            return "missing"
        if row["delivered_at"] or row["dead_at"]:
            return "done"
        notice = compose(conn, row)
        added = queries.add(conn, outbox_id=outbox_id, user_ids=[r.user_id for r in notice.recipients],
                            kind=notice.kind, subject_type=notice.subject_type,
                            subject_id=notice.subject_id, child_id=notice.child_id, refs=notice.refs)
        if added:
            audit.record(conn, actor=SYSTEM, action=AuditAction.NOTIFICATION_DELIVERED,
                         object_type="outbox", object_id=outbox_id, child_id=notice.child_id,
                         details={"kind": notice.kind, "user_count": added, "channel": "in_app"})
    failures = send_emails(db, notice, smtp_url=smtp_url, mail_from=mail_from, base_url=base_url)
    with db.transaction(SYSTEM) as conn:
        row = outbox.lock(conn, outbox_id)
        if row["delivered_at"] or row["dead_at"]:
            # Another copy of the task (the row published twice) finished it while this one was
            # sending: its outcome stands, and a delivered or dead row does not change.
            return "done"
        if not failures:
            outbox.mark_delivered(conn, outbox_id)
            return "delivered"
        dead = outbox.record_failure(conn, outbox_id, failures[0], max_attempts=max_attempts)
        if dead:
            audit.record(conn, actor=SYSTEM, action=AuditAction.OUTBOX_DEAD_LETTERED,
                         object_type="outbox", object_id=outbox_id, child_id=notice.child_id,
                         details={"kind": notice.kind, "failure_count": len(failures)})
        log.warning("outbox %s: %d e-mail(s) failed: %s", outbox_id, len(failures), failures[0])
        return "dead" if dead else "retry"


def send_emails(db, notice: Notice, *, smtp_url: str | None, mail_from: str,
                base_url: str) -> list[str]:
    """Send the notice to every recipient with an address; the transient failures' messages."""
    failures: list[str] = []
    session = None
    try:
        for recipient in (r for r in notice.recipients if r.email):
            try:
                if session is None:
                    session = mailer.open_session(smtp_url)
                send_one(db, session, notice, recipient, mail_from=mail_from, base_url=base_url)
            except mailer.MailError as exc:
                if not exc.permanent:
                    failures.append(str(exc))
                    if session is not None:
                        session.close()
                    session = None
    finally:
        if session is not None:
            session.close()
    return failures


def message_id(outbox_id: int, user_id: int, mail_from: str) -> str:
    domain = mail_from.rpartition("@")[2].strip("> ") or "qorgau.local"
    return f"<qorgau.{outbox_id}.{user_id}@{domain}>"


def send_one(db, session, notice: Notice, recipient: Recipient, *, mail_from: str,
             base_url: str) -> None:
    """Send one e-mail unless its delivery row says it went already (see ``mailer``)."""
    mid = message_id(notice.outbox_id, recipient.user_id, mail_from)
    msg = messages.email(notice, lang=recipient.language, to=recipient.email, sender=mail_from,
                         url=base_url.rstrip("/") + "/", message_id=mid)
    pending, refused, delivery_id = None, None, None
    try:
        with db.transaction(SYSTEM) as conn:
            delivery = queries.claim_delivery(conn, notice.outbox_id, recipient.user_id)
            delivery_id = delivery["id"]
            if delivery["state"] != "pending":
                return
            try:
                pending = session.prepare(msg, mail_from, recipient.email)
            except mailer.MailError as exc:
                refused = exc
                queries.delivery_failed(conn, delivery_id, str(exc), permanent=exc.permanent)
            else:
                queries.delivery_sent(conn, delivery_id, mid)
                audit.record(conn, actor=SYSTEM, action=AuditAction.EMAIL_SENT,
                             object_type="outbox", object_id=notice.outbox_id,
                             child_id=notice.child_id,
                             details={"delivery_id": delivery_id,
                                      "recipient_user_id": recipient.user_id,
                                      "kind": notice.kind})
    except BaseException:
        if pending is not None:
            pending.abort()  # not committed: the server must drop the unfinished message
        raise
    if refused is not None:
        raise refused
    try:
        pending.finish()
    except mailer.MailError as exc:
        with db.transaction(SYSTEM) as conn:
            queries.delivery_failed(conn, delivery_id, str(exc), permanent=exc.permanent)
        raise
