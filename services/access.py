"""The one access module: every decision about who may see or change what is made here.

Platform rules (DESIGN.md §1, §4): agency admins manage only their own agency's users; the system
admin manages agencies (and may create any agency's first users); neither sees case content.
Denials are audited in a transaction of their own, so a refused request still leaves its trace
even though the request's own transaction is rolled back.
"""
from __future__ import annotations

import audit
from audit import Actor, AuditAction
from services.errors import AccessDenied, AuthenticationRequired, NotFound


def record_denial(actor: Actor, action: AuditAction, object_type: str, object_id, *,
                  child_id=None, reason: str | None = None) -> None:
    """Write an ``access_denied`` audit event that survives the caller's rollback."""
    from services.db import transaction

    with transaction(actor) as conn:
        audit.record(conn, actor=actor, action=AuditAction.ACCESS_DENIED,
                     object_type=object_type, object_id=None if object_id is None else str(object_id),
                     child_id=child_id, outcome="denied",
                     details={"attempted": action.value, **({"reason": reason} if reason else {})})


def require_signed_in(actor: Actor | None) -> Actor:
    if actor is None:
        raise AuthenticationRequired("Sign in or send a Bearer token.")
    return actor


def require_system_admin(actor: Actor | None, action: AuditAction, object_type: str, object_id=None) -> Actor:
    """Only the system administrator manages regions and agencies."""
    actor = require_signed_in(actor)
    if not actor.has("system_admin"):
        record_denial(actor, action, object_type, object_id, reason="not_system_admin")
        raise AccessDenied("Only the system administrator may do this.")
    return actor


def can_manage_users_of(actor: Actor, agency_id: int) -> bool:
    """Agency admins manage their own agency's users; the system admin manages any agency's."""
    if actor.has("system_admin"):
        return True
    if actor.has("agency_admin") and actor.agency_id == agency_id:
        return True
    return False


def require_user_admin(actor: Actor | None, agency_id: int, action: AuditAction,
                       object_type: str = "agency", object_id=None) -> Actor:
    actor = require_signed_in(actor)
    if not can_manage_users_of(actor, agency_id):
        record_denial(actor, action, object_type, object_id if object_id is not None else agency_id,
                      reason="not_admin_of_agency")
        raise NotFound("No such agency or user.")
    return actor
