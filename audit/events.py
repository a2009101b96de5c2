"""The closed catalogue of recordable actions, and who acts.

Every later capability adds its actions to ``AuditAction``; ``record`` refuses anything else.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field


class AuditAction(str, enum.Enum):
    """Everything Qorgau can record. Values are stored; never rename one."""

    SIGN_IN = "sign_in"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGN_OUT = "sign_out"
    SESSION_ENDED = "session_ended"
    TOTP_ENROLLED = "totp_enrolled"
    TOKEN_ISSUED = "token_issued"
    TOKEN_REVOKED = "token_revoked"
    TOKEN_REJECTED = "token_rejected"
    USER_CREATED = "user_created"
    USER_UPDATED = "user_updated"
    USER_DISABLED = "user_disabled"
    USER_ENABLED = "user_enabled"
    ROLE_CHANGED = "role_changed"
    PASSWORD_CHANGED = "password_changed"
    AGENCY_CREATED = "agency_created"
    AGENCY_UPDATED = "agency_updated"
    REGION_CREATED = "region_created"
    DISTRICT_CREATED = "district_created"
    USERS_LISTED = "users_listed"
    AGENCIES_LISTED = "agencies_listed"
    ACCESS_DENIED = "access_denied"
    CHILD_CREATED = "child_created"
    CHILD_VIEWED = "child_viewed"
    CHILD_SEARCHED = "child_searched"
    REFERRAL_FILED = "referral_filed"
    REFERRAL_VIEWED = "referral_viewed"
    CASE_VIEWED = "case_viewed"
    CHRONOLOGY_ENTRY_ADDED = "chronology_entry_added"
    EMERGENCY_ACCESS_GRANTED = "emergency_access_granted"
    EXPORT = "export"
    AUDIT_REPORT_VIEWED = "audit_report_viewed"
    AUDIT_CHECKPOINT_WRITTEN = "audit_checkpoint_written"
    DEMO_LOADED = "demo_loaded"
    # Core: children, referrals, screening
    CHILD_LISTED = "child_listed"
    CHILD_DUPLICATE_OVERRIDDEN = "child_duplicate_overridden"
    REFERRAL_DRAFTED = "referral_drafted"
    REFERRAL_SUBMITTED = "referral_submitted"
    REFERRAL_CORRECTED = "referral_corrected"
    REFERRAL_LISTED = "referral_listed"
    REFERRAL_STATUS_VIEWED = "referral_status_viewed"
    REFERRER_VIEWED = "referrer_viewed"
    ATTACHMENT_ADDED = "attachment_added"
    ATTACHMENT_SUPERSEDED = "attachment_superseded"
    ATTACHMENT_VIEWED = "attachment_viewed"
    REFERRAL_ACCEPTED = "referral_accepted"
    REFERRAL_SCREEN_OUT_REQUESTED = "referral_screen_out_requested"
    REFERRAL_SCREENED_OUT = "referral_screened_out"
    REFERRAL_REDIRECTED = "referral_redirected"
    PRIORITY_CONFIRMED = "priority_confirmed"
    PRIORITY_CHANGED = "priority_changed"
    PRIORITY_DOWNGRADE_REQUESTED = "priority_downgrade_requested"
    REFERRER_UPDATE_SENT = "referrer_update_sent"
    # Core: cases
    CASE_OPENED = "case_opened"
    CASE_LINKED = "case_linked"
    CASE_LISTED = "case_listed"
    CASE_TRANSITIONED = "case_transitioned"
    CASE_CLOSURE_REQUESTED = "case_closure_requested"
    CASE_CLOSED = "case_closed"
    CASE_REOPENED = "case_reopened"
    PARTICIPANT_ADDED = "participant_added"
    PARTICIPANT_LEFT = "participant_left"
    WORKER_ASSIGNED = "worker_assigned"
    LEAD_AGENCY_CHANGED = "lead_agency_changed"
    ASSESSMENT_CREATED = "assessment_created"
    ASSESSMENT_COMPLETED = "assessment_completed"
    ASSESSMENT_SKIP_REQUESTED = "assessment_skip_requested"
    ASSESSMENT_SKIPPED = "assessment_skipped"
    CHRONOLOGY_VIEWED = "chronology_viewed"
    INSTRUCTION_ISSUED = "instruction_issued"
    APPROVAL_LISTED = "approval_listed"
    APPROVAL_GRANTED = "approval_granted"
    APPROVAL_REJECTED = "approval_rejected"
    EMERGENCY_ACCESS_REVIEWED = "emergency_access_reviewed"
    EMERGENCY_ACCESS_LISTED = "emergency_access_listed"
    # Clocks: deadlines, escalations, disagreements, notifications
    CLOCK_STARTED = "clock_started"
    CLOCK_STOPPED = "clock_stopped"
    CLOCK_DUE_CHANGED = "clock_due_changed"
    CLOCKS_VIEWED = "clocks_viewed"
    CLOCK_REMINDER_SENT = "clock_reminder_sent"
    ESCALATION_RAISED = "escalation_raised"
    ESCALATION_REPEATED = "escalation_repeated"
    ESCALATION_ACKNOWLEDGED = "escalation_acknowledged"
    ESCALATION_REASSIGNED = "escalation_reassigned"
    ESCALATION_RESOLVED = "escalation_resolved"
    ESCALATIONS_LISTED = "escalations_listed"
    DISAGREEMENT_RAISED = "disagreement_raised"
    DISAGREEMENT_ADVANCED = "disagreement_advanced"
    DISAGREEMENT_RESOLVED = "disagreement_resolved"
    DISAGREEMENTS_LISTED = "disagreements_listed"
    DISAGREEMENT_VIEWED = "disagreement_viewed"
    CALENDAR_VIEWED = "calendar_viewed"
    CALENDAR_CHANGED = "calendar_changed"
    DEADLINE_POLICY_VIEWED = "deadline_policy_viewed"
    DEADLINE_POLICY_CHANGED = "deadline_policy_changed"
    AGENCY_HEADS_CHANGED = "agency_heads_changed"
    NOTIFICATIONS_LISTED = "notifications_listed"
    NOTIFICATION_READ = "notification_read"
    NOTIFICATION_DELIVERED = "notification_delivered"
    EMAIL_SENT = "email_sent"
    OUTBOX_DEAD_LETTERED = "outbox_dead_lettered"
    OUTBOX_DEAD_LISTED = "outbox_dead_listed"
    OUTBOX_REQUEUED = "outbox_requeued"
    # Clock lifecycle: the entries that complete work, and upkeep
    CLOCK_TRANSFERRED = "clock_transferred"
    INSTRUCTION_ANSWERED = "instruction_answered"
    INSTRUCTION_ANSWER_VIEWED = "instruction_answer_viewed"
    CASE_REVIEW_RECORDED = "case_review_recorded"
    IDEMPOTENCY_KEYS_PURGED = "idempotency_keys_purged"
    # Statistics: aggregates for oversight and the council, never child data
    STATISTICS_VIEWED = "statistics_viewed"


class Outcome(str, enum.Enum):
    ALLOWED = "allowed"
    DENIED = "denied"


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in person, an agency system holding a token, or Qorgau itself."""

    user_id: int | None
    agency_id: int | None
    roles: frozenset[str] = field(default_factory=frozenset)
    username: str | None = None
    region_id: int | None = None
    kind: str = "user"  # "user" | "agency_system" | "system"
    mfa: bool = False

    @classmethod
    def system(cls, name: str = "qorgau") -> "Actor":
        """The actor for work Qorgau does on its own (CLI, beat tasks)."""
        return cls(user_id=None, agency_id=None, roles=frozenset({"system"}), username=name,
                   kind="system")

    def has(self, role: str) -> bool:
        return role in self.roles
