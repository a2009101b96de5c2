"""The outbox's dead letters for the system admin: notifications that failed too often to deliver,
and trying one again.

The same ``services.notifications.actions`` functions as the API (``/api/v1/admin/outbox``), after
``services.access.require_system_admin``. Payloads hold ids and codes only, never a child's story.
"""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _

from audit import AuditAction
from services import access
from services.auth.current import login_required
from services.cases import paging
from services.db import transaction
from services.errors import NotFound
from services.notifications import actions

bp = Blueprint("outbox", __name__, url_prefix="/outbox")
bp.url_value_preprocessor(paging.ids_fit)


def _page(*, problem: str | None = None, failed_id: int | None = None, status: int = 200):
    actor = access.require_system_admin(g.actor, AuditAction.OUTBOX_DEAD_LISTED, "outbox")
    with transaction(actor) as conn:
        rows = actions.dead_letters(conn, actor=actor)
    return render_template("admin/dead_letters.html", rows=rows, problem=problem,
                           failed_id=failed_id), status


@bp.get("/dead")
@login_required
def dead_letters():
    return _page()


@bp.post("/<int:outbox_id>/requeue")
@login_required
def requeue(outbox_id: int):
    actor = access.require_system_admin(g.actor, AuditAction.OUTBOX_REQUEUED, "outbox", outbox_id)
    try:
        with transaction(actor) as conn:
            actions.requeue(conn, actor=actor, outbox_id=outbox_id)
    except NotFound:
        return _page(problem=_("This notification is no longer a dead letter: it was tried again "
                               "already."), failed_id=outbox_id, status=404)
    flash(_("Notification %(id)s will be delivered again.", id=outbox_id))
    return redirect(url_for("admin.outbox.dead_letters"))
