"""The one access module: every decision about who may see or change what is made here.

Platform rules (DESIGN.md §1, §4): agency admins manage only their own agency's users; the system
admin manages agencies (and may create any agency's first users); neither sees case content.
Denials are audited in a transaction of their own, so a refused request still leaves its trace
even though the request's own transaction is rolled back.
"""
from __future__ import annotations

import hashlib

import audit
from audit import Actor, AuditAction
from audit.details import AuditValueError, check_code
from services.errors import AccessDenied, AuthenticationRequired, NotFound


def record_denial(actor: Actor, action: AuditAction, object_type: str, object_id, *,
                  child_id=None, reason: str | None = None) -> None:
    """Write an ``access_denied`` audit event that survives the caller's rollback."""
    from services.db import transaction

    with transaction(actor) as conn:
        audit.record(conn, actor=actor, action=AuditAction.ACCESS_DENIED,
                     object_type=object_type, object_id=_probed_id(object_id),
                     child_id=child_id, outcome="denied",
                     details={"attempted": action.value, **({"reason": reason} if reason else {})})


def _probed_id(object_id) -> str | None:
    """The id a request asked for, as the audit trail may store it: a probe with arbitrary text
    in the URL is recorded by a digest of that text, never the text itself."""
    if object_id is None:
        return None
    try:
        return check_code("object_id", object_id)
    except AuditValueError:
        return "sha256:" + hashlib.sha256(str(object_id).encode()).hexdigest()[:16]


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


# --- Child data (Core). Each access_* function loads the facts, lets services.policy decide,
# records a denial when it says no, and only then loads the record itself through row-level
# security: the application and PostgreSQL must both agree before anything is shown.

from services import policy  # noqa: E402


def _participants(raw) -> tuple[policy.Participant, ...]:
    return tuple(policy.Participant(p["agency_id"], p["assigned_user_id"], p["left"], p["kind"])
                 for p in raw or [])


def _case(row) -> policy.CaseFacts:
    return policy.CaseFacts(row["case_id"], row["child_id"], row["region_id"], row["lead_agency_id"],
                            row["state"], _participants(row["participants"]))


def _cases(conn, case_ids) -> dict[int, policy.CaseFacts]:
    """The facts of many cases, in one statement."""
    if not case_ids:
        return {}
    rows = conn.execute("SELECT * FROM qorgau_cases_facts(%s)", (sorted(set(case_ids)),)).fetchall()
    return {r["case_id"]: _case(r) for r in rows}


def _referrals(conn, referral_ids, cases: dict[int, policy.CaseFacts] | None = None
               ) -> dict[int, policy.ReferralFacts]:
    """The facts of many referrals and of the cases they are linked to, in two statements
    (one when ``cases`` already holds every linked case, or none is linked)."""
    if not referral_ids:
        return {}
    rows = conn.execute("SELECT * FROM qorgau_referrals_facts(%s)",
                        (sorted(set(referral_ids)),)).fetchall()
    return _referral_rows(conn, rows, cases)


def _referral_rows(conn, rows, cases: dict[int, policy.CaseFacts] | None = None
                   ) -> dict[int, policy.ReferralFacts]:
    cases = dict(cases or {})
    cases.update(_cases(conn, {c for r in rows for c in r["case_ids"]} - set(cases)))
    return {r["referral_id"]: policy.ReferralFacts(
                r["referral_id"], r["region_id"], r["referring_agency_id"], r["created_by"], r["state"],
                tuple((t["agency_id"], t["status"]) for t in r["recipients"]),
                tuple(cases[c] for c in r["case_ids"] if c in cases), tuple(r["child_ids"]))
            for r in rows}


def case_facts(conn, case_id: int) -> policy.CaseFacts | None:
    return _cases(conn, [case_id]).get(case_id)


def referral_facts(conn, referral_id: int) -> policy.ReferralFacts | None:
    return _referrals(conn, [referral_id]).get(referral_id)


def child_facts(conn, child_id: int) -> policy.ChildFacts | None:
    """The child's facts with every case and referral of theirs: four statements at most (the
    child, its cases, its referrals, their cases of other children), however long its history."""
    row = conn.execute("SELECT * FROM qorgau_child_facts(%s)", (child_id,)).fetchone()
    return _child(conn, row) if row else None


def _child(conn, row) -> policy.ChildFacts:
    cases = _cases(conn, row["case_ids"])
    referrals = _referrals(conn, row["referral_ids"], cases)
    return policy.ChildFacts(row["child_id"], row["region_id"], row["created_by_agency_id"],
                             tuple(cases[c] for c in row["case_ids"] if c in cases),
                             tuple(referrals[r] for r in row["referral_ids"] if r in referrals))


def live_grants(conn, actor: Actor) -> policy.Grants:
    if actor.user_id is None:
        return policy.Grants()
    rows = conn.execute("SELECT child_id FROM qorgau_live_grants(%s)", (actor.user_id,)).fetchall()
    return policy.Grants(frozenset(r["child_id"] for r in rows))


def _with_grants(conn, actor: Actor, call: str, object_id: int):
    """The facts row ``call`` gives for ``object_id`` and the actor's live grants, in one
    statement: (row or None, grants)."""
    row = conn.execute(
        "SELECT f.*, ARRAY(SELECT g.child_id FROM qorgau_live_grants(%s) g) AS grant_child_ids"
        f" FROM {call} f", (actor.user_id, object_id)).fetchone()
    return row, policy.Grants(frozenset(row["grant_child_ids"]) if row else frozenset())


def _case_and_grants(conn, actor: Actor, case_id: int) -> tuple[policy.CaseFacts | None, policy.Grants]:
    row, grants = _with_grants(conn, actor, "qorgau_cases_facts(ARRAY[%s]::bigint[])", case_id)
    return (_case(row) if row else None), grants


def _referral_and_grants(conn, actor: Actor, referral_id: int
                         ) -> tuple[policy.ReferralFacts | None, policy.Grants]:
    row, grants = _with_grants(conn, actor, "qorgau_referrals_facts(ARRAY[%s]::bigint[])", referral_id)
    return (_referral_rows(conn, [row])[referral_id] if row else None), grants


def _child_and_grants(conn, actor: Actor, child_id: int) -> tuple[policy.ChildFacts | None, policy.Grants]:
    row, grants = _with_grants(conn, actor, "qorgau_child_facts(%s)", child_id)
    return (_child(conn, row) if row else None), grants


_HIDDEN = "No such record, or it is not yours to see."


def _deny(actor: Actor, attempted: AuditAction, object_type: str, object_id, child_id=None):
    record_denial(actor, attempted, object_type, object_id, child_id=child_id)
    raise NotFound(_HIDDEN)


def access_case(conn, actor: Actor | None, case_id: int, action: str = policy.READ, *,
                attempted: AuditAction = AuditAction.CASE_VIEWED):
    """The case row if ``actor`` may do ``action`` on it; the same 404 when absent or not allowed."""
    actor = require_signed_in(actor)
    facts, grants = _case_and_grants(conn, actor, case_id)
    if facts is None or not policy.can_case(actor, facts, grants, action):
        _deny(actor, attempted, "case", case_id, child_id=facts.child_id if facts else None)
    row = conn.execute("SELECT * FROM cases WHERE id = %s", (case_id,)).fetchone()
    if row is None:  # the policy allowed what row-level security refused: treat as hidden
        _deny(actor, attempted, "case", case_id, child_id=facts.child_id)
    return row, facts


def access_referral(conn, actor: Actor | None, referral_id: int, action: str = policy.READ, *,
                    attempted: AuditAction = AuditAction.REFERRAL_VIEWED):
    """The referral row if ``actor`` may do ``action`` on it; the same 404 otherwise."""
    actor = require_signed_in(actor)
    facts, grants = _referral_and_grants(conn, actor, referral_id)
    child = facts.child_ids[0] if facts and facts.child_ids else None
    if facts is None or not policy.can_referral(actor, facts, grants, action):
        _deny(actor, attempted, "referral", referral_id, child_id=child)
    if action == "status":
        return None, facts
    row = conn.execute("SELECT * FROM referrals WHERE id = %s", (referral_id,)).fetchone()
    if row is None:
        _deny(actor, attempted, "referral", referral_id, child_id=child)
    return row, facts


def access_child(conn, actor: Actor | None, child_id: int, action: str = policy.READ, *,
                 attempted: AuditAction = AuditAction.CHILD_VIEWED):
    """The child row if ``actor`` may read it; the same 404 otherwise."""
    actor = require_signed_in(actor)
    facts, grants = _child_and_grants(conn, actor, child_id)
    if facts is None or not policy.can_child(actor, facts, grants, action):
        _deny(actor, attempted, "child", child_id, child_id=child_id if facts else None)
    row = conn.execute("SELECT * FROM children WHERE id = %s", (child_id,)).fetchone()
    if row is None:
        _deny(actor, attempted, "child", child_id, child_id=child_id)
    return row, facts


def is_case_participant(conn, actor: Actor, case_id: int) -> bool:
    """Does the actor's agency take part in the case (used by professional disagreements)?"""
    facts = case_facts(conn, case_id)
    return facts is not None and any(p.agency_id == actor.agency_id and not p.left
                                     for p in facts.participants)
