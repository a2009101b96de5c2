"""Agencies, users and roles as plain data (DESIGN.md §1)."""
from __future__ import annotations

from dataclasses import dataclass

AGENCY_KINDS = ("school", "social_services", "police", "health", "psychology", "prosecutor", "ngo")
ROLES = ("caseworker", "supervisor", "oversight", "council", "agency_admin", "system_admin")
# Roles whose holders must sign in with a second factor (issue: Platform, sign-in).
MFA_ROLES = frozenset({"supervisor", "oversight", "agency_admin", "system_admin"})
LANGUAGES = ("kk", "ru", "en")


@dataclass(frozen=True)
class Agency:
    id: int
    code: str
    name: str
    kind: str
    region_id: int
    district_id: int | None
    is_active: bool


@dataclass(frozen=True)
class User:
    id: int
    agency_id: int
    username: str
    full_name: str
    email: str | None
    preferred_language: str
    roles: tuple[str, ...]
    disabled: bool
    totp_enrolled: bool
    region_id: int

    @property
    def needs_mfa(self) -> bool:
        return bool(MFA_ROLES.intersection(self.roles))
