"""Professional disagreements on the case page (PRACTICE.md §3): any participant raises one against
another participating agency's decision; the parties take it to the next stage or resolve it, and
oversight resolves it at stage 3. Each stage shows its own clock.

The forms call ``services.clocks.disagreements``, which decides who may do what (and audits it),
after ``services.access.access_case`` has loaded the case, as every case form does.
"""
from __future__ import annotations

from flask import Blueprint, request
from flask_babel import gettext as _

from audit import AuditAction
from services import policy
from services.clocks import disagreements
from services.errors import NotFound
from services.web import cases
from services.web.forms import FormErrors, choice, integer, required
from services.web.labels import DISAGREEMENT_DECISIONS

bp = Blueprint("disagreements", __name__, url_prefix="/cases/<int:case_id>/disagreements")

MAX_TEXT = 4000


def _text(errors: FormErrors, field: str, message: str) -> str:
    text = required(request.form, errors, field, message)
    if len(text) > MAX_TEXT:
        errors.add(field, _("Keep it under 4,000 characters."))
    return text


def _in_case(conn, actor, case_id: int, disagreement_id: int, attempted: AuditAction) -> None:
    """The disagreement must be one of this case's (the same 404 as a hidden one otherwise)."""
    d = disagreements.access_disagreement(conn, actor, disagreement_id, attempted)
    if d.case_id != case_id:
        raise NotFound(disagreements.HIDDEN)


def _refusals() -> dict[int, str]:
    return {403: _("Only a party to the disagreement at its current stage may do this; at stage "
                   "3, oversight."),
            409: _("The disagreement is resolved already, or already with oversight.")}


@bp.post("")
def raise_disagreement(case_id: int):
    form = request.form
    errors = FormErrors()
    against = integer(form, errors, "against_agency_id")
    decision = choice(form, errors, "decision_type", DISAGREEMENT_DECISIONS)
    decision_id = integer(form, errors, "decision_id", optional=True)
    reason = _text(errors, "reason", _("Say what the disagreement is about."))
    return cases._change(
        case_id, "disagreement", AuditAction.DISAGREEMENT_RAISED,
        lambda conn, facts, actor: disagreements.raise_disagreement(
            conn, actor=actor, case_id=case_id, against_agency_id=against, decision_type=decision,
            decision_id=decision_id, reason=reason),
        success=_("The disagreement is raised: stage 1, between the practitioners."),
        errors=errors, action=policy.READ, anchor="#disagreements",
        messages={"against_agency_id": _("Choose another agency taking part in the case."),
                  "reason": _("Say what the disagreement is about.")},
        refusals={403: _("Only caseworkers and supervisors of an agency taking part in the case "
                         "may raise a disagreement.")})


def _step(case_id: int, disagreement_id: int, step: str, field: str, message: str,
          attempted: AuditAction, act, success: str):
    """Advance or resolve: ``act(conn, actor, text)`` on this case's disagreement, or the form again."""
    errors = FormErrors()
    text = _text(errors, field, message)

    def run(conn, facts, actor):
        _in_case(conn, actor, case_id, disagreement_id, attempted)
        act(conn, actor, text)

    return cases._change(case_id, f"disagreement-{disagreement_id}-{step}", attempted, run,
                         success=success, errors=errors, action=policy.READ,
                         anchor="#disagreements", messages={field: message}, refusals=_refusals())


@bp.post("/<int:disagreement_id>/advance")
def advance(case_id: int, disagreement_id: int):
    return _step(case_id, disagreement_id, "advance", "reason",
                 _("Say why this stage did not settle it."), AuditAction.DISAGREEMENT_ADVANCED,
                 lambda conn, actor, text: disagreements.advance(
                     conn, actor=actor, disagreement_id=disagreement_id, reason=text),
                 _("The disagreement moved to its next stage."))


@bp.post("/<int:disagreement_id>/resolve")
def resolve(case_id: int, disagreement_id: int):
    return _step(case_id, disagreement_id, "resolve", "note", _("Write how it was resolved."),
                 AuditAction.DISAGREEMENT_RESOLVED,
                 lambda conn, actor, text: disagreements.resolve(
                     conn, actor=actor, disagreement_id=disagreement_id, note=text),
                 _("The disagreement is resolved."))
