"""Recording, viewing and finding children; each read and change audited in its transaction.

Duplicates (DESIGN.md §2): a child is recorded once. Recording someone who probably exists (the
same IIN, or the same date of birth and a similar name in either script) returns the candidates
and needs an explicit "this is a different child"; the same IIN is never a different child.

Naming a child one cannot read (issue 4 item 1): the duplicate lookup shows identity fields of
children outside the caller's scope, because a child must not be recorded twice. A referral may
therefore name such a child by its id together with the IIN or date of birth it was found by
(``resolve_reference``); the child then becomes readable to the receiving agencies through the
referral, and to nobody else.
"""
from __future__ import annotations

from dataclasses import replace

import psycopg

import audit
from audit import Actor, AuditAction
from services import access, policy
from services.agencies import queries as agency_queries
from services.children import queries
from services.children.iin import InvalidIin, validate_iin
from services.children.names import probably_same_child, search_key
from services.children.records import (Candidate, Child, ChildDetails, Duplicates, SearchResult,
                                       is_child_on, today)
from services.errors import AccessDenied, Conflict, ValidationFailed


def require_practitioner(actor: Actor, attempted: AuditAction, object_type: str, object_id=None) -> Actor:
    """Only caseworkers and supervisors record or find children and referrals (DESIGN.md §4)."""
    actor = access.require_signed_in(actor)
    if not policy.is_practitioner(actor):
        access.record_denial(actor, attempted, object_type, object_id, reason="not_practitioner")
        raise AccessDenied("Only caseworkers and supervisors may do this.")
    return actor


def check_new_child(conn, child: ChildDetails, *, actor: Actor) -> ChildDetails:
    """The child as entered, with the IIN checked against the date of birth and sex."""
    day = today()
    if child.date_of_birth > day:
        raise ValidationFailed("The date of birth is in the future.", field="date_of_birth")
    if not is_child_on(child.date_of_birth, day):
        raise ValidationFailed("Qorgau records children: people under 18.", field="date_of_birth")
    sex = child.sex
    if child.iin is not None:
        try:
            info = validate_iin(child.iin, date_of_birth=child.date_of_birth, sex=child.sex, today=day)
        except InvalidIin as exc:
            raise ValidationFailed(exc.message, field=exc.field, reason=exc.reason) from None
        sex = sex or info.sex
    if child.school_agency_id is not None:
        school = agency_queries.get_agency(conn, child.school_agency_id)
        if school is None or not school.is_active or school.kind != "school":
            raise ValidationFailed("No such active school.", field="school_agency_id")
    if child.district_id is not None and queries.district_region(conn, child.district_id) != actor.region_id:
        raise ValidationFailed("No such district in your region.", field="district_id")
    return replace(child, sex=sex)


def record_child(conn, child: ChildDetails, *, actor: Actor, confirmed_different: bool) -> Child | Duplicates:
    """Record a checked child, or return the children it probably is (and audit that lookup)."""
    candidates = queries.duplicate_candidates(conn, child.iin, child.date_of_birth)
    same_iin = tuple(c for c in candidates if child.iin is not None and c.iin == child.iin)
    similar = tuple(c for c in candidates if c not in same_iin and probably_same_child(child, c))
    if same_iin or (similar and not confirmed_different):
        shown = same_iin or similar
        _audit_lookup(conn, actor, [c.id for c in shown], purpose="duplicate_check",
                      by="iin" if same_iin else "name_dob")
        return Duplicates(shown, same_iin=bool(same_iin))
    try:
        with conn.transaction():
            child_id = queries.insert_child(conn, child, region_id=actor.region_id,
                                            search_key=search_key(child.last_name, child.first_name),
                                            agency_id=actor.agency_id, user_id=actor.user_id)
    except psycopg.errors.UniqueViolation:
        raise Conflict("A child with this IIN was recorded a moment ago.", field="iin") from None
    audit.record(conn, actor=actor, action=AuditAction.CHILD_CREATED, object_type="child",
                 object_id=child_id, child_id=child_id)
    if similar:
        audit.record(conn, actor=actor, action=AuditAction.CHILD_DUPLICATE_OVERRIDDEN,
                     object_type="child", object_id=child_id, child_id=child_id,
                     details={"candidate_ids": [c.id for c in similar][:32]})
    return queries.get_child(conn, child_id)


def view_child(conn, child: Child, *, actor: Actor, purpose: str) -> Child:
    """Audit that ``actor`` opened the record (access was decided by ``access.access_child``)."""
    audit.record(conn, actor=actor, action=AuditAction.CHILD_VIEWED, object_type="child",
                 object_id=child.id, child_id=child.id, purpose=purpose)
    return child


def search_by_iin(conn, iin: str, *, actor: Actor) -> SearchResult:
    """Readable children with this IIN; else the id of the child who has it, if one exists."""
    try:
        validate_iin(iin)
    except InvalidIin as exc:
        raise ValidationFailed(exc.message, field="iin", reason=exc.reason) from None
    readable = _readable(conn, actor, queries.children_with_iin(conn, iin))
    existing = [] if readable else [c.id for c in queries.duplicate_candidates(conn, iin, None)
                                    if c.iin == iin]
    return _found(conn, actor, readable, existing, by="iin")


def search_by_name(conn, last_name: str, first_name: str, date_of_birth, *, actor: Actor) -> SearchResult:
    """Readable children born that day with a similar name, and ids of such children elsewhere."""
    probe = Candidate(0, None, last_name, first_name, date_of_birth, None)
    readable = [c for c in _readable(conn, actor, queries.children_born_on(conn, date_of_birth))
                if probably_same_child(probe, c)]
    seen = {c.id for c in readable}
    existing = [c.id for c in queries.duplicate_candidates(conn, None, date_of_birth)
                if c.id not in seen and probably_same_child(probe, c)]
    return _found(conn, actor, readable, existing, by="name_dob")


def resolve_reference(conn, child_id: int, *, iin: str | None, date_of_birth, actor: Actor,
                      grants: policy.Grants, field: str, attempted: AuditAction) -> int:
    """The id of a child a referral may name: readable, or proven by its IIN or date of birth."""
    facts = access.child_facts(conn, child_id)
    if facts is not None and policy.can_child(actor, facts, grants):
        return child_id
    if (iin is not None or date_of_birth is not None) and queries.child_matches(conn, child_id, iin, date_of_birth):
        return child_id
    access.record_denial(actor, attempted, "child", child_id,
                         child_id=child_id if facts else None, reason="child_reference")
    raise ValidationFailed("No such child, or name it with the IIN or date of birth it was found by.",
                           field=field)


def _readable(conn, actor: Actor, children: list[Child]) -> list[Child]:
    grants = access.live_grants(conn, actor)
    return [c for c in children
            if (facts := access.child_facts(conn, c.id)) is not None
            and policy.can_child(actor, facts, grants)]


def _found(conn, actor: Actor, readable: list[Child], existing: list[int], *, by: str) -> SearchResult:
    _audit_lookup(conn, actor, [c.id for c in readable] + existing, purpose="child_search", by=by)
    return SearchResult(tuple(readable), tuple(existing))


def _audit_lookup(conn, actor: Actor, child_ids: list[int], *, purpose: str, by: str) -> None:
    """One event per child shown, so "who has seen this child" lists the lookup too."""
    for child_id in child_ids or [None]:
        audit.record(conn, actor=actor, action=AuditAction.CHILD_SEARCHED, object_type="child",
                     object_id=child_id, child_id=child_id, purpose=purpose,
                     details={"by": by, "count": len(child_ids)})
