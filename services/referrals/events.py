"""What other parts of Qorgau do when a referral moves: clocks start and stop (services/clocks),
notifications go to the outbox (services/outbox). Each hook runs inside the transaction of the
change that calls it, so its effects commit or roll back with that change (DESIGN.md §6).

Clocks (DESIGN.md §3), one running clock per subject and kind:
- a submitted referral starts its ``screening_decision`` clock (for the first receiving agency) and,
  when immediate, its ``acknowledgement`` clock; a correction moves them to the new version with
  the original start; a priority change restarts the screening clock from the original start;
- the first decision or priority confirmation acknowledges; the screening clock stops when the
  referral is accepted or screened out (a screen-out awaiting approval keeps it running: the
  approval must come inside the original window);
- an opened case starts ``first_contact`` (and ``strategy_meeting`` when immediate or urgent) for
  the lead agency; each assessment starts its ``assessment`` clock.
"""
from __future__ import annotations

from datetime import datetime

from audit import Actor
from services import access, outbox
from services.clocks import actions as clocks
from services.referrals import queries

SCREENING = ("acknowledgement", "screening_decision")


def _start_screening(conn, referral: dict, agency_id: int, started_at: datetime, *, actor: Actor,
                     kinds=SCREENING) -> None:
    facts = access.referral_facts(conn, referral["id"])
    for kind in kinds:
        if kind == "acknowledgement" and referral["priority"] != "immediate":
            continue
        clocks.start_clock(conn, actor=actor, kind=kind, subject_type="referral",
                           subject_id=referral["id"], child_id=(facts.child_ids or (None,))[0],
                           region_id=referral["region_id"], agency_id=agency_id,
                           priority=referral["priority"], started_at=started_at)


def on_referral_submitted(conn, referral_id: int, *, actor: Actor) -> None:
    """Start the screening clocks and notify each receiving agency."""
    referral = queries.get_referral(conn, referral_id)
    agencies = [r.agency_id for r in queries.recipients_of(conn, referral_id)]
    _start_screening(conn, referral, agencies[0], referral["submitted_at"], actor=actor)
    for agency_id in agencies:
        outbox.enqueue(conn, "referral.received", referral_id=referral_id, agency_id=agency_id)


def on_referral_corrected(conn, old_id: int, new_id: int, *, actor: Actor) -> None:
    """The running clocks follow the correction, keeping the first version's start."""
    first = queries.get_referral(conn, queries.version_chain(conn, old_id)[0])
    clocks.stop_clock(conn, actor=actor, subject_type="referral", subject_id=old_id, kind=None,
                      reason="superseded")
    new = queries.get_referral(conn, new_id)
    agencies = [r.agency_id for r in queries.recipients_of(conn, new_id)
                if r.status in ("pending", "screen_out_requested")]
    if agencies and new["state"] in ("submitted", "screening"):
        kinds = SCREENING if new["state"] == "submitted" else ("screening_decision",)
        _start_screening(conn, new, agencies[0], first["submitted_at"], actor=actor, kinds=kinds)


def on_screening_decision(conn, referral_id: int, agency_id: int, decision: str, *, actor: Actor) -> None:
    """A decision acknowledges the referral; an accepted or screened-out one is no longer screened."""
    clocks.stop_clock(conn, actor=actor, subject_type="referral", subject_id=referral_id,
                      kind="acknowledgement")
    if access.referral_facts(conn, referral_id).state in ("accepted", "screened_out", "redirected"):
        clocks.stop_clock(conn, actor=actor, subject_type="referral", subject_id=referral_id,
                          kind="screening_decision")


def on_redirected(conn, referral_id: int, to_agency_id: int, *, actor: Actor) -> None:
    outbox.enqueue(conn, "referral.received", referral_id=referral_id, agency_id=to_agency_id)


def on_acknowledged(conn, referral_id: int, *, actor: Actor) -> None:
    """A receiving agency confirmed or changed the priority: the referral is acknowledged."""
    clocks.stop_clock(conn, actor=actor, subject_type="referral", subject_id=referral_id,
                      kind="acknowledgement")


def on_priority_changed(conn, referral_id: int, priority: str, *, actor: Actor) -> None:
    """The screening clock runs again at the new priority, from the original start."""
    referral = queries.get_referral(conn, referral_id)
    if referral is None or referral["state"] not in ("submitted", "screening"):
        return
    stopped = clocks.stop_clock(conn, actor=actor, subject_type="referral", subject_id=referral_id,
                                kind="screening_decision", reason="superseded")
    if stopped:
        agencies = [r.agency_id for r in queries.recipients_of(conn, referral_id)
                    if r.status in ("pending", "screen_out_requested")]
        _start_screening(conn, referral, agencies[0] if agencies else referral["referring_agency_id"],
                         referral["submitted_at"], actor=actor, kinds=("screening_decision",))


def on_case_opened(conn, case_id: int, referral_id: int, *, actor: Actor) -> None:
    """First contact with the child, and a strategy meeting for immediate or urgent cases."""
    case = access.case_facts(conn, case_id)
    priority = queries.get_referral(conn, referral_id)["priority"]
    kinds = ["first_contact"] + (["strategy_meeting"] if priority in ("immediate", "urgent") else [])
    for kind in kinds:
        clocks.start_clock(conn, actor=actor, kind=kind, subject_type="case", subject_id=case_id,
                           child_id=case.child_id, region_id=case.region_id,
                           agency_id=case.lead_agency_id, priority=priority)


def on_assessment_created(conn, assessment_id: int, *, case_id: int, agency_id: int,
                          assignee_user_id: int | None, priority: str, actor: Actor) -> None:
    """10 working days for each assessment (DESIGN.md §3)."""
    case = access.case_facts(conn, case_id)
    clocks.start_clock(conn, actor=actor, kind="assessment", subject_type="assessment",
                       subject_id=assessment_id, child_id=case.child_id, region_id=case.region_id,
                       agency_id=agency_id, assignee_user_id=assignee_user_id, priority=priority)


def on_referrer_update(conn, update_id: int, *, referral_id: int, agency_id: int, actor: Actor) -> None:
    """Tell the referring agency there is news (status only, never case content)."""
    outbox.enqueue(conn, "referral.status_changed", referral_id=referral_id, agency_id=agency_id,
                   update_id=update_id)


def on_approval_requested(conn, approval_id: int, *, agency_id: int, actor: Actor) -> None:
    """Put the request in front of the agency's supervisors."""
    outbox.enqueue(conn, "approval.requested", approval_id=approval_id, agency_id=agency_id)
