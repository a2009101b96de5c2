"""Filing a referral (one page: the child, what was seen, the ASQ screen, who receives it, files),
the referral's page with screening, and the caseworker's queue.

Filing runs in one transaction under the form's Idempotency-Key (a hidden field drawn when the
form is rendered), so a double click files once and the second click lands on the same referral.
"""
from __future__ import annotations

import hashlib
import uuid
from datetime import date

from urllib.parse import quote

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from audit import AuditAction
from services import access, policy
from services.agencies import queries as agency_queries
from services.cases import paging, reads as case_reads
from services.children import actions as child_actions
from services.children.iin import InvalidIin, validate_iin
from services.children.records import ChildDetails, Duplicates
from services.db import transaction
from services.errors import QorgauError
from services.notifications import actions as notifications
from services.idempotency import Answer, fingerprint, run_once
from services.referrals import actions, attachments, screening
from services.referrals.asq import AsqAnswers, InvalidScreen, priority_from_indicators, score_asq
from services.referrals.records import CATEGORIES, NOT_RECEIVING, ChildRef, ReferralContent, Risk
from services.web import clocks_view
from services.web.forms import FormErrors, from_error, integer, local_datetime, required
from services.web.names import Names

bp = Blueprint("referrals_web", __name__)
bp.url_value_preprocessor(paging.ids_fit)

ASQ = ("q1", "q2", "q3", "q4", "q5")
PRIORITY_ORDER = {"immediate": 0, "urgent": 1, "standard": 2, "low": 3}


class PossibleDuplicate(Exception):
    """The child entered is probably one already recorded: the form asks which."""

    def __init__(self, found: Duplicates):
        self.found = found


def _signed_in():
    if g.get("actor") is None:
        abort(redirect(url_for("auth.login", next=request.full_path.rstrip("?"))))
    return g.actor


def _receiving_agencies(conn, actor) -> list:
    return [a for a in agency_queries.list_agencies(conn, actor.region_id)
            if a.is_active and a.kind not in NOT_RECEIVING and a.id != actor.agency_id]


def _form_page(form, *, errors: FormErrors | None = None, candidates=(), same_iin=False):
    actor = _signed_in()
    with transaction(actor) as conn:
        agencies = _receiving_agencies(conn, actor)
    status = errors.status if errors else 200
    return render_template(
        "referrals/new.html", form=form, errors=errors or {}, agencies=agencies,
        categories=CATEGORIES, asq=ASQ, candidates=candidates, same_iin=same_iin,
        chosen_categories=form.getlist("categories") if hasattr(form, "getlist") else [],
        chosen_agencies=form.getlist("receiving_agency_ids") if hasattr(form, "getlist") else [],
        preview=_priority_preview(form), key=form.get("idempotency_key") or uuid.uuid4().hex), status


@bp.get("/referrals/new")
def new_referral():
    child_actions.require_practitioner(_signed_in(), AuditAction.REFERRAL_DRAFTED, "referral")
    return _form_page({})


@bp.get("/referrals/check-iin")
def check_iin():
    """The IIN checked as it is typed (htmx): what it says, or what is wrong; no lookup is made."""
    _signed_in()
    iin = (request.args.get("iin") or "").strip()
    if not iin:
        return ""
    if len(iin) < 12 and iin.isdigit():
        return _("%(count)s of 12 digits", count=len(iin))
    try:
        info = validate_iin(iin)
    except InvalidIin as exc:
        return render_template("referrals/_iin.html", problem=exc.message)
    return render_template("referrals/_iin.html", info=info)


def _priority_preview(form) -> str | None:
    """The priority the risk indicators call for, to show before the form is sent."""
    answers = {q: form.get(f"asq_{q}") for q in ASQ if form.get(f"asq_{q}")}
    result = None
    if answers:
        try:
            result = score_asq(AsqAnswers.from_mapping(answers))
        except (InvalidScreen, TypeError):
            result = None
    return priority_from_indicators(result, imminent_danger=bool(form.get("imminent_danger")),
                                    significant_harm=bool(form.get("significant_harm")),
                                    harm_suspected=bool(form.get("harm_suspected")))


def _parse(form, errors: FormErrors) -> dict:
    """The form's fields checked one by one; messages name the field."""
    out: dict = {}
    choice = form.get("child_choice", "")
    out["existing_child"] = int(choice.split(":", 1)[1]) if choice.startswith("existing:") \
        and choice.split(":", 1)[1].isdigit() else None
    out["different"] = choice == "different"
    iin = (form.get("iin") or "").strip() or None
    if iin:
        try:
            validate_iin(iin)
        except InvalidIin as exc:
            errors.add("iin", exc.message)
    out["iin"] = iin
    if out["existing_child"] is None:
        out["last_name"] = required(form, errors, "last_name")
        out["first_name"] = required(form, errors, "first_name")
        raw_dob = required(form, errors, "date_of_birth")
        try:
            out["date_of_birth"] = date.fromisoformat(raw_dob) if raw_dob else None
        except ValueError:
            errors.add("date_of_birth", _("Enter a date such as 2014-09-01."))
        sex = form.get("sex") or None
        if sex not in (None, "M", "F"):
            errors.add("sex", _("Choose one of the options offered."))
        out["sex"] = sex
        out["patronymic"] = (form.get("patronymic") or "").strip() or None
    cats = form.getlist("categories")
    if not cats or any(c not in CATEGORIES for c in cats):
        errors.add("categories", _("Choose at least one category."))
    out["categories"] = tuple(dict.fromkeys(cats))
    out["observed_at"] = local_datetime(form, errors, "observed_at", optional=False)
    out["observed_place"] = (form.get("observed_place") or "").strip()[:500] or None
    out["observation"] = required(form, errors, "observation")
    answers = {q: form.get(f"asq_{q}") for q in ASQ if form.get(f"asq_{q}")}
    if answers:
        try:
            AsqAnswers.from_mapping(answers)
        except InvalidScreen as exc:
            errors.add("asq_" + exc.field.split(".")[-1], _("Answer this question of the screen."))
        except TypeError:
            errors.add("asq_q1", _("Answer this question of the screen."))
    out["asq"] = answers or None
    receivers = form.getlist("receiving_agency_ids")
    if not receivers or not all(r.isdigit() for r in receivers):
        errors.add("receiving_agency_ids", _("Choose at least one agency to receive the referral."))
    out["receivers"] = tuple(int(r) for r in dict.fromkeys(receivers) if r.isdigit())
    return out


def _child_ref(conn, parsed: dict, *, actor) -> ChildRef:
    """The named child, recorded first when new (unless they probably exist already)."""
    if parsed["existing_child"] is not None:
        return ChildRef(parsed["existing_child"], parsed["iin"],
                        None if parsed["iin"] else parsed.get("date_of_birth"))
    entered = ChildDetails(iin=parsed["iin"], last_name=parsed["last_name"],
                       first_name=parsed["first_name"], patronymic=parsed["patronymic"],
                       date_of_birth=parsed["date_of_birth"], sex=parsed["sex"],
                       school_agency_id=None, district_id=None)
    child = child_actions.check_new_child(conn, entered, actor=actor)
    result = child_actions.record_child(conn, child, actor=actor, confirmed_different=parsed["different"])
    if isinstance(result, Duplicates):
        raise PossibleDuplicate(result)
    return ChildRef(result.id)


def _request_hash(form, files) -> str:
    fields = sorted((k, v) for k, v in form.items(multi=True) if k not in ("csrf_token",))
    digests = sorted((f.filename or "", hashlib.sha256(f.stream.read()).hexdigest())
                     for f in files if f and f.filename)
    for f in files:
        f.stream.seek(0)
    return fingerprint("POST", "/referrals/new", repr((fields, digests)).encode())


@bp.post("/referrals/new")
def file_referral():
    """File and submit the referral; a retry of the same form (same key) files nothing twice."""
    actor = child_actions.require_practitioner(_signed_in(), AuditAction.REFERRAL_DRAFTED, "referral")
    form = request.form
    errors = FormErrors()
    key = (form.get("idempotency_key") or "").strip()
    if not (8 <= len(key) <= 200 and key.replace("-", "").isalnum()):
        errors.add("form", _("The form has expired. Check the details and send it again."))
    parsed = _parse(form, errors)
    files = [f for f in request.files.getlist("attachments") if f and f.filename]
    if errors:
        return _form_page(form, errors=errors)

    def run(conn) -> Answer:
        ref = _child_ref(conn, parsed, actor=actor)
        content = ReferralContent(
            children=(ref,), categories=parsed["categories"], observed_at=parsed["observed_at"],
            observed_place=parsed["observed_place"], observation=parsed["observation"],
            risk=Risk(bool(form.get("imminent_danger")), bool(form.get("significant_harm")),
                      bool(form.get("harm_suspected")), parsed["asq"]),
            requested_priority=None, receiving_agency_ids=parsed["receivers"],
            referrer_contact=(form.get("referrer_contact") or "").strip()[:200] or None)
        referral_id = actions.file_referral(conn, content, actor=actor, submit=True)
        if files:
            row, facts = access.access_referral(conn, actor, referral_id,
                                                attempted=AuditAction.ATTACHMENT_ADDED)
            for upload in files:
                attachments.add_attachment(conn, row, list(facts.child_ids), actor=actor,
                                           filename=upload.filename, declared_type=upload.mimetype,
                                           data=upload.read(attachments.MAX_BYTES + 1),
                                           supersedes_id=None)
        return Answer({"referral_id": referral_id}, 201)

    try:
        with transaction(actor) as conn:
            answer = run_once(conn, actor, key, _request_hash(form, files), lambda: run(conn))
    except PossibleDuplicate as dup:
        errors.status = 409
        errors.add("child_choice", _("This child is probably recorded already. Choose the child "
                                     "below, or confirm that this is a different child."))
        return _form_page(form, errors=errors, candidates=dup.found.candidates,
                          same_iin=dup.found.same_iin)
    except QorgauError as exc:
        return _form_page(form, errors=_referral_errors(exc))
    flash(_("The referral was filed and sent.") if not answer.replayed
          else _("This referral was already filed; here it is."))
    return redirect(url_for("referrals_web.referral_page", referral_id=answer.body["referral_id"]))


def _referral_errors(exc: QorgauError) -> FormErrors:
    errors = from_error(exc, {"receiving_agency_ids": _("Choose agencies of your region that receive referrals."),
                              "observed_at": _("The time cannot be in the future."),
                              "date_of_birth": _("Qorgau records children: check the date of birth."),
                              "Idempotency-Key": _("The form has expired. Check the details and send it again.")})
    renamed = FormErrors()
    renamed.status = errors.status
    for field, message in errors.items():
        field = {"risk.asq.q5": "asq_q5", "Idempotency-Key": "form", "children": "child_choice",
                 "children.0.child_id": "child_choice"}.get(field, field)
        if field.startswith("risk.asq."):
            field = "asq_" + field.rsplit(".", 1)[-1]
        renamed.add(field, message)
    return renamed


# --- the referral's page and screening -------------------------------------------------------

def _referral_page(referral_id: int, *, errors: FormErrors | None = None, form=None):
    actor = _signed_in()
    with transaction(actor) as conn:
        row, facts = access.access_referral(conn, actor, referral_id)
        detail = actions.read_referral(conn, row, facts, actor=actor)
        clocks = clocks_view.for_subject(conn, "referral", referral_id, actor=actor)
        may_screen = policy.can_referral(actor, facts, access.live_grants(conn, actor), "screen") \
            and row["superseded_by_id"] is None
        mine = next((r for r in detail["receiving_agencies"] if r["agency_id"] == actor.agency_id), None)
        names = Names(conn)
        page = render_template(
            "referrals/referral.html", r=detail, clocks=clocks, names=names, may_screen=may_screen,
            mine=mine, errors=errors or {}, form=form or {},
            agencies=_receiving_agencies(conn, actor) if may_screen else [],
            workers=([w for w in agency_queries.list_users(conn, actor.agency_id)
                      if not w.disabled and {"caseworker", "supervisor"} & set(w.roles)]
                     if may_screen else []),
            key=(form or {}).get("idempotency_key") or uuid.uuid4().hex)
    return page, (errors.status if errors else 200)


@bp.get("/referrals/<int:referral_id>")
def referral_page(referral_id: int):
    return _referral_page(referral_id)


@bp.get("/referrals/<int:referral_id>/attachments/<int:attachment_id>")
def download_attachment(referral_id: int, attachment_id: int):
    """A file of a referral the user may read; the download is audited as the API's is."""
    actor = _signed_in()
    with transaction(actor) as conn:
        row, facts = access.access_referral(conn, actor, referral_id,
                                            attempted=AuditAction.ATTACHMENT_VIEWED)
        found = attachments.read_attachment(conn, row, attachment_id, list(facts.child_ids),
                                            actor=actor)
    response = Response(bytes(found["data"]), mimetype=found["content_type"])
    fallback = found["filename"].encode("ascii", "replace").decode().replace('"', "_")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{fallback}"; filename*=UTF-8\'\'{quote(found["filename"])}')
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.post("/referrals/<int:referral_id>/screening")
def screen(referral_id: int):
    """Accept, screen out (a supervisor approves) or redirect, optionally changing the priority."""
    actor = _signed_in()
    form = request.form
    errors = FormErrors()
    decision = form.get("decision")
    if decision not in ("accept", "screen_out", "redirect"):
        errors.add("decision", _("Choose a decision."))
    version = integer(form, errors, "version")
    priority = form.get("priority") or None
    if priority is not None and priority not in PRIORITY_ORDER:
        errors.add("priority", _("Choose one of the options offered."))
    reason = (form.get("reason") or "").strip() or None
    if decision == "screen_out" and not reason:
        errors.add("reason", _("Give the reason the supervisor will review."))
    to_agency = integer(form, errors, "to_agency_id", optional=decision != "redirect") \
        if decision == "redirect" else None
    lead = integer(form, errors, "lead_agency_id", optional=True) if decision == "accept" else None
    worker = integer(form, errors, "assigned_user_id", optional=True) if decision == "accept" else None
    priority_reason = (form.get("priority_reason") or "").strip() or None if priority else None
    key = (form.get("idempotency_key") or "").strip() or None
    if errors:
        return _referral_page(referral_id, errors=errors, form=form)
    d = screening.ScreeningDecision(decision=decision, version=version, reason=reason,
                                    lead_agency_id=lead, assigned_user_id=worker,
                                    to_agency_id=to_agency, priority=priority,
                                    priority_reason=priority_reason)
    payload = repr(sorted((k, v) for k, v in form.items() if k != "csrf_token")).encode()
    try:
        with transaction(actor) as conn:
            def run() -> Answer:
                row, facts = access.access_referral(conn, actor, referral_id,
                                                    attempted=screening.ATTEMPTED[decision])
                return Answer(screening.screen(conn, row, facts, d, actor=actor), 200)

            answer = run_once(conn, actor, key, fingerprint("POST", request.path, payload), run)
    except QorgauError as exc:
        if exc.status == 404:
            raise
        return _referral_page(referral_id, errors=from_error(
            exc, {"version": _("This referral has a newer version; look at it and decide again."),
                  "reason": _("Give the reason the supervisor will review.")}, "decision"), form=form)
    result = answer.body
    flash({"accept": _("Accepted."), "screen_out": _("Screen-out sent to your supervisor for approval."),
           "redirect": _("Redirected.")}[decision])
    case_id = next((c.get("id") for c in result.get("cases") or []), None)
    if decision == "accept" and case_id:
        return redirect(url_for("cases_web.case_page", case_id=case_id))
    return redirect(url_for("referrals_web.referral_page", referral_id=referral_id))


# --- my queue ------------------------------------------------------------------------------------

@bp.get("/queue")
def my_queue():
    """Incoming referrals to screen (most pressing first), my cases, my clocks, unread notices."""
    actor = _signed_in()
    if not policy.is_practitioner(actor):
        return redirect(url_for("web.home"))
    none = {"state": None, "priority": None, "other": None, "district": None, "since": None,
            "until": None}
    with transaction(actor) as conn:
        incoming, _more = actions.list_referrals(conn, actor=actor, box="incoming", filters=none,
                                                 after=None, limit=50)
        to_screen = [r for r in incoming
                     if any(x["agency_id"] == actor.agency_id and x["status"] in ("pending", "screen_out_requested")
                            for x in r["receiving_agencies"] or [])]
        to_screen.sort(key=lambda r: (PRIORITY_ORDER.get(r["priority"], 9), r["submitted_at"] or ""))
        sent, _more = actions.list_referrals(conn, actor=actor, box="sent", filters=none, after=None,
                                             limit=20)
        cases, _more = case_reads.list_cases(conn, actor=actor, filters={
            "state": None, "priority": None, "agency_filter": None, "district_id": None,
            "opened_from": None, "opened_to": None}, before_id=None, limit=30)
        open_cases = [c for c in cases if c["state"] != "closed"]
        clocks = []
        for r in to_screen:
            clocks += clocks_view.for_subject(conn, "referral", r["id"], actor=actor)
        for c in open_cases:
            clocks += clocks_view.for_subject(conn, "case", c["id"], actor=actor)
        clocks = sorted((c for c in clocks if c.running), key=lambda c: c.due_at)
        unread = notifications.unread_count(conn, actor=actor)
        names = Names(conn)
        page = render_template("referrals/queue.html", to_screen=to_screen, sent=sent,
                               cases=open_cases, clocks=clocks, unread=unread, names=names)
    return page

