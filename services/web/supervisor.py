"""A supervisor's pages: pending approvals and emergency-access grants to review.

The escalation queue lives in ``services.web.escalations``. Decisions go through the same
dispatcher and actions as the API (``services.approvals.actions.decide``,
``services.grants.actions.review_grant``), which check again who may decide.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from audit import AuditAction
from services import access
from services.approvals import actions as approval_actions
from services.approvals.actions import KINDS as APPROVAL_KINDS
from services.cases import paging
from services.db import transaction
from services.errors import QorgauError
from services.grants import actions as grant_actions
from services.web.forms import FormErrors, from_error
from services.web.names import Names

bp = Blueprint("supervisor", __name__, url_prefix="/supervisor")
bp.url_value_preprocessor(paging.ids_fit)


def _signed_in():
    if g.get("actor") is None:
        abort(redirect(url_for("auth.login", next=request.full_path.rstrip("?"))))
    return g.actor


# --- approvals -------------------------------------------------------------------------------

def _approvals_page(*, errors: FormErrors | None = None, failed_id: int | None = None):
    actor = _signed_in()
    approval_actions.require_supervisor(actor, AuditAction.APPROVAL_LISTED)
    kind = request.args.get("kind") or None
    filter_errors = FormErrors()
    if kind is not None and kind not in APPROVAL_KINDS:
        filter_errors.add("kind", _("Choose one of the options offered."))
        kind = None
    with transaction(actor) as conn:
        items, more = approval_actions.list_pending(conn, actor=actor, kind=kind, after=None, limit=100)
        page = render_template("supervisor/approvals.html", items=items, more=more, kind=kind,
                               kinds=APPROVAL_KINDS, names=Names(conn), errors=errors or {},
                               failed_id=failed_id, filter_errors=filter_errors,
                               form=request.form if errors else {})
    status = errors.status if errors else (400 if filter_errors else 200)
    return page, status


@bp.get("/approvals")
def approvals():
    return _approvals_page()


@bp.post("/approvals/<int:approval_id>")
def decide(approval_id: int):
    actor = _signed_in()
    decision = request.form.get("decision")
    approve = decision == "approve"
    attempted = AuditAction.APPROVAL_GRANTED if approve else AuditAction.APPROVAL_REJECTED
    approval_actions.require_supervisor(actor, attempted, approval_id)
    errors = FormErrors()
    if decision not in ("approve", "reject"):
        errors.add("decision", _("Choose to approve or to reject."))
    note = (request.form.get("note") or "").strip() or None
    if decision == "reject" and not note:
        errors.add("note", _("Say why the request is rejected."))
    if note and len(note) > 4000:
        errors.add("note", _("Keep it under 4,000 characters."))
    if not errors:
        try:
            with transaction(actor) as conn:
                approval_actions.decide(conn, approval_id, actor=actor, approve=approve, note=note)
        except QorgauError as exc:
            if exc.status == 404:
                raise
            errors = from_error(exc, {"note": _("Write a note: it is the recorded reason."),
                                      "decision": _("This request was already decided.")}, "decision")
        else:
            flash(_("Approved.") if approve else _("Rejected."))
            return redirect(url_for("supervisor.approvals"))
    return _approvals_page(errors=errors, failed_id=approval_id)


# --- emergency access reviews ----------------------------------------------------------------

def _grants_page(*, errors: FormErrors | None = None, failed_id: int | None = None):
    actor = _signed_in()
    if not (actor.has("supervisor") or actor.has("oversight")):
        access.record_denial(actor, AuditAction.EMERGENCY_ACCESS_LISTED, "access_grant", None,
                             reason="not_supervisor_or_oversight")
        raise access.AccessDenied("Only supervisors and oversight review emergency access.")
    pending = request.args.get("all") != "1"
    with transaction(actor) as conn:
        items, _more = grant_actions.list_grants(conn, actor=actor, pending_review=pending,
                                                 before_id=None, limit=100)
        page = render_template("supervisor/grants.html", items=items, pending=pending,
                               names=Names(conn), errors=errors or {}, failed_id=failed_id,
                               reviewer=actor.has("supervisor"), form=request.form if errors else {})
    return page, (errors.status if errors else 200)


@bp.get("/emergency-access")
def grants():
    return _grants_page()


@bp.post("/emergency-access/<int:grant_id>")
def review(grant_id: int):
    actor = _signed_in()
    if not actor.has("supervisor"):
        access.record_denial(actor, AuditAction.EMERGENCY_ACCESS_REVIEWED, "access_grant", grant_id,
                             reason="not_supervisor")
        raise access.AccessDenied("Only a supervisor of the holder's agency reviews a grant.")
    errors = FormErrors()
    outcome = request.form.get("outcome")
    if outcome not in ("justified", "unjustified"):
        errors.add("outcome", _("Say whether the access was justified."))
    note = (request.form.get("note") or "").strip() or None
    if outcome == "unjustified" and not note:
        errors.add("note", _("Say why the access was not justified."))
    revoke = request.form.get("revoke") == "1"
    if not errors:
        try:
            with transaction(actor) as conn:
                grant_actions.review_grant(conn, grant_id, actor=actor, outcome=outcome, note=note,
                                           revoke=revoke)
        except QorgauError as exc:
            if exc.status == 404:
                raise
            errors = from_error(exc, {"note": _("Say why the access was not justified."),
                                      "outcome": _("This grant was already reviewed.")}, "outcome")
        else:
            flash(_("Review recorded."))
            return redirect(url_for("supervisor.grants"))
    return _grants_page(errors=errors, failed_id=grant_id)
