"""The case page (state, agencies, assessments, clocks, chronology) and the forms that change a case.

Each page loads the case through ``services.access.access_case`` and reads it through
``services.cases.reads``, which write the audit events the API writes for the same reads. Each
form calls one ``services.cases.actions`` function; a refused form re-renders the page with the
message beside its field and a 4xx status, and nothing is changed.
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from audit import AuditAction
from services import access, policy
from services.agencies import queries as agency_queries
from services.cases import actions, paging, queries, reads
from services.cases.records import (ANSWER_VISIBILITIES, ASSESSMENT_KINDS, ASSESSMENT_OUTCOMES,
                                    ENTRY_KINDS, FREE_ENTRY_KINDS, REVIEWED_STATES, STATES,
                                    VISIBILITIES)
from services.db import transaction
from services.errors import QorgauError
from services.web import clocks_view
from services.web.forms import FormErrors, choice, from_error, integer, local_datetime, required
from services.web.labels import DISAGREEMENT_DECISIONS
from services.web.names import Names

bp = Blueprint("cases_web", __name__)
bp.url_value_preprocessor(paging.ids_fit)

PAGE_SIZE = 100
PRIORITIES = ("immediate", "urgent", "standard", "low")


def _action_messages() -> dict[str, str]:
    return {
        "version": _("Someone changed the case while you were reading it. Look again and retry."),
        "state": _("That is not possible in the case's current state."),
        "occurred_at": _("The time cannot be in the future."),
        "assessments": _("Complete or skip the outstanding assessments before closing the case."),
    }


# --- the case list ----------------------------------------------------------------------------

@bp.get("/cases")
def list_cases():
    """The cases the user may read (oversight: the whole region), newest first."""
    actor = _signed_in()
    if not (policy.is_practitioner(actor) or actor.has("oversight")):
        access.record_denial(actor, AuditAction.CASE_LISTED, "case", None, reason="no_case_role")
        raise access.AccessDenied("Your role does not see case content.")
    errors = FormErrors()
    state = request.args.get("state") or None
    if state is not None and state not in STATES:
        errors.add("state", _("Choose one of the options offered."))
        state = None
    priority = request.args.get("priority") or None
    if priority is not None and priority not in PRIORITIES:
        errors.add("priority", _("Choose one of the options offered."))
        priority = None
    overdue = request.args.get("overdue") == "1"
    cursor = request.args.get("cursor")
    try:
        before = paging.decode_id(cursor)
    except QorgauError:
        errors.add("cursor", _("This list position is not valid; start from the first page."))
        before = None
    filters = {"state": state, "priority": priority, "agency_filter": None, "district_id": None,
               "opened_from": None, "opened_to": None}
    with transaction(actor) as conn:
        items, more = reads.list_cases(conn, actor=actor, filters=filters, before_id=before, limit=50)
        clocks = clocks_view.for_cases(conn, [i["id"] for i in items], actor=actor)
        if overdue:
            items = [i for i in items if any(c.overdue for c in clocks.get(i["id"], []))]
        names = Names(conn)
        rows = [{**i, "lead": names.agency(i["lead_agency_id"]), "clocks": clocks.get(i["id"], [])}
                for i in items]
    next_cursor = paging.encode(items[-1]["id"]) if more and items else None
    status = 400 if errors else 200
    return render_template("cases/list.html", rows=rows, errors=errors, state=state, priority=priority,
                           overdue=overdue, states=STATES, priorities=PRIORITIES,
                           next_cursor=next_cursor), status


# --- the case page ----------------------------------------------------------------------------

def _signed_in():
    if g.get("actor") is None:
        abort(redirect(url_for("auth.login", next=request.full_path.rstrip("?"))))
    return g.actor


def chronology_filters(args, errors: FormErrors) -> dict:
    """The chronology's agency and kind filters and page position from the query string."""
    agency = args.get("agency") or None
    if agency is not None:
        agency = integer(args, errors, "agency", optional=True)
    kind = args.get("kind") or None
    if kind is not None and kind not in ENTRY_KINDS:
        errors.add("kind", _("Choose one of the options offered."))
        kind = None
    try:
        after = paging.decode_time_id(args.get("cursor"))
    except QorgauError:
        errors.add("cursor", _("This list position is not valid; start from the first page."))
        after = None
    return {"agency_id": agency, "kind": kind, "after": after}


def _case_page(case_id: int, *, errors: FormErrors | None = None, form_name: str | None = None,
               form=None):
    """Render the case for the signed-in user; ``errors`` belong to the form ``form_name``."""
    actor = _signed_in()
    errors = errors if errors is not None else FormErrors()
    filter_errors = FormErrors()
    filters = chronology_filters(request.args, filter_errors)
    with transaction(actor) as conn:
        _, facts = access.access_case(conn, actor, case_id, policy.READ,
                                      attempted=AuditAction.CASE_VIEWED)
        case = queries.get_case(conn, case_id)
        document = reads.view_case(conn, case, facts, actor=actor)
        assessments = reads.assessment_documents(conn, facts, actor=actor)
        entries, more = reads.case_chronology(conn, facts, actor=actor, limit=PAGE_SIZE, **filters)
        answers = _answers(conn, facts, entries, actor)
        clocks = clocks_view.for_case(conn, case, actor=actor,
                                      assessment_ids=[a["id"] for a in assessments])
        names = Names(conn)
        child = names.child(case.child_id)
        you = _your_part(actor, case, document)
        workers = (agency_queries.list_users(conn, actor.agency_id)
                   if you["participant"] and actor.has("supervisor") else [])
        region_agencies = agency_queries.list_agencies(conn, case.region_id) if you["lead"] else []
        disputes = clocks_view.disagreements_of_case(conn, case.id, actor=actor)
        page = render_template(
            "cases/case.html", case=case, doc=document, assessments=assessments, entries=entries,
            more=more, clocks=clocks, child=child, you=you, names=names, errors=errors,
            answers=answers, answer_visibilities=ANSWER_VISIBILITIES,
            filter_errors=filter_errors, form_name=form_name, form=form or {}, filters=filters,
            workers=[w for w in workers if not w.disabled and {"caseworker", "supervisor"} & set(w.roles)],
            region_agencies=[a for a in region_agencies
                             if a.is_active and a.kind != "prosecutor"
                             and all(p["agency_id"] != a.id or p["left_at"] for p in document["participants"])],
            disputes=disputes, decisions=DISAGREEMENT_DECISIONS,
            free_kinds=[k for k in FREE_ENTRY_KINDS if k != "review" or you["reviews"]],
            visibilities=VISIBILITIES, outcomes=ASSESSMENT_OUTCOMES,
            entry_kinds=ENTRY_KINDS, assessment_kinds=ASSESSMENT_KINDS,
            filter_agencies=[{"id": p["agency_id"], "name": p["agency_name"]}
                             for p in document["participants"]],
            next_cursor=(paging.encode(entries[-1]["occurred_at"], entries[-1]["id"])
                         if more and entries else None))
    status = errors.status if errors else (400 if filter_errors else 200)
    return page, status


def _answers(conn, facts, entries: list[dict], actor) -> dict[int, dict | None]:
    """Each instruction's answer on this page (None while unanswered), as the API's GET
    ``…/instructions/<id>/response`` gives it: read and audited by the same action."""
    answers = {}
    for e in entries:
        if e["kind"] == "instruction":
            _, answer = actions.instruction_answer(conn, facts, e["id"], actor=actor)
            answers[e["id"]] = (reads.readable_entry(conn, facts, answer, actor=actor)
                                if answer is not None else None)
    return answers


def _your_part(actor, case, document) -> dict:
    """What the page offers the viewer; the actions decide again when a form is sent."""
    participant = document["access"] == "participant"
    mine = next((p for p in document["participants"]
                 if p["agency_id"] == actor.agency_id and not p["left_at"]), None)
    return {
        "participant": participant,
        "lead": participant and case.lead_agency_id == actor.agency_id,
        "oversight": document["access"] == "oversight",
        "emergency": document["access"] == "emergency_grant",
        "writes_entries": policy.is_practitioner(actor) and document["access"] != "oversight"
                          and case.state != "closed",
        "agency_id": actor.agency_id,
        "may_take": (participant and mine is not None and mine["assigned_user_id"] is None
                     and actor.has("caseworker") and case.state != "closed"),
        "supervisor": actor.has("supervisor"),
        "raises_disagreements": participant and policy.is_practitioner(actor),
        # A case review is the lead agency's, once there is a plan to review.
        "reviews": (participant and case.lead_agency_id == actor.agency_id
                    and policy.is_practitioner(actor) and case.state in REVIEWED_STATES),
        # The agency an instruction is addressed to answers it, even on a closed case.
        "answers_instructions": (participant and mine is not None
                                 and policy.is_practitioner(actor)),
        "user_id": actor.user_id,
    }


@bp.get("/cases/<int:case_id>")
def case_page(case_id: int):
    return _case_page(case_id)


def _change(case_id: int, form_name: str, attempted: AuditAction, run, *, success: str,
            errors: FormErrors | None = None, action: str = policy.WRITE, anchor: str = "",
            messages: dict[str, str] | None = None, refusals: dict[int, str] | None = None):
    """Run ``run(conn, facts, actor)`` in one transaction; on a refusal re-render with messages.

    ``messages`` word the action's refusals by field; ``refusals`` by status, for those that
    name no field (a 403 or a 409 about the whole form).
    """
    actor = _signed_in()
    if errors:
        return _case_page(case_id, errors=errors, form_name=form_name, form=request.form)
    try:
        with transaction(actor) as conn:
            _, facts = access.access_case(conn, actor, case_id, action, attempted=attempted)
            run(conn, facts, actor)
    except QorgauError as exc:
        if exc.status == 404:
            raise
        errors = from_error(exc, {**_action_messages(), **(messages or {})}, form_name)
        if form_name in errors and exc.status in (refusals or {}):
            errors[form_name] = refusals[exc.status]
        return _case_page(case_id, errors=errors, form_name=form_name, form=request.form)
    flash(success)
    return redirect(url_for("cases_web.case_page", case_id=case_id) + anchor)


def _version(form) -> int | None:
    raw = form.get("version", "")
    return int(raw) if raw.isdigit() and int(raw) < 2**31 else None


@bp.post("/cases/<int:case_id>/transition")
def transition(case_id: int):
    errors = FormErrors()
    to = request.form.get("to", "")
    if to not in STATES:
        errors.add("to", _("Choose the next state."))
    return _change(case_id, "transition", AuditAction.CASE_TRANSITIONED,
                   lambda conn, facts, actor: actions.transition_case(
                       conn, facts, to, actor=actor, expected_version=_version(request.form)),
                   success=_("The case moved on."), errors=errors)


def _reason(errors: FormErrors, field: str = "reason") -> str:
    reason = required(request.form, errors, field)
    if reason and not 10 <= len(reason) <= 4000:
        errors.add(field, _("Give a reason of 10 to 4000 characters."))
    return reason


@bp.post("/cases/<int:case_id>/closure")
def request_closure(case_id: int):
    errors = FormErrors()
    reason = _reason(errors)
    return _change(case_id, "closure", AuditAction.CASE_CLOSURE_REQUESTED,
                   lambda conn, facts, actor: actions.request_closure(
                       conn, facts, actor=actor, reason=reason, expected_version=_version(request.form)),
                   success=_("Closure requested: a supervisor of the lead agency decides."),
                   errors=errors)


@bp.post("/cases/<int:case_id>/reopen")
def reopen(case_id: int):
    errors = FormErrors()
    reason = _reason(errors)
    return _change(case_id, "reopen", AuditAction.CASE_REOPENED,
                   lambda conn, facts, actor: actions.reopen_case(
                       conn, facts, actor=actor, reason=reason, expected_version=_version(request.form)),
                   success=_("The case is open again."), errors=errors)


def _body(errors: FormErrors, field: str = "body") -> str:
    body = required(request.form, errors, field)
    if len(body) > 20000:
        errors.add(field, _("Keep it under 20,000 characters."))
    return body


@bp.post("/cases/<int:case_id>/entries")
def add_entry(case_id: int):
    form = request.form
    errors = FormErrors()
    corrects_id = integer(form, errors, "corrects_id", optional=True)
    kind = form.get("kind") or None
    visibility = form.get("visibility") or None
    if corrects_id is not None:
        # A correction keeps the kind and visibility of what it corrects, whatever the form's
        # selects say: a review, an assessment result or an answer is not among the kinds offered.
        kind = visibility = None
    else:
        if kind not in FREE_ENTRY_KINDS:
            errors.add("kind", _("Choose what kind of entry this is."))
        if visibility not in VISIBILITIES:
            errors.add("visibility", _("Choose who may read the entry."))
    occurred_at = local_datetime(form, errors, "occurred_at")
    body = _body(errors)
    review = None
    if kind == "review" and corrects_id is None:
        review = _("A case review is recorded by the lead agency once the case is in planning "
                   "or monitoring.")
    return _change(case_id, "entry", AuditAction.CHRONOLOGY_ENTRY_ADDED,
                   lambda conn, facts, actor: actions.add_entry(
                       conn, facts, actor=actor, kind=kind, visibility=visibility, body=body,
                       occurred_at=occurred_at, corrects_id=corrects_id),
                   success=_("The entry was added to the chronology."), errors=errors,
                   anchor="#chronology", messages={"kind": review} if review else None,
                   refusals={403: review} if review else None)


@bp.post("/cases/<int:case_id>/instructions/<int:entry_id>/response")
def answer_instruction(case_id: int, entry_id: int):
    """The addressed agency answers oversight's instruction, once (``actions.answer_instruction``,
    as the API's POST ``…/instructions/<id>/response``)."""
    errors = FormErrors()
    visibility = choice(request.form, errors, "visibility", ANSWER_VISIBILITIES,
                        _("Choose who may read the answer."))
    body = _body(errors)
    return _change(case_id, f"answer-{entry_id}", AuditAction.INSTRUCTION_ANSWERED,
                   lambda conn, facts, actor: actions.answer_instruction(
                       conn, facts, entry_id, actor=actor, body=body, visibility=visibility),
                   success=_("The answer is sent; the prosecutor who gave the instruction is "
                             "told."), errors=errors, anchor=f"#entry-{entry_id}",
                   messages={"entry_id": _("This instruction has been answered already.")},
                   refusals={403: _("Only the agency the instruction is addressed to answers "
                                    "it.")})


@bp.post("/cases/<int:case_id>/assessments")
def add_assessment(case_id: int):
    """The lead agency assigns a further assessment to an agency taking part."""
    errors = FormErrors()
    kind = request.form.get("kind", "")
    if kind not in ASSESSMENT_KINDS:
        errors.add("kind", _("Choose the kind of assessment."))
    agency_id = integer(request.form, errors, "agency_id")
    return _change(case_id, "add-assessment", AuditAction.ASSESSMENT_CREATED,
                   lambda conn, facts, actor: actions.add_assessment(
                       conn, facts, actor=actor, kind=kind, agency_id=agency_id),
                   success=_("The assessment is assigned."), errors=errors, anchor="#assessments")


@bp.post("/cases/<int:case_id>/assessments/<int:assessment_id>/complete")
def complete_assessment(case_id: int, assessment_id: int):
    form = request.form
    errors = FormErrors()
    outcome = choice(form, errors, "outcome", ASSESSMENT_OUTCOMES,
                     _("Choose the outcome of the assessment."))
    visibility = choice(form, errors, "visibility", VISIBILITIES, _("Choose who may read the entry."))
    summary = _body(errors, "summary")
    return _change(case_id, f"assessment-{assessment_id}", AuditAction.ASSESSMENT_COMPLETED,
                   lambda conn, facts, actor: actions.complete_assessment(
                       conn, facts, assessment_id, actor=actor, outcome=outcome, summary=summary,
                       visibility=visibility),
                   success=_("The assessment is recorded."), errors=errors, anchor="#assessments")


@bp.post("/cases/<int:case_id>/assessments/<int:assessment_id>/skip")
def request_skip(case_id: int, assessment_id: int):
    errors = FormErrors()
    reason = _reason(errors)
    return _change(case_id, f"skip-{assessment_id}", AuditAction.ASSESSMENT_SKIP_REQUESTED,
                   lambda conn, facts, actor: actions.request_assessment_skip(
                       conn, facts, assessment_id, actor=actor, reason=reason),
                   success=_("Skipping the assessment is waiting for a supervisor's approval."),
                   errors=errors, anchor="#assessments")


@bp.post("/cases/<int:case_id>/assignee")
def assign(case_id: int):
    errors = FormErrors()
    user_id = integer(request.form, errors, "user_id")
    return _change(case_id, "assign", AuditAction.WORKER_ASSIGNED,
                   lambda conn, facts, actor: actions.assign_worker(
                       conn, facts, actor.agency_id, user_id, actor=actor,
                       expected_version=_version(request.form)),
                   success=_("The worker is assigned."), errors=errors)


@bp.post("/cases/<int:case_id>/participants")
def add_participant(case_id: int):
    errors = FormErrors()
    agency_id = integer(request.form, errors, "agency_id")
    return _change(case_id, "participant", AuditAction.PARTICIPANT_ADDED,
                   lambda conn, facts, actor: actions.add_participant(
                       conn, facts, agency_id, actor=actor, expected_version=_version(request.form)),
                   success=_("The agency now takes part in the case."), errors=errors)


@bp.post("/cases/<int:case_id>/instructions")
def issue_instruction(case_id: int):
    form = request.form
    errors = FormErrors()
    body = _body(errors, "instruction")
    addressed = integer(form, errors, "addressed_agency_id", optional=True)
    due_at = local_datetime(form, errors, "due_at")
    return _change(case_id, "instruction", AuditAction.INSTRUCTION_ISSUED,
                   lambda conn, facts, actor: actions.issue_instruction(
                       conn, facts, actor=actor, body=body, addressed_agency_id=addressed, due_at=due_at),
                   success=_("The instruction was issued."), errors=errors, action=policy.INSTRUCT,
                   anchor="#chronology")
