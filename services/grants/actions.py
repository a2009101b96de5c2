"""Emergency access: granting it after the caseworker re-enters their password, listing grants and
a supervisor's review.

What a grant opens is decided by the access policy and row-level security (a live grant makes
the child and their cases readable; it never reaches restricted entries or exports) and ends by
itself when ``expires_at`` passes: both check the time on every request.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import audit
from audit import Actor, AuditAction
from services import access, outbox
from services.auth import signin
from services.errors import AccessDenied, Conflict, NotFound, ValidationFailed
from services.grants import queries

# DESIGN.md §2 says "a few hours"; issue 4 fixes it at four.
GRANT_DURATION = timedelta(hours=4)


@dataclass(frozen=True)
class GrantOutcome:
    """The new grant, or why there is none (the transaction still commits the attempt's trace)."""

    grant: dict | None
    refused: str | None = None  # "invalid" | "locked" | "no_child"
    retry_after: int = 0


def grant_emergency_access(conn, *, actor: Actor, child_id: int, reason: str, password: str) -> GrantOutcome:
    """Open ``child_id`` to the caseworker for four hours, if their password is right."""
    attempt = signin.attempt_password(conn, actor.username or "", password)
    if not attempt.ok or attempt.user.id != actor.user_id:
        # attempt_password has counted the failure towards the sign-in lockout and audited it.
        _denied(conn, actor, child_id, "locked" if attempt.reason == "locked" else "password")
        return GrantOutcome(None, attempt.reason or "invalid", attempt.retry_after)
    child = access.child_facts(conn, child_id)
    if child is None or child.region_id != actor.region_id:
        # Emergency access is regional: the region's prosecutor reviews what happens in it.
        _denied(conn, actor, child_id, "no_child_in_region")
        return GrantOutcome(None, "no_child")
    grant = queries.insert(conn, user_id=actor.user_id, agency_id=actor.agency_id,
                           region_id=actor.region_id, child_id=child_id, reason=reason,
                           expires_at=datetime.now(timezone.utc) + GRANT_DURATION)
    audit.record(conn, actor=actor, action=AuditAction.EMERGENCY_ACCESS_GRANTED, object_type="access_grant",
                 object_id=str(grant["id"]), child_id=child_id, purpose="emergency_access",
                 details={"expires_at": grant["expires_at"].isoformat()})
    emergency_access_granted(conn, grant)
    return GrantOutcome(grant)


def _denied(conn, actor: Actor, child_id: int, reason: str) -> None:
    audit.record(conn, actor=actor, action=AuditAction.ACCESS_DENIED, object_type="child",
                 object_id=str(child_id), outcome="denied",
                 details={"attempted": AuditAction.EMERGENCY_ACCESS_GRANTED.value, "reason": reason})


def emergency_access_granted(conn, grant: dict) -> None:
    """Notify the holder's supervisors and the region's oversight (DESIGN.md §2, §4) through the
    outbox, in this transaction; the grant also stays on the supervisors' review list
    (``GET /api/v1/access-grants?pending_review=1``) until one of them reviews it."""
    outbox.enqueue(conn, "grants.emergency_access_granted", grant_id=grant["id"],
                   agency_id=grant["agency_id"], region_id=grant["region_id"], child_id=grant["child_id"])


def list_grants(conn, *, actor: Actor, pending_review: bool, before_id: int | None,
                limit: int) -> tuple[list[dict], bool]:
    """Supervisors see their agency's grants, oversight their region's, caseworkers their own."""
    if actor.has("supervisor"):
        scope, key = "agency", actor.agency_id
    elif actor.has("oversight"):
        scope, key = "region", actor.region_id
    else:
        scope, key = "own", actor.user_id
    rows = queries.page(conn, scope=scope, key=key, pending_review=pending_review, before_id=before_id,
                        limit=limit + 1)
    items = [grant_json(r) for r in rows[:limit]]
    audit.record(conn, actor=actor, action=AuditAction.EMERGENCY_ACCESS_LISTED, object_type="access_grant",
                 object_id=None, details={"count": len(items), "scope": scope,
                                          "pending_review": pending_review,
                                          "grant_ids": [i["id"] for i in items][:32]})
    return items, len(rows) > limit


def review_grant(conn, grant_id: int, *, actor: Actor, outcome: str, note: str | None,
                 revoke: bool) -> dict:
    """A supervisor of the holder's agency judges the grant; an unjustified one ends at once."""
    grant = queries.get(conn, grant_id, lock=True)  # row-level security: that agency's supervisors
    if grant is None:
        access.record_denial(actor, AuditAction.EMERGENCY_ACCESS_REVIEWED, "access_grant", grant_id,
                             reason="not_found_or_other_agency")
        raise NotFound("No such grant, or it is not yours to review.")
    if grant["user_id"] == actor.user_id:
        access.record_denial(actor, AuditAction.EMERGENCY_ACCESS_REVIEWED, "access_grant", grant_id,
                             child_id=grant["child_id"], reason="own_grant")
        raise AccessDenied("Another supervisor must review your own emergency access.")
    if grant["reviewed_at"] is not None:
        raise Conflict("This grant has already been reviewed.", field="outcome")
    if outcome == "unjustified" and not note:
        raise ValidationFailed("Say why the access was not justified.", field="note")
    revoke = revoke or outcome == "unjustified"
    queries.record_review(conn, grant_id, reviewer=actor.user_id, outcome=outcome, note=note, revoke=revoke)
    reviewed = queries.get(conn, grant_id)
    audit.record(conn, actor=actor, action=AuditAction.EMERGENCY_ACCESS_REVIEWED, object_type="access_grant",
                 object_id=str(grant_id), child_id=grant["child_id"],
                 details={"outcome": outcome, "revoked": reviewed["revoked_at"] is not None and grant["live"],
                          "holder_user_id": grant["user_id"]})
    return grant_json(reviewed)


def grant_json(row: dict) -> dict:
    return {"id": row["id"], "user_id": row["user_id"], "agency_id": row["agency_id"],
            "child_id": row["child_id"], "reason": row["reason"],
            "granted_at": row["granted_at"].isoformat(), "expires_at": row["expires_at"].isoformat(),
            "live": row["live"], "revoked_at": row["revoked_at"].isoformat() if row["revoked_at"] else None,
            "reviewed_by": row["reviewed_by"],
            "reviewed_at": row["reviewed_at"].isoformat() if row["reviewed_at"] else None,
            "review_outcome": row["review_outcome"], "review_note": row["review_note"]}
