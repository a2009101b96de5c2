"""Screening: a receiving agency accepts, screens out or redirects a referral and confirms or
changes its priority (DESIGN.md §3; the state rules are in ``records``).

Accepting opens the child's case, or links the referral to the child's open case (one open case
per child, enforced by a unique index; an advisory lock per child serialises acceptances). A new
case is led by the accepting agency or the agency it names; both take part, the accepting one with
its assigned worker (named, or the accepting caseworker). On a linked case the lead stays and the
accepting agency joins (or rejoins) it.

Every accepted referral gets a psychological and a legal assessment (DESIGN.md §2), assigned to an
agency taking part: psychological to a psychology centre, else a clinic, else a school; legal to
the police, else social services; the lead agency when none of those takes part. The assessment's
assignee is that agency's assigned worker (none: the agency's queue).

Screen-outs and downgrades wait for a supervisor of the deciding agency
(``actions.approve_screen_out`` / ``approve_downgrade``). Each final decision sends the referrer a
status-only update.
"""
from __future__ import annotations

from dataclasses import dataclass

import psycopg

import audit
from audit import Actor, AuditAction
from services import access, policy
from services.cases.queries import assignable_user
from services.errors import AccessDenied, Conflict, InvalidTransition, ValidationFailed
from services.referrals import case_queries, events, queries
from services.referrals.records import (NOT_RECEIVING, Recipient, more_pressing, referrer_status,
                                        state_after_decision)
from services.referrals.trail import record_for_children

ASSESSMENT_AGENCY_KINDS = {
    "psychological": ("psychology", "health", "school"),
    "legal": ("police", "social_services"),
}
ATTEMPTED = {"accept": AuditAction.REFERRAL_ACCEPTED,
             "screen_out": AuditAction.REFERRAL_SCREEN_OUT_REQUESTED,
             "redirect": AuditAction.REFERRAL_REDIRECTED,
             "priority": AuditAction.PRIORITY_CHANGED}


@dataclass(frozen=True)
class ScreeningDecision:
    decision: str  # accept | screen_out | redirect
    version: int
    reason: str | None = None
    lead_agency_id: int | None = None
    assigned_user_id: int | None = None
    to_agency_id: int | None = None
    priority: str | None = None
    priority_reason: str | None = None


def require_current(row: dict, version: int) -> None:
    """Decisions and corrections are made on the version the person saw, and only the latest."""
    if row["superseded_by_id"] is not None or row["version"] != version:
        raise Conflict("This referral has a newer version; reload it and decide on that one.",
                       field="version", version=row["version"],
                       superseded_by_id=row["superseded_by_id"])


def lock_for_decision(conn, row: dict, facts: policy.ReferralFacts, *, actor: Actor, attempted: str,
                      version: int) -> tuple[dict, policy.ReferralFacts, list[Recipient]]:
    """The referral locked (one decision at a time), its facts and its receiving agencies, if
    the actor's agency may decide on it now.

    :raise AccessDenied: the actor is not of a receiving agency (they may read it: no 404 needed)
    :raise Conflict: a stale version
    :raise InvalidTransition: the agency already decided, or screening is over
    """
    mine = next((r for r in queries.recipients_of(conn, row["id"]) if r.agency_id == actor.agency_id), None)
    locked = None
    if mine is not None and policy.is_practitioner(actor):
        locked = queries.get_referral(conn, row["id"], lock=True)
    if locked is None:
        access.record_denial(actor, ATTEMPTED[attempted], "referral", row["id"],
                             child_id=facts.child_ids[0] if facts.child_ids else None,
                             reason="not_receiving_agency")
        raise AccessDenied("Only a caseworker or supervisor of a receiving agency screens a referral.")
    facts = access.referral_facts(conn, row["id"])
    recipients = queries.recipients_of(conn, row["id"])
    mine = next(r for r in recipients if r.agency_id == actor.agency_id)
    require_current(locked, version)
    if mine.status != "pending" or not policy.can_referral(actor, facts, access.live_grants(conn, actor),
                                                           "screen"):
        raise InvalidTransition(
            f"Your agency's decision is already {mine.status}; the referral is {locked['state']}.",
            field="decision", state=locked["state"], agency_status=mine.status,
            allowed_states=["submitted", "screening"], allowed_statuses=["pending"])
    return locked, facts, recipients


def screen(conn, row: dict, facts: policy.ReferralFacts, d: ScreeningDecision, *, actor: Actor) -> dict:
    """Apply one receiving agency's decision; what happened, without case content."""
    _check_fields(d)
    row, facts, recipients = lock_for_decision(conn, row, facts, actor=actor, attempted=d.decision,
                                               version=d.version)
    child_ids = list(facts.child_ids)
    result = {"referral_id": row["id"], "decision": d.decision}
    if d.priority is not None:
        result["priority_outcome"] = change_priority(conn, row, d.priority, reason=d.priority_reason,
                                                     actor=actor, child_ids=child_ids)
        row = queries.get_referral(conn, row["id"])
    if d.decision == "accept":
        result.update(_accept(conn, row, recipients, d, child_ids, actor=actor))
    elif d.decision == "screen_out":
        result.update(_request_screen_out(conn, row, recipients, d, child_ids, actor=actor))
    else:
        result.update(_redirect(conn, row, recipients, d, child_ids, actor=actor))
    return result


def _check_fields(d: ScreeningDecision) -> None:
    only = {"lead_agency_id": "accept", "assigned_user_id": "accept", "to_agency_id": "redirect"}
    for name, decision in only.items():
        if getattr(d, name) is not None and d.decision != decision:
            raise ValidationFailed(f"{name} goes with the decision {decision}.", field=name)
    if d.decision == "screen_out" and not d.reason:
        raise ValidationFailed("A screen-out needs the reason the supervisor will review.", field="reason")
    if d.decision == "redirect" and d.to_agency_id is None:
        raise ValidationFailed("Name the agency the referral goes to.", field="to_agency_id")
    if d.priority_reason is not None and d.priority is None:
        raise ValidationFailed("priority_reason goes with a priority.", field="priority_reason")


def _agency_for(conn, row: dict, agency_id: int, field: str) -> dict:
    agency = queries.agencies(conn, [agency_id]).get(agency_id)
    if (agency is None or not agency["is_active"] or agency["region_id"] != row["region_id"]
            or agency["kind"] in NOT_RECEIVING):
        raise ValidationFailed("No such active agency in the referral's region that works cases.",
                               field=field)
    return agency


def _accept(conn, row: dict, recipients: list[Recipient], d: ScreeningDecision, child_ids: list[int],
            *, actor: Actor) -> dict:
    lead = d.lead_agency_id or actor.agency_id
    _agency_for(conn, row, lead, "lead_agency_id")
    worker = d.assigned_user_id
    if worker is not None and not assignable_user(conn, worker, actor.agency_id):
        raise ValidationFailed("The assigned worker must be a caseworker or supervisor of your agency.",
                               field="assigned_user_id")
    if worker is None and actor.has("caseworker"):
        worker = actor.user_id
    queries.set_recipient_status(conn, row["id"], actor.agency_id, "accepted", from_status="pending",
                                 decided_by=actor.user_id)
    cases = [_open_or_link(conn, row, child_id, lead=lead, worker=worker, actor=actor)
             for child_id in child_ids]
    record_for_children(conn, actor, AuditAction.REFERRAL_ACCEPTED, "referral", row["id"], child_ids,
                        case_ids=[c["id"] for c in cases], lead_agency_id=lead)
    statuses = [r.status if r.agency_id != actor.agency_id else "accepted" for r in recipients]
    state = conclude(conn, row, statuses, child_ids, actor=actor, notify=True)
    events.on_screening_decision(conn, row["id"], actor.agency_id, "accept", actor=actor)
    return {"state": state, "cases": cases}


def _open_or_link(conn, row: dict, child_id: int, *, lead: int, worker: int | None, actor: Actor) -> dict:
    case_queries.lock_child_cases(conn, child_id)
    case_id = case_queries.open_case_id(conn, child_id)
    linked = case_id is not None
    if not linked:
        try:
            with conn.transaction():
                case_id = case_queries.insert_case(conn, child_id=child_id, region_id=row["region_id"],
                                                   district_id=row["district_id"], lead_agency_id=lead,
                                                   priority=row["priority"])
        except psycopg.errors.UniqueViolation:  # a case opened outside acceptance meanwhile
            raise Conflict("The child's case was opened a moment ago; decide again.",
                           field="decision") from None
        case_queries.link_referral(conn, case_id, row["id"])
        case_queries.add_participant(conn, case_id, actor.agency_id, worker)
        if lead != actor.agency_id:
            case_queries.add_participant(conn, case_id, lead, None)
    else:
        case_queries.link_referral(conn, case_id, row["id"])
        _join(conn, case_id, worker, actor=actor)
    facts = access.case_facts(conn, case_id)
    audit.record(conn, actor=actor, action=AuditAction.CASE_LINKED if linked else AuditAction.CASE_OPENED,
                 object_type="case", object_id=case_id, child_id=child_id,
                 details={"referral_id": row["id"], "lead_agency_id": facts.lead_agency_id})
    assessment_ids = [_assess(conn, facts, row, kind, actor=actor) for kind in ASSESSMENT_AGENCY_KINDS]
    events.on_case_opened(conn, case_id, row["id"], actor=actor)
    return {"id": case_id, "child_id": child_id, "linked": linked,
            "lead_agency_id": facts.lead_agency_id, "assessment_ids": assessment_ids}


def _join(conn, case_id: int, worker: int | None, *, actor: Actor) -> None:
    """The accepting agency takes part in the child's open case (again, if it had left)."""
    facts = access.case_facts(conn, case_id)
    mine = next((p for p in facts.participants if p.agency_id == actor.agency_id), None)
    if mine is None:
        case_queries.add_participant(conn, case_id, actor.agency_id, worker)
    elif mine.left:
        case_queries.rejoin(conn, case_id, worker)


def _assess(conn, facts: policy.CaseFacts, referral: dict, kind: str, *, actor: Actor) -> int:
    active = [p for p in facts.participants if not p.left]
    by_kind = {p.kind: p for p in active}
    lead = next(p for p in active if p.agency_id == facts.lead_agency_id)
    chosen = next((by_kind[k] for k in ASSESSMENT_AGENCY_KINDS[kind] if k in by_kind), lead)
    assessment_id = case_queries.insert_assessment(conn, case_id=facts.case_id, referral_id=referral["id"],
                                                   kind=kind, agency_id=chosen.agency_id,
                                                   assignee_user_id=chosen.assigned_user_id)
    audit.record(conn, actor=actor, action=AuditAction.ASSESSMENT_CREATED, object_type="assessment",
                 object_id=assessment_id, child_id=facts.child_id,
                 details={"case_id": facts.case_id, "kind": kind, "agency_id": chosen.agency_id,
                          "referral_id": referral["id"]})
    events.on_assessment_created(conn, assessment_id, case_id=facts.case_id, agency_id=chosen.agency_id,
                                 assignee_user_id=chosen.assigned_user_id, priority=referral["priority"],
                                 actor=actor)
    return assessment_id


def _request_screen_out(conn, row: dict, recipients: list[Recipient], d: ScreeningDecision,
                        child_ids: list[int], *, actor: Actor) -> dict:
    queries.set_recipient_status(conn, row["id"], actor.agency_id, "screen_out_requested",
                                 from_status="pending", decided_by=actor.user_id)
    approval_id = queries.insert_approval(conn, kind="screen_out", agency_id=actor.agency_id,
                                          referral_id=row["id"], requested_by=actor.user_id,
                                          reason=d.reason)
    record_for_children(conn, actor, AuditAction.REFERRAL_SCREEN_OUT_REQUESTED, "referral", row["id"],
                        child_ids, approval_id=approval_id)
    statuses = [r.status if r.agency_id != actor.agency_id else "screen_out_requested" for r in recipients]
    state = conclude(conn, row, statuses, child_ids, actor=actor, notify=False)
    events.on_approval_requested(conn, approval_id, agency_id=actor.agency_id, actor=actor)
    return {"state": state, "approval_id": approval_id}


def _redirect(conn, row: dict, recipients: list[Recipient], d: ScreeningDecision, child_ids: list[int],
              *, actor: Actor) -> dict:
    to = d.to_agency_id
    _agency_for(conn, row, to, "to_agency_id")
    if to == row["referring_agency_id"] or any(r.agency_id == to for r in recipients):
        raise Conflict("That agency already has this referral.", field="to_agency_id")
    queries.add_recipient(conn, row["id"], to)
    statuses = [r.status if r.agency_id != actor.agency_id else "redirected" for r in recipients] + ["pending"]
    state = conclude(conn, row, statuses, child_ids, actor=actor, notify=True)
    record_for_children(conn, actor, AuditAction.REFERRAL_REDIRECTED, "referral", row["id"], child_ids,
                        to_agency_id=to)
    events.on_screening_decision(conn, row["id"], actor.agency_id, "redirect", actor=actor)
    events.on_redirected(conn, row["id"], to, actor=actor)
    # Last: once redirected, this agency no longer reads the referral (row-level security).
    queries.set_recipient_status(conn, row["id"], actor.agency_id, "redirected", from_status="pending",
                                 decided_by=actor.user_id, redirected_to=to, note=d.reason)
    return {"state": state, "to_agency_id": to}


def conclude(conn, row: dict, statuses: list[str], child_ids: list[int], *, actor: Actor,
             notify: bool) -> str:
    """Move the referral to the state its agencies' statuses give; tell the referrer if ``notify``."""
    state = state_after_decision(statuses)
    if state != row["state"]:
        queries.set_state(conn, row["id"], state)
    if notify:
        tell_referrer(conn, row, referrer_status(state), child_ids, actor=actor)
    return state


def tell_referrer(conn, row: dict, status: str, child_ids: list[int], *, actor: Actor) -> None:
    """A status-only update for the referring agency (received / accepted / no further action)."""
    update_id = queries.insert_referrer_update(conn, row["id"], row["referring_agency_id"], status)
    record_for_children(conn, actor, AuditAction.REFERRER_UPDATE_SENT, "referral", row["id"],
                        child_ids[:1], status=status, update_id=update_id)
    events.on_referrer_update(conn, update_id, referral_id=row["id"],
                              agency_id=row["referring_agency_id"], actor=actor)


# --- Priority ----------------------------------------------------------------------------------

def change_priority(conn, row: dict, priority: str, *, reason: str | None, actor: Actor,
                    child_ids: list[int], reason_field: str = "priority_reason") -> str:
    """Confirm, raise, or ask to lower the priority: ``confirmed``, ``raised``, ``downgrade_requested``."""
    if priority == row["priority"]:
        record_for_children(conn, actor, AuditAction.PRIORITY_CONFIRMED, "referral", row["id"],
                            child_ids, priority=priority)
        outcome = "confirmed"
    elif more_pressing(priority, row["priority"]):
        set_priority(conn, row, priority, actor=actor, child_ids=child_ids)
        outcome = "raised"
    else:
        outcome = _request_downgrade(conn, row, priority, reason=reason, actor=actor, child_ids=child_ids,
                                     reason_field=reason_field)
    if row["state"] == "submitted":  # confirming the priority acknowledges the referral
        queries.set_state(conn, row["id"], "screening")
    events.on_acknowledged(conn, row["id"], actor=actor)
    return outcome


def _request_downgrade(conn, row: dict, priority: str, *, reason: str | None, actor: Actor,
                       child_ids: list[int], reason_field: str) -> str:
    # PRACTICE.md §3 (Missouri manual): lowering a priority needs a supervisor's approval.
    if not reason:
        raise ValidationFailed("Lowering the priority needs a reason for the supervisor.",
                               field=reason_field)
    if queries.pending_approval(conn, queries.version_chain(conn, row["id"]), actor.agency_id, "downgrade"):
        raise Conflict("A downgrade of this referral already awaits approval.", field="priority")
    approval_id = queries.insert_approval(conn, kind="downgrade", agency_id=actor.agency_id,
                                          referral_id=row["id"], requested_by=actor.user_id,
                                          reason=reason, proposed_priority=priority)
    record_for_children(conn, actor, AuditAction.PRIORITY_DOWNGRADE_REQUESTED, "referral", row["id"],
                        child_ids, approval_id=approval_id, to_priority=priority)
    events.on_approval_requested(conn, approval_id, agency_id=actor.agency_id, actor=actor)
    return "downgrade_requested"


def set_priority(conn, row: dict, priority: str, *, actor: Actor, child_ids: list[int] | None = None,
                 approval_id: int | None = None) -> None:
    queries.set_priority(conn, row["id"], priority)
    record_for_children(conn, actor, AuditAction.PRIORITY_CHANGED, "referral", row["id"],
                        child_ids if child_ids is not None else queries.child_ids(conn, row["id"]),
                        from_priority=row["priority"], to_priority=priority, approval_id=approval_id)
    events.on_priority_changed(conn, row["id"], priority, actor=actor)


def prioritise(conn, row: dict, facts: policy.ReferralFacts, priority: str, *, version: int,
               reason: str | None, actor: Actor) -> dict:
    """A receiving agency confirms or changes the priority without deciding yet."""
    row, facts, _ = lock_for_decision(conn, row, facts, actor=actor, attempted="priority", version=version)
    outcome = change_priority(conn, row, priority, reason=reason, actor=actor,
                              child_ids=list(facts.child_ids), reason_field="reason")
    current = queries.get_referral(conn, row["id"])
    return {"referral_id": row["id"], "priority_outcome": outcome, "priority": current["priority"],
            "state": current["state"]}


# --- The supervisor's decision on a screen-out ------------------------------------------------

def decide_screen_out(conn, row: dict, agency_id: int, *, actor: Actor, approve: bool,
                      approval_id: int) -> None:
    """Approved: the agency screened it out. Rejected: the agency decides again."""
    if approve:
        changed = queries.set_recipient_status(conn, row["id"], agency_id, "screened_out",
                                               from_status="screen_out_requested",
                                               decided_by=actor.user_id)
    else:
        changed = queries.reopen_recipient(conn, row["id"], agency_id)
    if changed != 1:
        raise Conflict("The referral no longer waits for this decision.", field="decision")
    if not approve:
        return
    child_ids = queries.child_ids(conn, row["id"])
    record_for_children(conn, actor, AuditAction.REFERRAL_SCREENED_OUT, "referral", row["id"], child_ids,
                        approval_id=approval_id, agency_id=agency_id)
    statuses = [r.status for r in queries.recipients_of(conn, row["id"])]
    conclude(conn, row, statuses, child_ids, actor=actor, notify=True)
    events.on_screening_decision(conn, row["id"], agency_id, "screen_out", actor=actor)
