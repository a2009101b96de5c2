"""The access policy as pure decisions: role × relationship × sensitivity (DESIGN.md §4).

These functions take an actor and facts (ids and states, no content) and answer yes or no. They
mirror, rule for rule, the row-level security of migrations/versions/0004_core.py as revised by
0009_read_speed.py (reads: ``qorgau_can_read_*`` per row) and 0009_write_policies.py (writes);
tests/access/ checks that the two agree on generated worlds. ``services.access`` loads the facts
and is the only caller in the application.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from audit import Actor

READ = "read"
WRITE = "write"  # chronology entries, transitions, participants, assessments: never by a grant
READ_RESTRICTED = "read_restricted"
INSTRUCT = "instruct"  # oversight's annotations on a case
EXPORT = "export"


@dataclass(frozen=True)
class Participant:
    agency_id: int
    assigned_user_id: int | None
    left: bool
    kind: str


@dataclass(frozen=True)
class CaseFacts:
    case_id: int
    child_id: int
    region_id: int
    lead_agency_id: int
    state: str
    participants: tuple[Participant, ...]


@dataclass(frozen=True)
class ReferralFacts:
    referral_id: int
    region_id: int
    referring_agency_id: int
    created_by: int
    state: str
    recipients: tuple[tuple[int, str], ...]  # (agency_id, status)
    cases: tuple[CaseFacts, ...]
    child_ids: tuple[int, ...]


@dataclass(frozen=True)
class ChildFacts:
    child_id: int
    region_id: int
    created_by_agency_id: int
    cases: tuple[CaseFacts, ...]
    referrals: tuple[ReferralFacts, ...]


@dataclass(frozen=True)
class Grants:
    """The actor's live emergency grants: child ids."""

    child_ids: frozenset[int] = field(default_factory=frozenset)


def acts_for_person(actor: Actor) -> bool:
    """A person, or an agency's system acting for one named person of the agency (a referral filed
    with ``on_behalf_of``: the person's user id and practitioner roles, nothing more)."""
    return actor.kind == "user" or (actor.kind == "agency_system" and actor.user_id is not None)


def is_practitioner(actor: Actor) -> bool:
    return acts_for_person(actor) and (actor.has("caseworker") or actor.has("supervisor"))


def system_scope(actor: Actor, scope: str) -> bool:
    """An agency's system holding a token with ``scope`` (not acting for a person)."""
    return actor.kind == "agency_system" and actor.user_id is None and actor.has(f"scope:{scope}")


def is_oversight_of(actor: Actor, region_id: int) -> bool:
    return actor.kind == "user" and actor.has("oversight") and actor.region_id == region_id


def _has_grant(actor: Actor, grants: Grants, child_id: int) -> bool:
    # An emergency grant is its holder's break-glass reading, never their agency system's.
    return actor.kind == "user" and actor.has("caseworker") and child_id in grants.child_ids


def _participation(actor: Actor, case: CaseFacts) -> Participant | None:
    for p in case.participants:
        if p.agency_id == actor.agency_id and not p.left:
            return p
    return None


def case_in_scope(actor: Actor, case: CaseFacts, grants: Grants) -> bool:
    """Readable through participation (or an emergency grant), the basis of every case right."""
    if not is_practitioner(actor):
        return False
    mine = _participation(actor, case)
    if mine is not None:
        if actor.has("supervisor"):
            return True
        if mine.assigned_user_id is None or mine.assigned_user_id == actor.user_id:
            return True
    return _has_grant(actor, grants, case.child_id)


def can_case(actor: Actor, case: CaseFacts, grants: Grants, action: str) -> bool:
    """May ``actor`` do ``action`` on the case?"""
    if action == READ:
        return is_oversight_of(actor, case.region_id) or case_in_scope(actor, case, grants)
    if action == INSTRUCT:
        return is_oversight_of(actor, case.region_id)
    if action == READ_RESTRICTED:
        if is_oversight_of(actor, case.region_id):
            return True
        mine = _participation(actor, case)
        if mine is None or not case_in_scope(actor, case, Grants()):
            return False  # emergency grants never reach restricted content
        return case.lead_agency_id == actor.agency_id or mine.kind == "police"
    if action == WRITE:
        # An emergency grant is break-glass reading (DESIGN.md §4: "open a child's record"): it
        # lets its holder read the case, never write to it.
        return case_in_scope(actor, case, Grants())
    if action == EXPORT:
        return case_in_scope(actor, case, Grants())  # emergency grants never cover exports
    return False


def can_read_entry_body(actor: Actor, case: CaseFacts, grants: Grants, *, visibility: str,
                        author_agency_id: int) -> bool:
    """May ``actor`` read what a chronology entry says (everyone who can read the case sees it exists)."""
    if is_oversight_of(actor, case.region_id):
        return True
    if visibility == "all_participants":
        return can_case(actor, case, grants, READ)
    if visibility == "own_agency":
        return (is_practitioner(actor) and author_agency_id == actor.agency_id
                and _participation(actor, case) is not None and case_in_scope(actor, case, grants))
    if visibility == "restricted":
        return can_case(actor, case, grants, READ_RESTRICTED)
    return False


def can_referral(actor: Actor, referral: ReferralFacts, grants: Grants, action: str = READ) -> bool:
    """May ``actor`` read the referral (or its status, action='status'; or screen it, action='screen')?"""
    if action in (READ, "status") and is_oversight_of(actor, referral.region_id):
        return True
    if action == "status" and system_scope(actor, "referrals:read"):
        # The referrer's status-only view, for the agency's system: as its staff read it.
        return referral.referring_agency_id == actor.agency_id
    if not is_practitioner(actor):
        return False
    if action == "screen":
        return any(agency == actor.agency_id and status in ("pending", "screen_out_requested")
                   for agency, status in referral.recipients) and referral.state in ("submitted", "screening")
    if action == "status":
        return referral.referring_agency_id == actor.agency_id or can_referral(actor, referral, grants)
    if (referral.referring_agency_id == actor.agency_id
            and referral.state in ("draft", "submitted", "screening")
            and (referral.state != "draft" or referral.created_by == actor.user_id)):
        return True
    if referral.state != "draft" and any(agency == actor.agency_id and status != "redirected"
                                         for agency, status in referral.recipients):
        return True
    if any(case_in_scope(actor, case, grants) for case in referral.cases):
        return True
    return referral.state != "draft" and any(_has_grant(actor, grants, c) for c in referral.child_ids)


def can_read_referrer(actor: Actor, referral: ReferralFacts, referrer_user_id: int) -> bool:
    """The referrer's identity is restricted: the referrer, oversight, the lead agency, police taking part."""
    if actor.user_id == referrer_user_id:
        return True
    if is_oversight_of(actor, referral.region_id):
        return True
    return any(can_case(actor, case, Grants(), READ_RESTRICTED) for case in referral.cases)


def can_child(actor: Actor, child: ChildFacts, grants: Grants, action: str = READ) -> bool:
    """May ``actor`` read the child's record?"""
    if action != READ:
        return False
    if is_oversight_of(actor, child.region_id):
        return True
    # Oversight reads every case and referral in its region, and so the child it is about.
    if any(is_oversight_of(actor, case.region_id) for case in child.cases):
        return True
    if any(is_oversight_of(actor, referral.region_id) for referral in child.referrals):
        return True
    if not is_practitioner(actor):
        return False
    if _has_grant(actor, grants, child.child_id):
        return True
    if child.created_by_agency_id == actor.agency_id:
        return True
    if any(case_in_scope(actor, case, grants) for case in child.cases):
        return True
    return any(can_referral(actor, r, grants) for r in child.referrals)


def grant_is_live(expires_at: datetime, revoked: bool, now: datetime) -> bool:
    return not revoked and expires_at > now
