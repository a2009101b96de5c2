"""The signed-in user's in-app notifications: the list (newest first), marking one or all read.

The same ``services.notifications.actions`` functions as the API (``/api/v1/notifications``): a
user only ever sees and marks their own, and listing them is audited. The titles name no child.
"""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from services import access
from services.auth.current import login_required
from services.cases import paging
from services.db import transaction
from services.notifications import actions, delivery, messages
from services.web.forms import FormErrors, integer

bp = Blueprint("notifications", __name__, url_prefix="/notifications")
bp.url_value_preprocessor(paging.ids_fit)

PAGE_SIZE = 50
# Where a notification about each kind of subject leads: (endpoint, argument, anchor). A
# disagreement's page is its case's; approvals and grants are items of their supervisor lists.
SUBJECT_PAGES = {"referral": ("referrals_web.referral_page", "referral_id", None),
                 "case": ("cases_web.case_page", "case_id", None),
                 "approval": ("supervisor.approvals", None, "approval"),
                 "grant": ("supervisor.grants", None, "grant")}


def subject_url(n) -> str | None:
    """The page of the record a notification is about, if it has one."""
    refs = n.refs or {}
    subject_type, subject_id = n.subject_type, n.subject_id
    if subject_type is None:  # delivered before every row named its subject: the one it refers to
        subject_type, subject_id = next(((t, refs[k]) for k, t in delivery.REF_SUBJECTS
                                         if isinstance(refs.get(k), int)), (None, None))
    if subject_type == "disagreement":
        subject_type, subject_id = "case", refs.get("case_id")
    target = SUBJECT_PAGES.get(subject_type or "")
    if target is None or not isinstance(subject_id, int):
        return None
    endpoint, argument, anchor = target
    if anchor:
        return url_for(endpoint) + f"#{anchor}-{subject_id}"
    return url_for(endpoint, **{argument: subject_id})


@bp.get("")
@login_required
def inbox():
    actor = access.require_signed_in(g.actor)
    errors = FormErrors()
    before = integer(request.args, errors, "before", optional=True)
    unread_only = request.args.get("unread") == "1"
    with transaction(actor) as conn:
        items, unread = actions.list_notifications(conn, actor=actor, unread_only=unread_only,
                                                   before_id=before, limit=PAGE_SIZE)
    lang = messages.language(str(get_locale()))
    rows = [{"n": n, "title": messages.title(n.kind, lang, n.refs or {}),
             "about": messages.subject_label(n.subject_type, n.subject_id, lang),
             "url": subject_url(n)} for n in items]
    older = items[-1].id if len(items) == PAGE_SIZE else None
    return render_template("notifications/list.html", rows=rows, unread=unread,
                           unread_only=unread_only, older=older,
                           errors=errors), (400 if errors else 200)


@bp.post("/<int:notification_id>/read")
@login_required
def mark_read(notification_id: int):
    actor = access.require_signed_in(g.actor)
    with transaction(actor) as conn:
        actions.mark_read(conn, actor=actor, notification_id=notification_id)
    flash(_("Marked as read."))
    return redirect(url_for("web.notifications.inbox") + f"#notification-{notification_id}")


@bp.post("/read-all")
@login_required
def mark_all_read():
    actor = access.require_signed_in(g.actor)
    with transaction(actor) as conn:
        count = actions.mark_read(conn, actor=actor, notification_id=None)
    flash(_("%(count)s notifications marked as read.", count=count))
    return redirect(url_for("web.notifications.inbox"))
