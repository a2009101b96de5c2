"""Cases, their participants, assessments and chronology entries as plain data, and the case
state machine (DESIGN.md §2). No I/O here."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

STATES = ("open", "assessment", "planning", "monitoring", "closed")

# The transitions a caseworker or supervisor of the lead agency may make directly. The path is
# DESIGN.md §2's `open → assessment → planning → monitoring`; a plan may be sent back for more
# assessment, and monitoring that shows the plan is not working goes back to planning.
#
#   from \ to    open  assessment  planning  monitoring  closed
#   open          -        yes         -          -        request
#   assessment    -         -         yes         -        request
#   planning      -        yes         -         yes         -
#   monitoring    -         -         yes         -        request
#   closed      reopen      -          -          -          -
#
# "request": closure is never a direct transition. A caseworker asks for it and a supervisor of
# the lead agency approves it (an approvals row of kind "closure"), DESIGN.md §2. A case may be
# closed after the assessment (no further action) or after monitoring, never straight from
# `open` (every accepted signal gets its assessments first) nor in the middle of planning.
# "reopen": a closed case goes back to `open` through its own, audited, action.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("assessment",),
    "assessment": ("planning",),
    "planning": ("assessment", "monitoring"),
    "monitoring": ("planning",),
    "closed": (),
}
CLOSABLE = ("assessment", "monitoring")

ENTRY_KINDS = ("note", "contact", "assessment_result", "meeting", "decision", "instruction", "review",
               "instruction_response")
# Written through the chronology endpoint; assessment results come from completing an assessment,
# instructions from oversight's own endpoint and answers to them from the addressed agency's.
# A `review` is the case review the review clocks wait for (lead agency, planning or monitoring).
FREE_ENTRY_KINDS = ("note", "contact", "meeting", "decision", "review")
VISIBILITIES = ("all_participants", "own_agency", "restricted")
# Oversight must read the answer to its instruction, so an answer is never kept to one agency.
ANSWER_VISIBILITIES = ("all_participants", "restricted")
# The states in which a case has a plan to review (DESIGN.md §3: reviews every 3, then 6 months).
REVIEWED_STATES = ("planning", "monitoring")

ASSESSMENT_KINDS = ("psychological", "legal", "social")
# Outcome codes every participant may read; what the assessment found in words is the
# assessment_result entry, with the visibility its author chose.
ASSESSMENT_OUTCOMES = ("no_further_action", "support_needed", "protection_needed", "inconclusive")
OUTSTANDING_ASSESSMENT_STATES = ("assigned", "skip_requested")


def allowed_transitions(state: str) -> tuple[str, ...]:
    """The states a case in ``state`` may move to directly."""
    return TRANSITIONS.get(state, ())


def can_request_closure(state: str) -> bool:
    return state in CLOSABLE


@dataclass(frozen=True)
class Case:
    id: int
    child_id: int
    region_id: int
    district_id: int | None
    lead_agency_id: int
    state: str
    priority: str
    opened_at: datetime
    closed_at: datetime | None
    version: int
    closure_requested_at: datetime | None
    closure_requested_by: int | None
    reopen_count: int
    updated_at: datetime

    @property
    def closure_pending(self) -> bool:
        return self.closure_requested_at is not None


@dataclass(frozen=True)
class CaseParticipant:
    agency_id: int
    agency_kind: str
    agency_name: str
    assigned_user_id: int | None
    joined_at: datetime
    left_at: datetime | None


@dataclass(frozen=True)
class Assessment:
    id: int
    case_id: int
    kind: str
    agency_id: int
    assignee_user_id: int | None
    state: str
    outcome: str | None
    created_at: datetime
    completed_at: datetime | None
    result_entry_id: int | None


@dataclass(frozen=True)
class Entry:
    """A chronology entry; ``body`` is None when row-level security withheld it."""

    id: int
    case_id: int
    child_id: int
    kind: str
    visibility: str
    author_user_id: int
    agency_id: int
    occurred_at: datetime
    created_at: datetime
    corrects_id: int | None
    addressed_agency_id: int | None
    due_at: datetime | None
    body: str | None
    corrected_by: list[int]
