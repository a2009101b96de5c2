"""Case use-cases: each checks who may act beyond what the access policy already decided, makes
its change and writes its audit event in the caller's transaction.

The views have already loaded the case through ``services.access.access_case`` (which answers the
same 404 for "missing" and "not yours"). What is decided here is *which* of the people who may
see a case may do a given thing with it (DESIGN.md §1, §2):

- the lead agency's caseworkers and supervisors move the case between states, request its
  closure, reopen it, add agencies and add assessments;
- a supervisor of the lead agency hands the lead over and approves the closure;
- a supervisor withdraws their own agency, and the lead's supervisor may withdraw another one;
  the lead agency cannot leave until it has handed the lead over;
- a supervisor assigns a worker of their own agency; a caseworker may only take an unassigned
  case of their agency for themselves;
- the assessment's agency completes it or asks to skip it; a supervisor of that agency approves
  the skip;
- an emergency grant lets a caseworker read the case, never write to it (policy.WRITE).

Refusals to someone who can see the case are 403s and are audited as denials.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import psycopg

import audit
from audit import Actor, AuditAction
from services import access, clock, outbox, policy
from services.cases import queries, response_queries
from services.cases.records import (ANSWER_VISIBILITIES, CLOSABLE, FREE_ENTRY_KINDS, REVIEWED_STATES,
                                    Case, Entry, allowed_transitions, can_request_closure)
from services.clocks.actions import (running_kinds, start_clock, stop_clock, stop_clocks,
                                     transfer_clocks)
from services.errors import AccessDenied, Conflict, InvalidTransition, NotFound, ValidationFailed

CLOCK_SKEW = timedelta(minutes=5)


def _now() -> datetime:
    return clock.now()


def _participation(actor: Actor, facts: policy.CaseFacts) -> policy.Participant | None:
    """The actor's agency as an active participant of the case, if it is one."""
    for p in facts.participants:
        if p.agency_id == actor.agency_id and not p.left:
            return p
    return None


def _refuse(actor: Actor, attempted: AuditAction, facts: policy.CaseFacts, reason: str, message: str):
    access.record_denial(actor, attempted, "case", facts.case_id, child_id=facts.child_id, reason=reason)
    raise AccessDenied(message)


def _require_participant(actor: Actor, facts: policy.CaseFacts, attempted: AuditAction) -> None:
    """In scope through the agency's own participation, not through an emergency grant."""
    if _participation(actor, facts) is None or not policy.case_in_scope(actor, facts, policy.Grants()):
        _refuse(actor, attempted, facts, "not_participant",
                "Only an agency taking part in the case may do this.")


def _require_lead(actor: Actor, facts: policy.CaseFacts, attempted: AuditAction, *,
                  supervisor: bool = False) -> None:
    _require_participant(actor, facts, attempted)
    if facts.lead_agency_id != actor.agency_id:
        _refuse(actor, attempted, facts, "not_lead_agency", "Only the lead agency may do this.")
    if supervisor and not actor.has("supervisor"):
        _refuse(actor, attempted, facts, "not_supervisor",
                "Only a supervisor of the lead agency may do this.")


def _locked(conn, facts: policy.CaseFacts, expected_version: int | None) -> Case:
    """The case, locked for this transaction, at the version the caller last saw."""
    case = queries.get_case(conn, facts.case_id, lock=True)
    if case is None:
        raise NotFound("No such record, or it is not yours to see.")
    if expected_version is not None and expected_version != case.version:
        raise Conflict(f"The case has changed since version {expected_version}; reload it and retry.",
                       field="version", current_version=case.version)
    return case


def _require_not_closed(case: Case) -> None:
    if case.state == "closed":
        raise InvalidTransition("The case is closed; reopen it first.", field="state", state=case.state,
                                allowed=["reopen"])


def _require_no_pending_closure(case: Case) -> None:
    if case.closure_pending:
        raise Conflict("A closure request is waiting for a supervisor's decision.", field="state",
                       state=case.state)


def _record(conn, actor: Actor, action: AuditAction, case: Case | policy.CaseFacts, **details) -> None:
    case_id = case.id if isinstance(case, Case) else case.case_id
    audit.record(conn, actor=actor, action=action, object_type="case", object_id=str(case_id),
                 child_id=case.child_id, details=details)


# --- State ---------------------------------------------------------------------------------------

def transition_case(conn, facts: policy.CaseFacts, to: str, *, actor: Actor,
                    expected_version: int | None = None) -> Case:
    """Move the case to ``to`` if the transition table allows it from its current state."""
    _require_lead(actor, facts, AuditAction.CASE_TRANSITIONED)
    case = _locked(conn, facts, expected_version)
    allowed = list(allowed_transitions(case.state))
    if to not in allowed:
        if to == "closed" and can_request_closure(case.state):
            hint = " A case is closed by a closure request that a supervisor approves."
        elif case.state == "closed":
            hint = " A closed case is reopened, not moved."
        else:
            hint = ""
        raise InvalidTransition(f"A case cannot go from {case.state} to {to}.{hint}", field="to",
                                state=case.state, allowed=allowed,
                                closure_request_allowed=can_request_closure(case.state))
    _require_no_pending_closure(case)
    new = queries.update_case(conn, case.id, state=to)
    _record(conn, actor, AuditAction.CASE_TRANSITIONED, new, from_state=case.state, to_state=to,
            version=new.version)
    if to in REVIEWED_STATES:
        _start_first_review(conn, new, actor=actor)
    return new


REVIEW_KINDS = ("first_review", "review")


def _start_first_review(conn, case: Case, *, actor: Actor) -> None:
    # DESIGN.md §3: "a case review every 3 months, then every 6". The plan is what is reviewed, so
    # the 3 months run from the first time the case reaches planning (or monitoring); while either
    # review clock runs, moving between states changes nothing. Closure stops it; a reopened case
    # that reaches planning again starts a new first review.
    if any(kind in REVIEW_KINDS for kind, _ in running_kinds(conn, "case", case.id)):
        return
    start_clock(conn, actor=actor, kind="first_review", subject_type="case", subject_id=case.id,
                child_id=case.child_id, region_id=case.region_id, agency_id=case.lead_agency_id,
                priority=case.priority)


def request_closure(conn, facts: policy.CaseFacts, *, actor: Actor, reason: str,
                    expected_version: int | None = None) -> tuple[Case, int]:
    """Ask a supervisor of the lead agency to close the case; returns the case and the approval id."""
    _require_lead(actor, facts, AuditAction.CASE_CLOSURE_REQUESTED)
    case = _locked(conn, facts, expected_version)
    _require_not_closed(case)
    _require_no_pending_closure(case)
    if not can_request_closure(case.state):
        raise InvalidTransition(f"Closure can be requested from {' or '.join(CLOSABLE)}, not {case.state}.",
                                field="state", state=case.state,
                                allowed=list(allowed_transitions(case.state)))
    _require_assessments_done(conn, case)
    approval_id = queries.insert_approval(conn, kind="closure", agency_id=case.lead_agency_id,
                                          case_id=case.id, requested_by=actor.user_id, reason=reason)
    new = queries.update_case(conn, case.id, closure_requested_at=_now(), closure_requested_by=actor.user_id)
    _record(conn, actor, AuditAction.CASE_CLOSURE_REQUESTED, new, approval_id=approval_id,
            version=new.version)
    return new, approval_id


def _require_assessments_done(conn, case: Case) -> None:
    # "Every signal gets a timely legal and psychological assessment" (DESIGN.md §2): a case is
    # not closed while one is still assigned or waiting for a skip decision.
    outstanding = queries.outstanding_assessments(conn, case.id)
    if outstanding:
        raise Conflict("Complete or skip the outstanding assessments before closing the case.",
                       field="assessments", assessment_ids=outstanding)


def decide_closure(conn, approval: dict, *, actor: Actor, approve: bool, note: str | None) -> None:
    """Close the case (approve) or withdraw the request (reject); called by the approvals dispatcher."""
    _, facts = access.access_case(conn, actor, approval["case_id"], policy.WRITE,
                                  attempted=AuditAction.CASE_CLOSED)
    _require_lead(actor, facts, AuditAction.CASE_CLOSED, supervisor=True)
    case = _locked(conn, facts, None)
    if not approve:
        queries.update_case(conn, case.id, closure_requested_at=None, closure_requested_by=None)
        return
    if case.state not in CLOSABLE:
        raise InvalidTransition(f"A case in {case.state} cannot be closed.", field="state",
                                state=case.state, allowed=list(allowed_transitions(case.state)))
    _require_assessments_done(conn, case)
    new = queries.update_case(conn, case.id, state="closed", closed_at=_now(),
                              closure_requested_at=None, closure_requested_by=None)
    stop_clock(conn, actor=actor, subject_type="case", subject_id=case.id, kind=None)  # reviews
    _record(conn, actor, AuditAction.CASE_CLOSED, new, approval_id=approval["id"],
            from_state=case.state, version=new.version)


def reopen_case(conn, facts: policy.CaseFacts, *, actor: Actor, reason: str,
                expected_version: int | None = None) -> Case:
    """Reopen a closed case; the reason becomes a decision entry on the chronology."""
    _require_lead(actor, facts, AuditAction.CASE_REOPENED)
    case = _locked(conn, facts, expected_version)
    if case.state != "closed":
        raise InvalidTransition("Only a closed case can be reopened.", field="state", state=case.state,
                                allowed=list(allowed_transitions(case.state)))
    try:
        new = queries.update_case(conn, case.id, state="open", closed_at=None,
                                  reopen_count=case.reopen_count + 1)
    except psycopg.errors.UniqueViolation:
        # cases_one_open_per_child: a later referral opened a new case for the child meanwhile.
        raise Conflict("The child already has another open case; work on that one instead.",
                       field="state") from None
    entry_id = queries.insert_entry(conn, case_id=case.id, child_id=case.child_id, kind="decision",
                                    visibility="all_participants", author_user_id=actor.user_id,
                                    agency_id=actor.agency_id, occurred_at=_now(), body=reason)
    _record(conn, actor, AuditAction.CASE_REOPENED, new, reopen_count=new.reopen_count,
            entry_id=entry_id, version=new.version)
    return new


# --- Agencies and workers --------------------------------------------------------------------

def _active(facts: policy.CaseFacts, agency_id: int) -> policy.Participant | None:
    for p in facts.participants:
        if p.agency_id == agency_id and not p.left:
            return p
    return None


def add_participant(conn, facts: policy.CaseFacts, agency_id: int, *, actor: Actor,
                    expected_version: int | None = None) -> Case:
    """Bring another agency of the region into the case (or back, if it had left)."""
    _require_lead(actor, facts, AuditAction.PARTICIPANT_ADDED)
    case = _locked(conn, facts, expected_version)
    _require_not_closed(case)
    agency = queries.agency(conn, agency_id)
    if agency is None or agency["region_id"] != case.region_id or not agency["is_active"]:
        raise ValidationFailed("No such active agency in the case's region.", field="agency_id")
    if agency["kind"] == "prosecutor":
        # Prosecutors supervise cases (read and instruct), they do not work them (PRACTICE.md §6).
        raise ValidationFailed("The prosecutor's office oversees cases and cannot take part in one.",
                               field="agency_id")
    if _active(facts, agency_id) is not None:
        raise Conflict("That agency already takes part in the case.", field="agency_id")
    rejoined = queries.add_participant(conn, case.id, agency_id)
    new = queries.update_case(conn, case.id)
    _record(conn, actor, AuditAction.PARTICIPANT_ADDED, new, agency_id=agency_id, rejoined=rejoined,
            version=new.version)
    return new


def leave_case(conn, facts: policy.CaseFacts, agency_id: int, *, actor: Actor,
               expected_version: int | None = None) -> None:
    """Withdraw an agency from the case; its people lose access from their next request."""
    _require_participant(actor, facts, AuditAction.PARTICIPANT_LEFT)
    if not actor.has("supervisor"):
        _refuse(actor, AuditAction.PARTICIPANT_LEFT, facts, "not_supervisor",
                "Only a supervisor may withdraw an agency from a case.")
    if agency_id != actor.agency_id and facts.lead_agency_id != actor.agency_id:
        _refuse(actor, AuditAction.PARTICIPANT_LEFT, facts, "not_own_agency",
                "A supervisor withdraws their own agency; only the lead agency may withdraw another.")
    case = _locked(conn, facts, expected_version)
    if _active(facts, agency_id) is None:
        raise NotFound("That agency does not take part in the case.", field="agency_id")
    if agency_id == case.lead_agency_id:
        raise Conflict("The lead agency cannot leave; hand the lead over to another agency first.",
                       field="agency_id")
    outstanding = queries.outstanding_assessments(conn, case.id, agency_id)
    if outstanding:
        raise Conflict("The agency still has assessments to complete or skip.", field="assessments",
                       assessment_ids=outstanding)
    # Version first: once its agency has left, the supervisor's own statements no longer see the case.
    new = queries.update_case(conn, case.id)
    queries.mark_left(conn, case.id, agency_id)
    _record(conn, actor, AuditAction.PARTICIPANT_LEFT, new, agency_id=agency_id, version=new.version)


def hand_over_lead(conn, facts: policy.CaseFacts, agency_id: int, *, actor: Actor,
                   expected_version: int | None = None) -> Case:
    """Make another participating agency the lead (a supervisor of the current lead decides)."""
    _require_lead(actor, facts, AuditAction.LEAD_AGENCY_CHANGED, supervisor=True)
    case = _locked(conn, facts, expected_version)
    _require_not_closed(case)
    _require_no_pending_closure(case)
    if agency_id == case.lead_agency_id or _active(facts, agency_id) is None:
        raise ValidationFailed("The new lead must be another agency taking part in the case.",
                               field="agency_id")
    new = queries.update_case(conn, case.id, lead_agency_id=agency_id)
    _record(conn, actor, AuditAction.LEAD_AGENCY_CHANGED, new, from_agency_id=case.lead_agency_id,
            to_agency_id=agency_id, version=new.version)
    # The lead's clocks (first contact, strategy meeting, whole assessment, reviews) are the lead's
    # work: they follow it, so the new lead sees them and its supervisors hear the ladder.
    transfer_clocks(conn, actor=actor, subject_type="case", subject_id=case.id,
                    from_agency_id=case.lead_agency_id, to_agency_id=agency_id)
    return new


def assign_worker(conn, facts: policy.CaseFacts, agency_id: int, user_id: int | None, *,
                  actor: Actor, expected_version: int | None = None) -> Case:
    """Set (or clear) the agency's assigned worker on the case."""
    _require_participant(actor, facts, AuditAction.WORKER_ASSIGNED)
    if agency_id != actor.agency_id:
        _refuse(actor, AuditAction.WORKER_ASSIGNED, facts, "not_own_agency",
                "Workers are assigned only within one's own agency.")
    case = _locked(conn, facts, expected_version)
    _require_not_closed(case)
    current = next(p for p in queries.participants(conn, case.id, include_left=False)
                   if p.agency_id == agency_id)
    if actor.has("supervisor"):
        if user_id is not None and not queries.assignable_user(conn, user_id, agency_id):
            raise ValidationFailed("Assign an active caseworker or supervisor of your agency.",
                                   field="user_id")
    elif user_id != actor.user_id or current.assigned_user_id is not None:
        _refuse(actor, AuditAction.WORKER_ASSIGNED, facts, "not_supervisor",
                "A caseworker may only take an unassigned case for themselves; a supervisor assigns.")
    queries.set_assignee(conn, case.id, agency_id, user_id)
    new = queries.update_case(conn, case.id)
    _record(conn, actor, AuditAction.WORKER_ASSIGNED, new, agency_id=agency_id,
            assigned_user_id=user_id, previous_user_id=current.assigned_user_id, version=new.version)
    return new


# --- Assessments -------------------------------------------------------------------------------

def add_assessment(conn, facts: policy.CaseFacts, *, actor: Actor, kind: str, agency_id: int,
                   assignee_user_id: int | None = None):
    """Assign a further assessment to an agency taking part (the lead agency decides)."""
    _require_lead(actor, facts, AuditAction.ASSESSMENT_CREATED)
    case = _locked(conn, facts, None)
    _require_not_closed(case)
    if _active(facts, agency_id) is None:
        raise ValidationFailed("Assessments are assigned to an agency taking part in the case.",
                               field="agency_id")
    if assignee_user_id is not None and not queries.assignable_user(conn, assignee_user_id, agency_id):
        raise ValidationFailed("The assignee must be a caseworker or supervisor of that agency.",
                               field="assignee_user_id")
    assessment = queries.insert_assessment(conn, case.id, kind, agency_id, assignee_user_id)
    start_clock(conn, actor=actor, kind="assessment", subject_type="assessment", subject_id=assessment.id,
                child_id=case.child_id, region_id=case.region_id, agency_id=agency_id,
                assignee_user_id=assignee_user_id, priority=case.priority)
    _record(conn, actor, AuditAction.ASSESSMENT_CREATED, case, assessment_id=assessment.id,
            kind=kind, agency_id=agency_id)
    return assessment


def _assessment_for(conn, actor: Actor, facts: policy.CaseFacts, assessment_id: int,
                    attempted: AuditAction):
    """The assessment, locked, if the actor's agency is the one it is assigned to."""
    assessment = queries.get_assessment(conn, facts.case_id, assessment_id, lock=True)
    if assessment is None:
        raise NotFound("No such assessment in this case.", field="assessment_id")
    _require_participant(actor, facts, attempted)
    if assessment.agency_id != actor.agency_id:
        _refuse(actor, attempted, facts, "not_assessing_agency",
                "Only the agency the assessment is assigned to may do this.")
    if (assessment.assignee_user_id not in (None, actor.user_id)) and not actor.has("supervisor"):
        _refuse(actor, attempted, facts, "not_assignee",
                "The assessment is assigned to someone else in your agency.")
    return assessment


def complete_assessment(conn, facts: policy.CaseFacts, assessment_id: int, *, actor: Actor,
                        outcome: str, summary: str, visibility: str):
    """Record the outcome; the summary becomes an assessment_result entry on the chronology."""
    assessment = _assessment_for(conn, actor, facts, assessment_id, AuditAction.ASSESSMENT_COMPLETED)
    if assessment.state != "assigned":
        raise InvalidTransition(f"The assessment is {assessment.state}; only an assigned one can be "
                                "completed.", field="state", state=assessment.state, allowed=[])
    entry_id = queries.insert_entry(conn, case_id=facts.case_id, child_id=facts.child_id,
                                    kind="assessment_result", visibility=visibility,
                                    author_user_id=actor.user_id, agency_id=actor.agency_id,
                                    occurred_at=_now(), body=summary)
    queries.update_assessment(conn, assessment.id, state="completed", outcome=outcome,
                              completed_at=_now(), result_entry_id=entry_id)
    stop_clock(conn, actor=actor, subject_type="assessment", subject_id=assessment.id, kind=None)
    _stop_whole_assessment_when_done(conn, facts, actor=actor)
    _record(conn, actor, AuditAction.CHRONOLOGY_ENTRY_ADDED, facts, entry_id=entry_id,
            kind="assessment_result", visibility=visibility)
    _record(conn, actor, AuditAction.ASSESSMENT_COMPLETED, facts, assessment_id=assessment.id,
            outcome=outcome, entry_id=entry_id)
    return queries.get_assessment(conn, facts.case_id, assessment.id)


def request_assessment_skip(conn, facts: policy.CaseFacts, assessment_id: int, *, actor: Actor,
                            reason: str) -> int:
    """Ask a supervisor of the assessing agency to let the assessment go undone; the approval id."""
    assessment = _assessment_for(conn, actor, facts, assessment_id, AuditAction.ASSESSMENT_SKIP_REQUESTED)
    if assessment.state != "assigned":
        raise InvalidTransition(f"The assessment is {assessment.state}; only an assigned one can be "
                                "skipped.", field="state", state=assessment.state, allowed=[])
    approval_id = queries.insert_approval(conn, kind="skip_assessment", agency_id=assessment.agency_id,
                                          case_id=facts.case_id, assessment_id=assessment.id,
                                          requested_by=actor.user_id, reason=reason)
    queries.update_assessment(conn, assessment.id, state="skip_requested")
    _record(conn, actor, AuditAction.ASSESSMENT_SKIP_REQUESTED, facts, assessment_id=assessment.id,
            approval_id=approval_id)
    return approval_id


def decide_skip(conn, approval: dict, *, actor: Actor, approve: bool, note: str | None) -> None:
    """Skip the assessment (approve: the supervisor's note is the recorded reason) or put it back."""
    _, facts = access.access_case(conn, actor, approval["case_id"], policy.WRITE,
                                  attempted=AuditAction.ASSESSMENT_SKIPPED)
    _require_participant(actor, facts, AuditAction.ASSESSMENT_SKIPPED)
    assessment = queries.get_assessment(conn, facts.case_id, approval["assessment_id"], lock=True)
    if assessment is None or assessment.state != "skip_requested":
        raise Conflict("The assessment is no longer waiting for a skip decision.", field="state")
    if not approve:
        queries.update_assessment(conn, assessment.id, state="assigned")
        return
    if not note:
        raise ValidationFailed("A supervisor records why the assessment is not needed.", field="note")
    queries.update_assessment(conn, assessment.id, state="skipped", skip_reason=note)
    stop_clock(conn, actor=actor, subject_type="assessment", subject_id=assessment.id, kind=None,
               reason="cancelled")
    _stop_whole_assessment_when_done(conn, facts, actor=actor)
    _record(conn, actor, AuditAction.ASSESSMENT_SKIPPED, facts, assessment_id=assessment.id,
            approval_id=approval["id"])


def _stop_whole_assessment_when_done(conn, facts: policy.CaseFacts, *, actor: Actor) -> None:
    # The whole assessment is done when no assessment of the case is still assigned or waiting
    # for a skip decision: each one completed, or its skip approved. The case row is locked so that
    # two agencies finishing the last two at once do not each see the other's still outstanding.
    queries.get_case(conn, facts.case_id, lock=True)
    if not queries.outstanding_assessments(conn, facts.case_id):
        stop_clock(conn, actor=actor, subject_type="case", subject_id=facts.case_id,
                   kind="whole_assessment")


# --- Chronology ----------------------------------------------------------------------------------

def add_entry(conn, facts: policy.CaseFacts, *, actor: Actor, kind: str | None, visibility: str | None,
              body: str, occurred_at: datetime | None, corrects_id: int | None) -> Entry:
    """Append a note, contact, meeting or decision, or a correction of an earlier entry."""
    case = queries.get_case(conn, facts.case_id)
    if corrects_id is not None:
        kind, visibility = _correction_fields(conn, facts, actor, kind, visibility, corrects_id)
    else:
        if kind not in FREE_ENTRY_KINDS:
            raise ValidationFailed(f"kind must be one of {', '.join(FREE_ENTRY_KINDS)}; assessment "
                                   "results come from completing an assessment.", field="kind",
                                   allowed=list(FREE_ENTRY_KINDS))
        if visibility is None:
            raise ValidationFailed("Say who may read the entry.", field="visibility")
        _require_not_closed(case)
        if kind == "review":
            _require_reviewable(actor, facts, case)
    if visibility == "own_agency" and _participation(actor, facts) is None:
        raise ValidationFailed("Only an agency taking part in the case can keep an entry to itself.",
                               field="visibility")
    now = _now()
    if occurred_at is not None and occurred_at > now + CLOCK_SKEW:
        raise ValidationFailed("occurred_at is in the future.", field="occurred_at")
    entry_id = queries.insert_entry(conn, case_id=case.id, child_id=case.child_id, kind=kind,
                                    visibility=visibility, author_user_id=actor.user_id,
                                    agency_id=actor.agency_id, occurred_at=occurred_at or now,
                                    body=body, corrects_id=corrects_id)
    _record(conn, actor, AuditAction.CHRONOLOGY_ENTRY_ADDED, case, entry_id=entry_id, kind=kind,
            visibility=visibility, corrects_id=corrects_id)
    if corrects_id is None:
        _complete_work(conn, facts, case, actor=actor, kind=kind, visibility=visibility,
                       entry_id=entry_id, occurred_at=min(occurred_at or now, now))
    return queries.get_entry(conn, entry_id)


def _require_reviewable(actor: Actor, facts: policy.CaseFacts, case: Case) -> None:
    """A case review is the lead agency's, of a case that has a plan to review."""
    _require_lead(actor, facts, AuditAction.CASE_REVIEW_RECORDED)
    if case.state not in REVIEWED_STATES:
        raise Conflict(f"A case review reviews the plan: record it once the case is in "
                       f"{' or '.join(REVIEWED_STATES)}, not {case.state}.", field="kind",
                       state=case.state)


def _complete_work(conn, facts: policy.CaseFacts, case: Case, *, actor: Actor, kind: str,
                   visibility: str, entry_id: int, occurred_at: datetime) -> None:
    """Stop the clocks an entry completes (services/clocks/README.md, which action stops which).

    Only an agency taking part in the case completes its work (an emergency grant is read-only
    and never reaches here; the check stays as a second line). A correction completes nothing: it changes what an earlier entry said, not what happened.
    """
    if _participation(actor, facts) is None:
        return
    if kind == "contact":
        # First contact with the child (DESIGN.md §3) by any agency taking part: the police or the
        # school psychologist often sees the child before the lead agency, and the clock asks
        # whether anyone has, not whether the lead has.
        stop_clock(conn, actor=actor, subject_type="case", subject_id=case.id, kind="first_contact")
    elif kind == "meeting" and visibility != "own_agency":
        # A strategy meeting is multi-agency by definition (PRACTICE.md §1 row 5): any meeting
        # recorded for the other agencies to know of counts, without a separate "this was the
        # strategy meeting" flag; a meeting an agency keeps to itself is its internal one.
        stop_clock(conn, actor=actor, subject_type="case", subject_id=case.id,
                   kind="strategy_meeting")
    elif kind == "review":
        # The review done, the next is due 6 months after it (DESIGN.md §3).
        stopped = stop_clocks(conn, actor=actor, subject_type="case", subject_id=case.id,
                              kinds=REVIEW_KINDS)
        start_clock(conn, actor=actor, kind="review", subject_type="case", subject_id=case.id,
                    child_id=case.child_id, region_id=case.region_id,
                    agency_id=case.lead_agency_id, priority=case.priority, started_at=occurred_at)
        _record(conn, actor, AuditAction.CASE_REVIEW_RECORDED, case, entry_id=entry_id,
                stopped_clock_ids=[row["clock_id"] for row in stopped])


def _correction_fields(conn, facts, actor, kind, visibility, corrects_id) -> tuple[str, str]:
    # A correction keeps the kind and the visibility of what it corrects, so that correcting a
    # restricted entry can never publish it, and only someone who can read an entry corrects it.
    target = queries.get_entry(conn, corrects_id)
    readable = (target is not None and target.case_id == facts.case_id and target.body is not None
                and policy.can_read_entry_body(actor, facts, access.live_grants(conn, actor),
                                               visibility=target.visibility,
                                               author_agency_id=target.agency_id))
    if not readable:
        raise ValidationFailed("No entry of this case that you can read has that id.", field="corrects_id")
    if target.kind == "instruction":
        raise ValidationFailed("Instructions are corrected by oversight.", field="corrects_id")
    if kind is not None and kind != target.kind:
        raise ValidationFailed(f"A correction keeps the kind of the entry it corrects ({target.kind}).",
                               field="kind")
    if visibility is not None and visibility != target.visibility:
        raise ValidationFailed("A correction keeps the visibility of the entry it corrects "
                               f"({target.visibility}).", field="visibility")
    return target.kind, target.visibility


def issue_instruction(conn, facts: policy.CaseFacts, *, actor: Actor, body: str,
                      addressed_agency_id: int | None, due_at: datetime | None) -> Entry:
    """Oversight's instruction: an entry every participant reads, addressed to one agency."""
    addressed = addressed_agency_id or facts.lead_agency_id
    if _active(facts, addressed) is None:
        raise ValidationFailed("Address the instruction to an agency taking part in the case.",
                               field="addressed_agency_id")
    if due_at is not None and due_at <= _now():
        raise ValidationFailed("due_at must be in the future.", field="due_at")
    entry_id = queries.insert_entry(conn, case_id=facts.case_id, child_id=facts.child_id,
                                    kind="instruction", visibility="all_participants",
                                    author_user_id=actor.user_id, agency_id=actor.agency_id,
                                    occurred_at=_now(), body=body, addressed_agency_id=addressed,
                                    due_at=due_at)
    _record(conn, actor, AuditAction.INSTRUCTION_ISSUED, facts, entry_id=entry_id,
            addressed_agency_id=addressed)
    # The instruction's clock (the region's policy, or the date oversight set) escalates if it is
    # not answered; the notice tells the addressed agency's supervisors now.
    start_clock(conn, actor=actor, kind="instruction", subject_type="instruction", subject_id=entry_id,
                child_id=facts.child_id, region_id=facts.region_id, agency_id=addressed,
                priority=queries.get_case(conn, facts.case_id).priority, due_at=due_at)
    outbox.enqueue(conn, "case.instruction_issued", entry_id=entry_id, case_id=facts.case_id,
                   child_id=facts.child_id, agency_id=addressed,
                   due_at=due_at.isoformat() if due_at else None)
    return queries.get_entry(conn, entry_id)


def _instruction_of(conn, facts: policy.CaseFacts, entry_id: int) -> Entry:
    instruction = queries.get_entry(conn, entry_id)
    if instruction is None or instruction.case_id != facts.case_id or instruction.kind != "instruction":
        raise NotFound("No instruction of this case has that id.", field="entry_id")
    return instruction


def answer_instruction(conn, facts: policy.CaseFacts, entry_id: int, *, actor: Actor, body: str,
                       visibility: str) -> Entry:
    """The addressed agency's answer to oversight's instruction: an ``instruction_response`` entry
    linked to the instruction, which stops its clock and tells the instructing prosecutor.

    :raise NotFound: no instruction of this case has ``entry_id``
    :raise AccessDenied: the actor's agency does not take part, or is not the one addressed
    :raise Conflict: the instruction has been answered already
    :raise ValidationFailed: an answer kept to one agency (oversight must read it)
    """
    instruction = _instruction_of(conn, facts, entry_id)
    _require_participant(actor, facts, AuditAction.INSTRUCTION_ANSWERED)
    if instruction.addressed_agency_id != actor.agency_id:
        _refuse(actor, AuditAction.INSTRUCTION_ANSWERED, facts, "not_addressed_agency",
                "Only the agency the instruction is addressed to answers it.")
    if visibility not in ANSWER_VISIBILITIES:
        raise ValidationFailed("The prosecutor must be able to read the answer: all_participants "
                               "or restricted.", field="visibility")
    case = _locked(conn, facts, None)  # one answer at a time
    if response_queries.response_entry_id(conn, instruction.id) is not None:
        raise Conflict("The instruction has been answered already.", field="entry_id")
    # An instruction is answered even on a closed case: closure does not withdraw it.
    answer_id = queries.insert_entry(conn, case_id=case.id, child_id=case.child_id,
                                     kind="instruction_response", visibility=visibility,
                                     author_user_id=actor.user_id, agency_id=actor.agency_id,
                                     occurred_at=_now(), body=body)
    response_queries.insert_response(conn, instruction_entry_id=instruction.id,
                                     response_entry_id=answer_id, case_id=case.id,
                                     agency_id=actor.agency_id, responded_by=actor.user_id)
    _record(conn, actor, AuditAction.CHRONOLOGY_ENTRY_ADDED, case, entry_id=answer_id,
            kind="instruction_response", visibility=visibility)
    stopped = stop_clock(conn, actor=actor, subject_type="instruction", subject_id=instruction.id,
                         kind="instruction")
    _record(conn, actor, AuditAction.INSTRUCTION_ANSWERED, case, instruction_id=instruction.id,
            entry_id=answer_id, stopped_clock_ids=stopped)
    outbox.enqueue(conn, "case.instruction_answered", entry_id=answer_id,
                   instruction_id=instruction.id, case_id=case.id, child_id=case.child_id,
                   user_ids=[instruction.author_user_id])
    return queries.get_entry(conn, answer_id)


def instruction_answer(conn, facts: policy.CaseFacts, entry_id: int, *,
                       actor: Actor) -> tuple[Entry, Entry | None]:
    """The instruction and its answer (None while unanswered), as the actor may read them."""
    instruction = _instruction_of(conn, facts, entry_id)
    response_id = response_queries.response_entry_id(conn, instruction.id)
    answer = queries.get_entry(conn, response_id) if response_id is not None else None
    audit.record(conn, actor=actor, action=AuditAction.INSTRUCTION_ANSWER_VIEWED, object_type="case",
                 object_id=str(facts.case_id), child_id=facts.child_id,
                 purpose="oversight" if policy.is_oversight_of(actor, facts.region_id) else None,
                 details={"instruction_id": instruction.id, "entry_id": response_id})
    return instruction, answer
