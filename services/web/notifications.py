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
from services.notifications import actions, messages
from services.web.forms import FormErrors, integer

bp = Blueprint("notifications", __name__, url_prefix="/notifications")
bp.url_value_preprocessor(paging.ids_fit)

PAGE_SIZE = 50
# Where a notification leads: the page of its subject (a clock's, a disagreement's case), else of
# the record its references name (a referral received, an approval or a grant to review).
SUBJECT_PAGES = {"referral": ("referrals_web.referral_page", "referral_id", "subject_id"),
                 "case": ("cases_web.case_page", "case_id", "subject_id"),
                 "disagreement": ("cases_web.case_page", "case_id", "case_id")}
REF_PAGES = (("referral_id", "referrals_web.referral_page", "referral_id"),
             ("approval_id", "supervisor.approvals", None),
             ("grant_id", "supervisor.grants", None))


def subject_url(n) -> str | None:
    """The page of the record a notification is about, if it has one."""
    refs = n.refs or {}
    target = SUBJECT_PAGES.get(n.subject_type or "")
    if target is not None:
        endpoint, argument, source = target
        value = n.subject_id if source == "subject_id" else refs.get(source)
        return url_for(endpoint, **{argument: value}) if isinstance(value, int) else None
    for key, endpoint, argument in REF_PAGES:
        if isinstance(refs.get(key), int):
            return url_for(endpoint, **({argument: refs[key]} if argument else {}))
    return None


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
