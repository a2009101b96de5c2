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
