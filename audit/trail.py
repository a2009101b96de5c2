"""``record``: write one audit event inside the caller's transaction.

The event is part of the transaction that performs the read or change (DESIGN.md §5): if it
cannot be written the statement raises and the whole action fails with it, and if the action
rolls back the event goes with it. Callers never catch what ``record`` raises.
"""
from __future__ import annotations

import re

from psycopg.types.json import Jsonb

from audit import context as audit_context
from audit.details import (AuditValueError, check_code, check_details, check_int, check_name,
                           check_purpose)
from audit.events import Actor, AuditAction, Outcome

# Advisory lock class of the chain locks: a writer holds pg_advisory_xact_lock(CHAIN_LOCK, chain)
# on the chain it extends until its transaction ends (migrations/versions/0002_audit.py).
CHAIN_LOCK = 0x51A0

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# One statement, one round trip. The chaining trigger (migrations/versions/0002_audit.py) gives
# the event its id, chain, seq, prev_hash and hash, holding the chain until the caller's
# transaction ends; the caller supplies only what happened. READ COMMITTED transactions only.
INSERT = """
INSERT INTO audit.events (action, outcome, actor_kind, actor_user_id, actor_agency_id,
    actor_region_id, actor_roles, actor_mfa, object_type, object_id, child_id, purpose,
    request_id, client_addr, user_agent, session_ref, auth_strength, channel, details)
VALUES (%(action)s, %(outcome)s, %(actor_kind)s, %(actor_user_id)s, %(actor_agency_id)s,
    coalesce(%(actor_region_id)s::bigint,
             (SELECT a.region_id FROM public.agencies a WHERE a.id = %(actor_agency_id)s::bigint)),
    %(actor_roles)s, %(actor_mfa)s, %(object_type)s, %(object_id)s, %(child_id)s, %(purpose)s,
    %(request_id)s, %(client_addr)s, %(user_agent)s, %(session_ref)s, %(auth_strength)s,
    %(channel)s, %(details)s)
"""


def _context_text(value: str | None, limit: int) -> str | None:
    """Request metadata, bounded and stripped of control characters."""
    if value is None:
        return None
    return _CONTROL.sub("", str(value))[:limit] or None


def _outcome(value) -> str:
    try:
        return Outcome(value).value
    except ValueError:
        raise AuditValueError(f"outcome must be 'allowed' or 'denied', got {value!r}") from None


def _action(value) -> str:
    try:
        return AuditAction(value).value
    except ValueError:
        raise AuditValueError(f"{value!r} is not in the AuditAction catalogue") from None


def event_values(*, actor: Actor, action, object_type: str, object_id, child_id=None,
                 purpose=None, outcome="allowed", details=None) -> dict:
    """The checked column values of one event (everything but its place in a chain)."""
    if not isinstance(actor, Actor):
        raise AuditValueError("actor must be an audit.Actor")
    ctx = audit_context.current()
    return {
        "action": _action(action),
        "outcome": _outcome(outcome),
        "actor_kind": check_name("actor.kind", actor.kind),
        "actor_user_id": check_int("actor.user_id", actor.user_id),
        "actor_agency_id": check_int("actor.agency_id", actor.agency_id),
        "actor_region_id": check_int("actor.region_id", actor.region_id),
        "actor_roles": sorted(check_code("actor.roles", r) for r in actor.roles),
        "actor_mfa": bool(actor.mfa),
        "object_type": check_name("object_type", object_type),
        "object_id": check_code("object_id", object_id),
        "child_id": check_int("child_id", child_id),
        "purpose": check_purpose(purpose),
        "request_id": _context_text(ctx.request_id, 64),
        "client_addr": _context_text(ctx.client_addr, 64),
        "user_agent": _context_text(ctx.user_agent, 256),
        "session_ref": _context_text(ctx.session_ref, 128),
        "auth_strength": _context_text(ctx.auth_strength
                                       or ("system" if actor.kind == "system" else None), 32),
        "channel": _context_text(ctx.channel, 16) or "system",
        "details": check_details(details),
    }


def record(conn, *, actor: Actor, action: AuditAction, object_type: str, object_id,
           child_id: int | None = None, purpose: str | None = None,
           outcome: str | Outcome = "allowed", details: dict | None = None) -> None:
    """Append one event to the audit trail in ``conn``'s current transaction.

    :raise AuditValueError: if a value is not an id or code the trail may store
    :raise psycopg.Error: if the event cannot be written (the caller's transaction then fails)
    """
    values = event_values(actor=actor, action=action, object_type=object_type,
                          object_id=object_id, child_id=child_id, purpose=purpose,
                          outcome=outcome, details=details)
    values["details"] = Jsonb(values["details"])
    conn.execute(INSERT, values)
