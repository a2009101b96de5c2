"""The supervisor's escalation queue: acknowledge, reassign, extend with a reason, resolve.

Everything goes through ``services.clocks.escalations``, which shows each person the escalations
addressed to them and lets only the people on the ladder at its level act.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from services.agencies import queries as agency_queries
from services.cases import paging
from services.clocks import escalations
from services.db import transaction
from services.errors import QorgauError
from services.web.forms import FormErrors, from_error, integer
from services.web.names import Names

bp = Blueprint("escalations_web", __name__, url_prefix="/supervisor/escalations")
bp.url_value_preprocessor(paging.ids_fit)


def _signed_in():
    if g.get("actor") is None:
        abort(redirect(url_for("auth.login", next=request.full_path.rstrip("?"))))
    return g.actor


def _queue_page(*, errors: FormErrors | None = None, failed_id: int | None = None):
    actor = _signed_in()
    with transaction(actor) as conn:
        items = escalations.queue(conn, actor=actor, include_resolved=request.args.get("all") == "1")
        workers = [w for w in agency_queries.list_users(conn, actor.agency_id)
                   if not w.disabled and {"caseworker", "supervisor"} & set(w.roles)]
        page = render_template("supervisor/escalations.html", items=items, names=Names(conn),
                               workers=workers, errors=errors or {}, failed_id=failed_id,
                               form=request.form if errors else {})
    return page, (errors.status if errors else 200)


@bp.get("")
def escalations_queue():
    return _queue_page()


def _act(escalation_id: int, run, success: str, errors: FormErrors | None = None):
    actor = _signed_in()
    if not errors:
        try:
            with transaction(actor) as conn:
                run(conn, actor)
        except QorgauError as exc:
            if exc.status == 404:
                raise
            errors = from_error(exc, {"note": _("Write what was done."),
                                      "reason": _("Say why the deadline moves.")}, "action")
        else:
            flash(success)
            return redirect(url_for("escalations_web.escalations_queue"))
    return _queue_page(errors=errors, failed_id=escalation_id)


@bp.post("/<int:escalation_id>/acknowledge")
def acknowledge(escalation_id: int):
    return _act(escalation_id, lambda conn, actor: escalations.acknowledge(
        conn, actor=actor, escalation_id=escalation_id), _("Acknowledged: the repeats stop."))


@bp.post("/<int:escalation_id>/reassign")
def reassign(escalation_id: int):
    errors = FormErrors()
    user_id = integer(request.form, errors, "assignee_user_id")
    return _act(escalation_id, lambda conn, actor: escalations.reassign(
        conn, actor=actor, escalation_id=escalation_id, assignee_user_id=user_id),
        _("The work is reassigned."), errors)


@bp.post("/<int:escalation_id>/extend")
def extend(escalation_id: int):
    errors = FormErrors()
    days = integer(request.form, errors, "working_days")
    if days is not None and not 1 <= days <= 60:
        errors.add("working_days", _("Give 1 to 60 working days."))
    reason = (request.form.get("reason") or "").strip()
    if not reason:
        errors.add("reason", _("Say why the deadline moves."))
    return _act(escalation_id, lambda conn, actor: escalations.change_due(
        conn, actor=actor, escalation_id=escalation_id, working_days=days, reason=reason),
        _("The deadline is extended."), errors)


@bp.post("/<int:escalation_id>/resolve")
def resolve(escalation_id: int):
    errors = FormErrors()
    note = (request.form.get("note") or "").strip()
    if not note:
        errors.add("note", _("Write what was done."))
    return _act(escalation_id, lambda conn, actor: escalations.resolve(
        conn, actor=actor, escalation_id=escalation_id, note=note), _("Resolved."), errors)
