"""API for cases: state, agencies and workers, assessments, the chronology and instructions.

Every view parses its input, loads the case through ``services.access`` (which refuses with the
same 404 whether the case is missing or not the caller's) and calls one action or read.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import date
from typing import Annotated, Literal

from flask import Blueprint, g, jsonify, request
from pydantic import AwareDatetime, Field

from audit import AuditAction
from services import access, policy
from services.api.spec import Strict, operation
from services.cases import actions, paging, queries, reads
from services.cases.records import ASSESSMENT_OUTCOMES
from services.db import transaction
from services.errors import ValidationFailed
from services.idempotency import Answer, idempotent
from services.security import csrf

api_bp = Blueprint("cases_api", __name__, url_prefix="/api/v1")
api_bp.url_value_preprocessor(paging.ids_fit)
csrf.exempt(api_bp)

Id = Annotated[int, Field(ge=1, le=paging.MAX_ID)]
Version = Annotated[int, Field(ge=1, le=2**31 - 1, description="the case version you last saw")]
State = Literal["open", "assessment", "planning", "monitoring", "closed"]
Priority = Literal["immediate", "urgent", "standard", "low"]
Visibility = Literal["all_participants", "own_agency", "restricted"]
EntryKind = Literal["note", "contact", "assessment_result", "meeting", "decision", "instruction", "review",
                    "instruction_response"]
Outcome = Literal[ASSESSMENT_OUTCOMES]
Reason = Annotated[str, Field(min_length=10, max_length=4000)]
Body = Annotated[str, Field(min_length=1, max_length=20000)]


class CaseQuery(Strict):
    state: State | None = None
    priority: Priority | None = None
    agency: Id | None = Field(default=None, description="a participating agency's id")
    district: Id | None = Field(default=None, description="district id")
    opened_from: date | None = Field(default=None, description="opened on or after (YYYY-MM-DD)")
    opened_to: date | None = Field(default=None, description="opened on or before (YYYY-MM-DD)")
    cursor: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=50, ge=1, le=paging.MAX_LIMIT)


class ChronologyQuery(Strict):
    agency: Id | None = Field(default=None, description="only entries written by this agency")
    kind: EntryKind | None = None
    cursor: str | None = Field(default=None, max_length=300)
    limit: int = Field(default=50, ge=1, le=paging.MAX_LIMIT)


class TransitionIn(Strict):
    to: State
    version: Version | None = None


class ReasonIn(Strict):
    reason: Reason
    version: Version | None = None


class AgencyRef(Strict):
    agency_id: Id
    version: Version | None = None


class AssigneeIn(Strict):
    user_id: Id | None
    version: Version | None = None


class AssessmentIn(Strict):
    kind: Literal["psychological", "legal", "social"]
    agency_id: Id
    assignee_user_id: Id | None = None


class CompleteIn(Strict):
    outcome: Outcome
    summary: Body
    visibility: Visibility = "all_participants"


class SkipIn(Strict):
    reason: Reason


class EntryIn(Strict):
    kind: Literal["note", "contact", "meeting", "decision", "review", "assessment_result"] | None = Field(
        default=None, description="required unless this corrects an entry (then it keeps its kind); "
        "a contact stops the first-contact clock, a meeting others may read the strategy-meeting "
        "clock, a review (lead agency, planning or monitoring) restarts the review clock")
    visibility: Visibility | None = Field(
        default=None, description="required unless this corrects an entry (then it keeps its visibility)")
    body: Body
    occurred_at: AwareDatetime | None = None
    corrects_id: Id | None = None


class InstructionIn(Strict):
    body: Body
    addressed_agency_id: Id | None = Field(default=None, description="default: the lead agency")
    due_at: AwareDatetime | None = None


class AnswerIn(Strict):
    body: Body
    visibility: Literal["all_participants", "restricted"] = Field(
        default="all_participants", description="never own_agency: oversight reads the answer")


class ParticipantOut(Strict):
    agency_id: int
    agency_kind: str
    agency_name: str
    assigned_user_id: int | None
    joined_at: str
    left_at: str | None


class CaseOut(Strict):
    id: int
    child_id: int
    region_id: int
    district_id: int | None
    lead_agency_id: int
    state: State
    priority: Priority
    opened_at: str
    closed_at: str | None
    version: int
    reopen_count: int
    closure_requested: bool
    closure_requested_at: str | None
    allowed_transitions: list[State]
    closure_request_allowed: bool
    participants: list[ParticipantOut]
    referral_ids: list[int]
    access: Literal["participant", "oversight", "emergency_grant"]


class CaseSummary(Strict):
    id: int
    child_id: int
    state: State
    priority: Priority
    lead_agency_id: int
    district_id: int | None
    opened_at: str
    closed_at: str | None
    version: int
    closure_requested: bool
    via_emergency_grant: bool


class CaseList(Strict):
    items: list[CaseSummary]
    next_cursor: str | None


class EntryOut(Strict):
    id: int
    case_id: int
    child_id: int
    kind: EntryKind
    visibility: Visibility
    author_user_id: int
    agency_id: int
    occurred_at: str
    created_at: str
    corrects_id: int | None
    corrected_by: list[int]
    addressed_agency_id: int | None
    due_at: str | None
    body: str | None = Field(description="null when you may know the entry exists but not read it")
    restricted: bool


class InstructionAnswerOut(Strict):
    instruction: EntryOut
    answer: EntryOut | None = Field(description="null while the instruction is unanswered")


class EntryList(Strict):
    items: list[EntryOut]
    next_cursor: str | None


class AssessmentOut(Strict):
    id: int
    case_id: int
    kind: str
    agency_id: int
    assignee_user_id: int | None
    state: Literal["assigned", "completed", "skip_requested", "skipped"]
    outcome: str | None
    created_at: str
    completed_at: str | None
    result_entry_id: int | None


class AssessmentList(Strict):
    items: list[AssessmentOut]


class ClosureRequested(Strict):
    approval_id: int
    case: CaseOut


class SkipRequested(Strict):
    approval_id: int


_IF_MATCH = re.compile(r'^(?:W/)?"?([0-9]{1,10})"?$')


def _expected_version(body_version: int | None) -> int | None:
    """The version the caller last saw: ``version`` in the body, else the If-Match header."""
    if body_version is not None:
        return body_version
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    match = _IF_MATCH.match(header.strip())
    if match is None:
        raise ValidationFailed('If-Match must be the ETag of the case, such as "3".', field="If-Match")
    return int(match.group(1))


@contextmanager
def _case(case_id: int, attempted: AuditAction, action: str = policy.WRITE):
    """(actor, conn, facts) in one transaction, once the caller may do ``action`` on the case."""
    actor = access.require_signed_in(g.actor)
    with transaction(actor) as conn:
        _, facts = access.access_case(conn, actor, case_id, action, attempted=attempted)
        yield actor, conn, facts


def _case_response(conn, case_id: int, status: int = 200, facts=None):
    case = queries.get_case(conn, case_id)
    facts = facts or access.case_facts(conn, case_id)
    document = reads.case_document(conn, case, facts, actor=g.actor)
    response = jsonify(document)
    response.status_code = status
    response.headers["ETag"] = f'"{case.version}"'
    return response


# --- Cases ---------------------------------------------------------------------------------------

@api_bp.get("/cases")
@operation("List the cases you may read, newest first (keyset pages)", query=CaseQuery,
           response=CaseList, tags=("cases",))
def list_cases(query: CaseQuery):
    actor = access.require_signed_in(g.actor)
    if not (policy.is_practitioner(actor) or (actor.kind == "user" and actor.has("oversight"))):
        access.record_denial(actor, AuditAction.CASE_LISTED, "case", None, reason="no_case_role")
        raise access.AccessDenied("Your role does not see case content.")
    filters = {"state": query.state, "priority": query.priority, "agency_filter": query.agency,
               "district_id": query.district, "opened_from": query.opened_from,
               "opened_to": query.opened_to}
    with transaction(actor) as conn:
        items, more = reads.list_cases(conn, actor=actor, filters=filters,
                                       before_id=paging.decode_id(query.cursor), limit=query.limit)
    return jsonify(items=items, next_cursor=paging.encode(items[-1]["id"]) if more else None)


@api_bp.get("/cases/<int:case_id>")
@operation("A case: state, lead and participating agencies, assigned workers, referrals",
           response=CaseOut, tags=("cases",), errors=(404,))
def get_case(case_id: int):
    actor = access.require_signed_in(g.actor)
    with transaction(actor) as conn:
        row, facts = access.access_case(conn, actor, case_id, policy.READ,
                                        attempted=AuditAction.CASE_VIEWED)
        case = reads.case_of(row)  # the row access_case read: not read a second time
        document = reads.view_case(conn, case, facts, actor=actor)
    response = jsonify(document)
    response.headers["ETag"] = f'"{case.version}"'
    return response


@api_bp.post("/cases/<int:case_id>/transitions")
@operation("Move the case to another state (see the transition table; 409 lists the allowed ones)",
           body=TransitionIn, response=CaseOut, tags=("cases",), errors=(404, 409))
def transition(case_id: int, body: TransitionIn):
    expected = _expected_version(body.version)
    with _case(case_id, AuditAction.CASE_TRANSITIONED) as (actor, conn, facts):
        actions.transition_case(conn, facts, body.to, actor=actor, expected_version=expected)
        return _case_response(conn, case_id)


@api_bp.post("/cases/<int:case_id>/closure-request")
@operation("Ask a supervisor of the lead agency to close the case", body=ReasonIn,
           response=ClosureRequested, status=202, tags=("cases",), errors=(404, 409))
def request_closure(case_id: int, body: ReasonIn):
    expected = _expected_version(body.version)
    with _case(case_id, AuditAction.CASE_CLOSURE_REQUESTED) as (actor, conn, facts):
        case, approval_id = actions.request_closure(conn, facts, actor=actor, reason=body.reason,
                                                    expected_version=expected)
        document = reads.case_document(conn, case, access.case_facts(conn, case_id), actor=actor)
    response = jsonify(approval_id=approval_id, case=document)
    response.headers["ETag"] = f'"{case.version}"'
    return response, 202


@api_bp.post("/cases/<int:case_id>/reopen")
@operation("Reopen a closed case (the reason goes on the chronology)", body=ReasonIn, response=CaseOut,
           tags=("cases",), errors=(404, 409))
def reopen(case_id: int, body: ReasonIn):
    expected = _expected_version(body.version)
    with _case(case_id, AuditAction.CASE_REOPENED) as (actor, conn, facts):
        actions.reopen_case(conn, facts, actor=actor, reason=body.reason, expected_version=expected)
        return _case_response(conn, case_id)


@api_bp.get("/cases/<int:case_id>/export")
@operation("Export a case summary as JSON (never under an emergency grant)", tags=("cases",),
           errors=(404,))
def export(case_id: int):
    with _case(case_id, AuditAction.EXPORT, policy.EXPORT) as (actor, conn, facts):
        document = reads.export_case(conn, queries.get_case(conn, case_id), facts, actor=actor)
    response = jsonify(document)
    response.headers["Content-Disposition"] = f'attachment; filename="case-{case_id}.json"'
    return response


# --- Agencies and workers --------------------------------------------------------------------

@api_bp.post("/cases/<int:case_id>/participants")
@operation("Bring another agency into the case (lead agency)", body=AgencyRef, response=CaseOut,
           status=201, tags=("cases",), errors=(404, 409))
def add_participant(case_id: int, body: AgencyRef):
    expected = _expected_version(body.version)
    with _case(case_id, AuditAction.PARTICIPANT_ADDED) as (actor, conn, facts):
        actions.add_participant(conn, facts, body.agency_id, actor=actor, expected_version=expected)
        return _case_response(conn, case_id, 201)


@api_bp.delete("/cases/<int:case_id>/participants/<int:agency_id>")
@operation("Withdraw an agency from the case (its supervisor, or the lead's)", status=204,
           tags=("cases",), errors=(404, 409))
def leave(case_id: int, agency_id: int):
    expected = _expected_version(None)
    with _case(case_id, AuditAction.PARTICIPANT_LEFT) as (actor, conn, facts):
        actions.leave_case(conn, facts, agency_id, actor=actor, expected_version=expected)
    return "", 204


@api_bp.put("/cases/<int:case_id>/participants/<int:agency_id>/assignee")
@operation("Assign the agency's worker (a supervisor; a caseworker may take an unassigned case)",
           body=AssigneeIn, response=CaseOut, tags=("cases",), errors=(404, 409))
def assign(case_id: int, agency_id: int, body: AssigneeIn):
    expected = _expected_version(body.version)
    with _case(case_id, AuditAction.WORKER_ASSIGNED) as (actor, conn, facts):
        actions.assign_worker(conn, facts, agency_id, body.user_id, actor=actor, expected_version=expected)
        return _case_response(conn, case_id)


@api_bp.post("/cases/<int:case_id>/lead")
@operation("Hand the lead over to another participating agency (a supervisor of the lead)",
           body=AgencyRef, response=CaseOut, tags=("cases",), errors=(404, 409))
def hand_over_lead(case_id: int, body: AgencyRef):
    expected = _expected_version(body.version)
    with _case(case_id, AuditAction.LEAD_AGENCY_CHANGED) as (actor, conn, facts):
        actions.hand_over_lead(conn, facts, body.agency_id, actor=actor, expected_version=expected)
        return _case_response(conn, case_id)


# --- Assessments -------------------------------------------------------------------------------

@api_bp.get("/cases/<int:case_id>/assessments")
@operation("The case's assessments", response=AssessmentList, tags=("assessments",), errors=(404,))
def list_assessments(case_id: int):
    with _case(case_id, AuditAction.CASE_VIEWED, policy.READ) as (actor, conn, facts):
        items = reads.assessment_documents(conn, facts, actor=actor)
    return jsonify(items=items)


@api_bp.post("/cases/<int:case_id>/assessments")
@operation("Assign a further assessment to a participating agency (lead agency); Idempotency-Key "
           "makes a retry return the first answer", body=AssessmentIn, response=AssessmentOut,
           status=201, tags=("assessments",), errors=(404, 409))
def add_assessment(case_id: int, body: AssessmentIn):
    actor = access.require_signed_in(g.actor)

    def assign(conn) -> Answer:
        _, facts = access.access_case(conn, actor, case_id, policy.WRITE,
                                      attempted=AuditAction.ASSESSMENT_CREATED)
        assessment = actions.add_assessment(conn, facts, actor=actor, kind=body.kind,
                                            agency_id=body.agency_id,
                                            assignee_user_id=body.assignee_user_id)
        return Answer(reads.assessment_json(assessment), 201)

    return idempotent(actor, assign)


@api_bp.post("/cases/<int:case_id>/assessments/<int:assessment_id>/complete")
@operation("Complete an assessment with its outcome (the summary becomes a chronology entry)",
           body=CompleteIn, response=AssessmentOut, tags=("assessments",), errors=(404, 409))
def complete_assessment(case_id: int, assessment_id: int, body: CompleteIn):
    with _case(case_id, AuditAction.ASSESSMENT_COMPLETED) as (actor, conn, facts):
        assessment = actions.complete_assessment(conn, facts, assessment_id, actor=actor,
                                                 outcome=body.outcome, summary=body.summary,
                                                 visibility=body.visibility)
    return jsonify(reads.assessment_json(assessment))


@api_bp.post("/cases/<int:case_id>/assessments/<int:assessment_id>/skip-request")
@operation("Ask a supervisor to let an assessment go undone, with the reason", body=SkipIn,
           response=SkipRequested, status=202, tags=("assessments",), errors=(404, 409))
def request_skip(case_id: int, assessment_id: int, body: SkipIn):
    with _case(case_id, AuditAction.ASSESSMENT_SKIP_REQUESTED) as (actor, conn, facts):
        approval_id = actions.request_assessment_skip(conn, facts, assessment_id, actor=actor,
                                                      reason=body.reason)
    return jsonify(approval_id=approval_id), 202


# --- Chronology ----------------------------------------------------------------------------------

def _entries_response(items: list[dict], more: bool):
    last = items[-1] if items else None
    cursor = paging.encode(last["occurred_at"], last["id"]) if more and last else None
    return jsonify(items=items, next_cursor=cursor)


@api_bp.get("/cases/<int:case_id>/chronology")
@operation("The case's chronology, oldest first: every entry you may know of, bodies you may read",
           query=ChronologyQuery, response=EntryList, tags=("chronology",), errors=(404,))
def case_chronology(case_id: int, query: ChronologyQuery):
    after = paging.decode_time_id(query.cursor)
    with _case(case_id, AuditAction.CHRONOLOGY_VIEWED, policy.READ) as (actor, conn, facts):
        items, more = reads.case_chronology(conn, facts, actor=actor, agency_id=query.agency,
                                            kind=query.kind, after=after, limit=query.limit)
    return _entries_response(items, more)


@api_bp.post("/cases/<int:case_id>/chronology")
@operation("Append an entry (or a correction pointing at the entry it corrects); Idempotency-Key "
           "makes a retry return the first answer", body=EntryIn, response=EntryOut, status=201,
           tags=("chronology",), errors=(404, 409))
def add_entry(case_id: int, body: EntryIn):
    actor = access.require_signed_in(g.actor)

    def append(conn) -> Answer:
        _, facts = access.access_case(conn, actor, case_id, policy.WRITE,
                                      attempted=AuditAction.CHRONOLOGY_ENTRY_ADDED)
        entry = actions.add_entry(conn, facts, actor=actor, kind=body.kind, visibility=body.visibility,
                                  body=body.body, occurred_at=body.occurred_at,
                                  corrects_id=body.corrects_id)
        return Answer(reads.readable_entry(conn, facts, entry, actor=actor), 201)

    return idempotent(actor, append)


@api_bp.get("/children/<int:child_id>/chronology")
@operation("A child's multi-agency timeline across their cases, oldest first", query=ChronologyQuery,
           response=EntryList, tags=("chronology",), errors=(404,))
def child_chronology(child_id: int, query: ChronologyQuery):
    actor = access.require_signed_in(g.actor)
    after = paging.decode_time_id(query.cursor)
    with transaction(actor) as conn:
        _, child = access.access_child(conn, actor, child_id, policy.READ,
                                       attempted=AuditAction.CHRONOLOGY_VIEWED)
        items, more = reads.child_chronology(conn, child, actor=actor, agency_id=query.agency,
                                             kind=query.kind, after=after, limit=query.limit)
    return _entries_response(items, more)


@api_bp.post("/cases/<int:case_id>/instructions")
@operation("Oversight's instruction on a case (the only thing oversight writes); Idempotency-Key "
           "makes a retry return the first answer", body=InstructionIn, response=EntryOut, status=201,
           tags=("chronology",), errors=(404,))
def issue_instruction(case_id: int, body: InstructionIn):
    actor = access.require_signed_in(g.actor)

    def instruct(conn) -> Answer:
        _, facts = access.access_case(conn, actor, case_id, policy.INSTRUCT,
                                      attempted=AuditAction.INSTRUCTION_ISSUED)
        entry = actions.issue_instruction(conn, facts, actor=actor, body=body.body,
                                          addressed_agency_id=body.addressed_agency_id,
                                          due_at=body.due_at)
        return Answer(reads.readable_entry(conn, facts, entry, actor=actor), 201)

    return idempotent(actor, instruct)


@api_bp.post("/cases/<int:case_id>/instructions/<int:entry_id>/response")
@operation("The addressed agency answers oversight's instruction (once): a chronology entry linked "
           "to the instruction, which stops its clock; Idempotency-Key makes a retry return the "
           "first answer", body=AnswerIn, response=EntryOut, status=201, tags=("chronology",),
           errors=(404, 409))
def answer_instruction(case_id: int, entry_id: int, body: AnswerIn):
    actor = access.require_signed_in(g.actor)

    def answer(conn) -> Answer:
        _, facts = access.access_case(conn, actor, case_id, policy.WRITE,
                                      attempted=AuditAction.INSTRUCTION_ANSWERED)
        entry = actions.answer_instruction(conn, facts, entry_id, actor=actor, body=body.body,
                                           visibility=body.visibility)
        return Answer(reads.readable_entry(conn, facts, entry, actor=actor), 201)

    return idempotent(actor, answer)


@api_bp.get("/cases/<int:case_id>/instructions/<int:entry_id>/response")
@operation("An instruction and its answer (null while unanswered)", response=InstructionAnswerOut,
           tags=("chronology",), errors=(404,))
def instruction_answer(case_id: int, entry_id: int):
    with _case(case_id, AuditAction.INSTRUCTION_ANSWER_VIEWED, policy.READ) as (actor, conn, facts):
        instruction, answer = actions.instruction_answer(conn, facts, entry_id, actor=actor)
        document = {"instruction": reads.readable_entry(conn, facts, instruction, actor=actor),
                    "answer": reads.readable_entry(conn, facts, answer, actor=actor) if answer else None}
    return jsonify(document)
