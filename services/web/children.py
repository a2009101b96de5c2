"""Children: find a child, the child's page (identity, cases, the multi-agency chronology), and
emergency access to a child outside one's scope.

The child is loaded through ``services.access.access_child`` (the same 404 for "missing" and
"not yours") and every read is audited by the Core functions the API uses.
"""
from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from audit import AuditAction
from services import access, policy
from services.cases import paging, reads
from services.cases.records import ENTRY_KINDS
from services.children import actions
from services.children.records import child_from_row
from services.db import transaction
from services.errors import QorgauError
from services.grants import actions as grant_actions
from services.web.cases import chronology_filters
from services.web.forms import FormErrors, from_error, required
from services.web.names import Names

bp = Blueprint("children_web", __name__)
bp.url_value_preprocessor(paging.ids_fit)

PAGE_SIZE = 100


def _signed_in():
    if g.get("actor") is None:
        abort(redirect(url_for("auth.login", next=request.full_path.rstrip("?"))))
    return g.actor


@bp.get("/children")
def search():
    """Find a child by IIN, or by name and date of birth."""
    actor = actions.require_practitioner(_signed_in(), AuditAction.CHILD_SEARCHED, "child")
    args = request.args
    errors = FormErrors()
    result = None
    iin = (args.get("iin") or "").strip()
    names = {k: (args.get(k) or "").strip() for k in ("last_name", "first_name", "date_of_birth")}
    if iin or any(names.values()):
        if not iin:
            for key, value in names.items():
                if not value:
                    errors.add(key, _("This field is required."))
            try:
                born = date.fromisoformat(names["date_of_birth"]) if names["date_of_birth"] else None
            except ValueError:
                errors.add("date_of_birth", _("Enter a date such as 2014-09-01."))
        if not errors:
            try:
                with transaction(actor) as conn:
                    if iin:
                        result = actions.search_by_iin(conn, iin, actor=actor)
                    else:
                        result = actions.search_by_name(conn, names["last_name"], names["first_name"],
                                                        born, actor=actor)
            except QorgauError as exc:
                errors = from_error(exc, {"iin": _("This is not a valid IIN: check the 12 digits.")})
    status = errors.status if errors else 200
    return render_template("children/search.html", errors=errors, result=result, iin=iin,
                           names=names, caseworker=actor.has("caseworker")), status


@bp.get("/children/<int:child_id>")
def child_page(child_id: int):
    """The child's identity, cases and multi-agency chronology (filter by agency and kind)."""
    actor = _signed_in()
    filter_errors = FormErrors()
    filters = chronology_filters(request.args, filter_errors)
    purpose = "oversight_review" if actor.has("oversight") and not policy.is_practitioner(actor) else "case_work"
    with transaction(actor) as conn:
        row, facts = access.access_child(conn, actor, child_id)
        child = actions.view_child(conn, child_from_row(row), actor=actor, purpose=purpose)
        entries, more = reads.child_chronology(conn, facts, actor=actor, limit=PAGE_SIZE, **filters)
        grants = access.live_grants(conn, actor)
        cases = [c for c in facts.cases if policy.can_case(actor, c, grants, policy.READ)]
        names = Names(conn)
        agency_ids = sorted({p.agency_id for c in cases for p in c.participants})
        page = render_template(
            "children/child.html", child=child, cases=cases, entries=entries, names=names,
            filters=filters, filter_errors=filter_errors, entry_kinds=ENTRY_KINDS,
            filter_agencies=[{"id": a, "name": names.agency(a)} for a in agency_ids],
            next_cursor=(paging.encode(entries[-1]["occurred_at"], entries[-1]["id"])
                         if more and entries else None),
            referral_ids=sorted({r.referral_id for r in facts.referrals}),
            emergency=child_id in grants.child_ids)
    return page, (400 if filter_errors else 200)


# --- emergency access ----------------------------------------------------------------------------

def _grant_form(child_id: int, *, errors: FormErrors | None = None, reason: str = ""):
    status = errors.status if errors else 200
    return render_template("children/emergency.html", child_id=child_id, errors=errors or {},
                           reason=reason), status


@bp.get("/children/<int:child_id>/emergency-access")
def emergency_form(child_id: int):
    actions.require_practitioner(_signed_in(), AuditAction.EMERGENCY_ACCESS_GRANTED, "child", child_id)
    return _grant_form(child_id)


@bp.post("/children/<int:child_id>/emergency-access")
def emergency_grant(child_id: int):
    """Open the child's record for four hours after the caseworker states why and re-enters
    their password (the grant is reviewed by a supervisor and oversight is told)."""
    actor = _signed_in()
    if not actor.has("caseworker"):
        access.record_denial(actor, AuditAction.EMERGENCY_ACCESS_GRANTED, "child", child_id,
                             reason="not_caseworker")
        raise access.AccessDenied("Emergency access is for caseworkers.")
    errors = FormErrors()
    reason = required(request.form, errors, "reason")
    if reason and not 20 <= len(reason) <= 2000:
        errors.add("reason", _("Explain in 20 to 2000 characters why the record must be opened now."))
    password = request.form.get("password") or ""
    if not password:
        errors.add("password", _("Enter your password again."))
    if errors:
        return _grant_form(child_id, errors=errors, reason=reason)
    with transaction(actor) as conn:
        outcome = grant_actions.grant_emergency_access(conn, actor=actor, child_id=child_id,
                                                       reason=reason, password=password)
    if outcome.grant is None:
        errors = FormErrors()
        if outcome.refused == "locked":
            errors.status = 429
            errors.add("password", _("Too many failed attempts. Try again in %(minutes)s minutes.",
                                     minutes=max(1, outcome.retry_after // 60)))
        elif outcome.refused == "no_child":
            errors.status = 404
            errors.add("form", _("No such child in your region."))
        else:
            errors.status = 401
            errors.add("password", _("The password is not right."))
        return _grant_form(child_id, errors=errors, reason=reason)
    flash(_("Emergency access granted for four hours. Your supervisor will review it."))
    return redirect(url_for("children_web.child_page", child_id=child_id))
