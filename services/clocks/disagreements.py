"""Professional disagreements: raised by a participant against another agency's decision on a
case, and taken up the line stage by stage (PRACTICE.md §3; issue 5 item 4).

Stage 1 is between the practitioners (2 working days), stage 2 between their supervisors (5),
stage 3 goes to oversight of the region. Each stage runs a clock owned by the agency whose
decision is disputed, so an unanswered stage also walks the ordinary ladder. Case participation
is Core's to decide (``services.access.is_case_participant``).
"""
from __future__ import annotations

from datetime import datetime

import audit
from audit import Actor, AuditAction
from services import access as core_access
from services import clock as clock_source
from services import outbox
from services.clocks import actions, queries
from services.clocks import disagreement_queries as dq
from services.clocks.records import Disagreement
from services.errors import AccessDenied, InvalidTransition, NotFound, ValidationFailed

HIDDEN = "No such disagreement, or it is not yours to see."
NOT_PARTICIPANT = "You can raise a disagreement only on a case your agency takes part in."
STAGE_KINDS = {1: "disagreement_stage_1", 2: "disagreement_stage_2", 3: "disagreement_stage_3"}
# Stage clocks have no priority of their own; the policy's rules for them are priority 'any'.
STAGE_PRIORITY = "standard"


def _deny(actor: Actor, attempted: AuditAction, object_type: str, object_id, reason: str,
          message: str, child_id=None):
    core_access.record_denial(actor, attempted, object_type, object_id, child_id=child_id,
                              reason=reason)
    raise AccessDenied(message, reason=reason)


def _stage_contacts(conn, d: Disagreement, stage: int, participants) -> list[int]:
    """Who hears of a stage: the other side's worker, both sides' supervisors, or oversight."""
    if stage == 1:
        assigned = [p.assigned_user_id for p in participants
                    if p.agency_id == d.against_agency_id and p.assigned_user_id and not p.left]
        return assigned or queries.agency_users_with_role(conn, d.against_agency_id, "supervisor")
    if stage == 2:
        return sorted(set(queries.agency_users_with_role(conn, d.against_agency_id, "supervisor")
                          + queries.agency_users_with_role(conn, d.raised_by_agency_id,
                                                           "supervisor")))
    return queries.region_users_with_role(conn, d.region_id, "oversight")


def _start_stage(conn, actor: Actor, d: Disagreement, stage: int, at: datetime,
                 reason: str | None) -> int:
    clock_id = actions.start_clock(conn, actor=actor, kind=STAGE_KINDS[stage],
                                   subject_type="disagreement", subject_id=d.id,
                                   child_id=d.child_id, region_id=d.region_id,
                                   agency_id=d.against_agency_id, priority=STAGE_PRIORITY,
                                   started_at=at)
    # The stage's due time is copied beside the disagreement: the raising agency cannot see the
    # clock itself, which belongs to the other agency.
    _, _, sched = actions.plan_clock(conn, region_id=d.region_id, kind=STAGE_KINDS[stage],
                                     priority=STAGE_PRIORITY, started_at=at)
    dq.add_stage(conn, d.id, stage, at=at, by=actor.user_id, reason=reason, clock_id=clock_id,
                 due_at=sched.due_at)
    return clock_id


def raise_disagreement(conn, *, actor: Actor, case_id: int, against_agency_id: int,
                       decision_type: str, decision_id: int | None, reason: str,
                       now: datetime | None = None) -> Disagreement:
    """Open a disagreement at stage 1 and start its clock.

    :raise AccessDenied: the actor's agency does not take part in the case (nor when it is absent)
    :raise ValidationFailed: no reason, or the other agency is not a participant
    """
    now = now or clock_source.now()
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say what the disagreement is about.", field="reason")
    facts = core_access.case_facts(conn, case_id)
    if facts is None or not (actor.has("caseworker") or actor.has("supervisor")) \
            or not core_access.is_case_participant(conn, actor, case_id):
        _deny(actor, AuditAction.DISAGREEMENT_RAISED, "case", case_id, "not_case_participant",
              NOT_PARTICIPANT, child_id=facts.child_id if facts else None)
    others = {p.agency_id for p in facts.participants if not p.left}
    if against_agency_id == actor.agency_id or against_agency_id not in others:
        raise ValidationFailed("The disagreement must be with another agency taking part in the "
                               "case.", field="against_agency_id")
    new_id = dq.insert(conn, case_id=case_id, child_id=facts.child_id, region_id=facts.region_id,
                       decision_type=decision_type, decision_id=decision_id,
                       raised_by=actor.user_id, raised_by_agency_id=actor.agency_id,
                       against_agency_id=against_agency_id, reason=reason, at=now)
    d = dq.get(conn, new_id)
    clock_id = _start_stage(conn, actor, d, 1, now, None)
    users = _stage_contacts(conn, d, 1, facts.participants)
    outbox_id = outbox.enqueue(conn, "disagreement.raised", disagreement_id=d.id, case_id=case_id,
                               stage=1, user_ids=users)
    audit.record(conn, actor=actor, action=AuditAction.DISAGREEMENT_RAISED,
                 object_type="disagreement", object_id=d.id, child_id=d.child_id,
                 details={"case_id": case_id, "against_agency_id": against_agency_id,
                          "decision_type": decision_type, "decision_id": decision_id,
                          "clock_id": clock_id, "outbox_id": outbox_id})
    return dq.get(conn, d.id)


def access_disagreement(conn, actor: Actor, disagreement_id: int, attempted: AuditAction, *,
                        lock: bool = False) -> Disagreement:
    """The disagreement if ``actor`` may see it; the same 404 when it is absent or hidden."""
    d = dq.get(conn, disagreement_id, lock=lock)
    if d is None or not _may_see(actor, d):
        core_access.record_denial(actor, attempted, "disagreement", disagreement_id)
        raise NotFound(HIDDEN)
    return d


def _may_see(actor: Actor, d: Disagreement) -> bool:
    """Mirrors the ``disagreements_read`` policy of the 0003 migration."""
    if actor.has("system"):
        return True
    if d.raised_by == actor.user_id:
        return True
    if actor.agency_id in (d.raised_by_agency_id, d.against_agency_id):
        return True
    return actor.has("oversight") and d.region_id == actor.region_id


def _may_act_at(conn, actor: Actor, d: Disagreement, stage: int) -> str | None:
    """None if ``actor`` may advance or resolve at ``stage``, else the reason code."""
    if stage == 3:
        return None if actor.has("oversight") and d.region_id == actor.region_id else "not_oversight"
    if actor.agency_id not in (d.raised_by_agency_id, d.against_agency_id):
        return "not_a_party"
    if not core_access.is_case_participant(conn, actor, d.case_id):
        return "not_case_participant"
    if stage == 2 and not actor.has("supervisor"):
        return "not_supervisor"
    if stage == 1 and not (actor.has("caseworker") or actor.has("supervisor")):
        return "not_practitioner"
    return None


def advance(conn, *, actor: Actor, disagreement_id: int, reason: str,
            now: datetime | None = None) -> Disagreement:
    """Take the disagreement to the next stage: either party, when this stage has not settled it.

    :raise InvalidTransition: resolved, or already with oversight
    """
    now = now or clock_source.now()
    d = access_disagreement(conn, actor, disagreement_id, AuditAction.DISAGREEMENT_ADVANCED,
                            lock=True)
    if d.state == "resolved":
        raise InvalidTransition("The disagreement is resolved.")
    if d.stage >= 3:
        raise InvalidTransition("The disagreement is already with oversight, its last stage.")
    why_not = _may_act_at(conn, actor, d, 1 if d.stage == 1 else 2)
    if why_not:
        _deny(actor, AuditAction.DISAGREEMENT_ADVANCED, "disagreement", d.id, why_not,
              "Only a party to the disagreement at its current stage may take it further.",
              child_id=d.child_id)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why this stage did not settle it.", field="reason")
    stage = d.stage + 1
    actions.stop_clock(conn, actor=actor, subject_type="disagreement", subject_id=d.id,
                       kind=STAGE_KINDS[d.stage], reason="superseded", at=now)
    dq.set_stage(conn, d.id, stage, now)
    clock_id = _start_stage(conn, actor, d, stage, now, reason)
    facts = core_access.case_facts(conn, d.case_id)
    users = _stage_contacts(conn, d, stage, facts.participants if facts else ())
    outbox_id = outbox.enqueue(conn, "disagreement.advanced", disagreement_id=d.id,
                               case_id=d.case_id, stage=stage, user_ids=users)
    audit.record(conn, actor=actor, action=AuditAction.DISAGREEMENT_ADVANCED,
                 object_type="disagreement", object_id=d.id, child_id=d.child_id,
                 details={"case_id": d.case_id, "stage": stage, "clock_id": clock_id,
                          "outbox_id": outbox_id})
    return dq.get(conn, d.id)


def resolve(conn, *, actor: Actor, disagreement_id: int, note: str,
            now: datetime | None = None) -> Disagreement:
    """Close the disagreement with a note: the parties at stages 1-2, oversight at stage 3.

    :raise InvalidTransition: already resolved
    """
    now = now or clock_source.now()
    note = (note or "").strip()
    if not note:
        raise ValidationFailed("A resolution needs a note.", field="note")
    d = access_disagreement(conn, actor, disagreement_id, AuditAction.DISAGREEMENT_RESOLVED,
                            lock=True)
    if d.state == "resolved":
        raise InvalidTransition(f"The disagreement was already resolved at {d.resolved_at.isoformat()}.")
    why_not = _may_act_at(conn, actor, d, d.stage)
    if why_not:
        _deny(actor, AuditAction.DISAGREEMENT_RESOLVED, "disagreement", d.id, why_not,
              "Only a party to the disagreement at its current stage may resolve it.",
              child_id=d.child_id)
    actions.stop_clock(conn, actor=actor, subject_type="disagreement", subject_id=d.id,
                       kind=STAGE_KINDS[d.stage], reason="completed", at=now)
    dq.resolve(conn, d.id, by=actor.user_id, at=now, note=note)
    users = sorted({d.raised_by} | set(queries.agency_users_with_role(conn, d.against_agency_id,
                                                                      "supervisor")))
    outbox_id = outbox.enqueue(conn, "disagreement.resolved", disagreement_id=d.id,
                               case_id=d.case_id, stage=d.stage, user_ids=users)
    audit.record(conn, actor=actor, action=AuditAction.DISAGREEMENT_RESOLVED,
                 object_type="disagreement", object_id=d.id, child_id=d.child_id,
                 details={"case_id": d.case_id, "stage": d.stage, "outbox_id": outbox_id})
    return dq.get(conn, d.id)


def listing(conn, *, actor: Actor, case_id: int | None = None, limit: int = 200) -> list[Disagreement]:
    """The disagreements the actor may see (optionally of one case), open and latest stage first."""
    items = [d for d in dq.listing(conn, case_id, limit) if _may_see(actor, d)]
    audit.record(conn, actor=actor, action=AuditAction.DISAGREEMENTS_LISTED,
                 object_type="case" if case_id else "disagreement", object_id=case_id,
                 details={"disagreement_count": len(items)})
    return items


def view(conn, *, actor: Actor, disagreement_id: int) -> tuple[Disagreement, list[dict]]:
    """One disagreement and its stages."""
    d = access_disagreement(conn, actor, disagreement_id, AuditAction.DISAGREEMENT_VIEWED)
    audit.record(conn, actor=actor, action=AuditAction.DISAGREEMENT_VIEWED,
                 object_type="disagreement", object_id=d.id, child_id=d.child_id)
    return d, dq.stages(conn, d.id)
