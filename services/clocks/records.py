"""Clocks, deadline rules, escalations and disagreements as plain data (DESIGN.md §2, §3)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

PRIORITIES = ("immediate", "urgent", "standard", "low")
# Most severe first: the escalation queue sorts by this after the ladder level.
PRIORITY_RANK = {p: i for i, p in enumerate(PRIORITIES)}
SUBJECT_TYPES = ("referral", "case", "assessment", "instruction", "meeting", "disagreement",
                 "feedback")
UNITS = ("minutes", "hours", "working_hours", "working_days", "months")
WORKING_UNITS = ("working_hours", "working_days")

# The clock kinds the default policy knows (migrations/versions/0003_clocks.py). A region may add
# rules for other kinds; a clock of a kind without a rule cannot start.
KINDS = ("acknowledgement", "screening_decision", "first_contact", "assessment",
         "whole_assessment", "strategy_meeting", "first_review", "review", "referrer_feedback",
         "instruction", "disagreement_stage_1", "disagreement_stage_2", "disagreement_stage_3")

# The one clock the 15-minute rule applies to (DESIGN.md §3): an immediate referral's
# acknowledgement.
UNACKNOWLEDGED_KIND = "acknowledgement"
UNACKNOWLEDGED_PRIORITY = "immediate"

LEVEL_OWNERS = {1: "supervisor", 2: "agency_head", 3: "oversight"}


@dataclass(frozen=True)
class Rule:
    clock_kind: str
    priority: str
    amount: int
    unit: str


@dataclass(frozen=True)
class Policy:
    """One version of a region's (or the national) deadline policy."""

    id: int
    region_id: int | None
    version: int
    reminder_percent: int
    level_2_after_wd: int
    level_3_after_wd: int
    unacknowledged_after: timedelta
    unacknowledged_repeat: timedelta
    reason: str
    created_at: datetime
    rules: tuple[Rule, ...] = ()

    def rule_for(self, kind: str, priority: str) -> Rule | None:
        """The rule for ``kind`` at ``priority``, else the kind's 'any' rule, else None."""
        by_key = {(r.clock_kind, r.priority): r for r in self.rules}
        return by_key.get((kind, priority)) or by_key.get((kind, "any"))


@dataclass(frozen=True)
class Schedule:
    """The instants of one round of a clock's ladder."""

    due_at: datetime
    reminder_at: datetime
    level_2_at: datetime
    level_3_at: datetime
    unacknowledged_at: datetime | None


@dataclass(frozen=True)
class Clock:
    id: int
    kind: str
    subject_type: str
    subject_id: int
    child_id: int | None
    region_id: int
    agency_id: int
    assignee_user_id: int | None
    priority: str
    policy_id: int
    amount: int
    unit: str
    started_at: datetime
    due_at: datetime
    reminder_at: datetime
    level_2_at: datetime
    level_3_at: datetime
    unacknowledged_at: datetime | None
    round: int
    reminded_at: datetime | None
    escalation_level: int
    escalation_state: str
    repeats: int
    next_action_at: datetime | None
    stopped_at: datetime | None
    stop_reason: str | None

    @property
    def running(self) -> bool:
        return self.stopped_at is None

    def schedule(self) -> Schedule:
        return Schedule(self.due_at, self.reminder_at, self.level_2_at, self.level_3_at,
                        self.unacknowledged_at)


@dataclass(frozen=True)
class Escalation:
    id: int
    clock_id: int
    round: int
    cause: str
    level: int
    clock_kind: str
    priority: str
    subject_type: str
    subject_id: int
    child_id: int | None
    region_id: int
    agency_id: int
    assignee_user_id: int | None
    raised_at: datetime
    level_changed_at: datetime
    state: str
    acknowledged_at: datetime | None
    acknowledged_by: int | None
    acknowledged_level: int | None
    resolved_at: datetime | None
    resolved_by: int | None
    resolution: str | None
    resolution_note: str | None
    due_at: datetime | None = None


@dataclass(frozen=True)
class Disagreement:
    id: int
    case_id: int
    child_id: int | None
    region_id: int
    decision_type: str
    decision_id: int | None
    raised_by: int
    raised_by_agency_id: int
    against_agency_id: int
    reason: str
    stage: int
    state: str
    opened_at: datetime
    stage_started_at: datetime
    resolved_at: datetime | None
    resolved_by: int | None
    resolution_note: str | None
    stage_due_at: datetime | None = None
