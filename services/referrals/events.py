"""What other parts of Qorgau do when a referral moves: clocks start and stop (services/clocks),
notifications go to the outbox (services/outbox). Each hook runs inside the transaction of the
change that calls it, so its effects commit or roll back with that change (DESIGN.md §6).

Clocks (DESIGN.md §3; services/clocks/README.md, "Which action starts and stops each clock"):
- a submitted referral starts a ``screening_decision`` clock (and, when immediate, an
  ``acknowledgement`` clock) for *each* receiving agency, owned by that agency; a redirect starts
  them for the agency it names; a correction moves the running ones to the new version with their
  original start; a priority change restarts every agency's screening clock from the original start;
- an agency's first decision or priority confirmation acknowledges for that agency; its screening
  clock stops when it accepts, redirects or has its screen-out approved (a screen-out awaiting
  approval keeps it running: the approval must come inside the original window); once the
  referral leaves screening (accepted, screened out, redirected) every agency's clocks stop;
- an opened or linked case starts ``first_contact`` (and ``strategy_meeting`` when immediate or
  urgent) for the lead agency, and ``whole_assessment``, due 45 working days from the referral's
  submission; each assessment starts its ``assessment`` clock. Stopping those is the case's
  business (services/cases/actions.py).
"""
from __future__ import annotations

from datetime import datetime

from audit import Actor
from services import access, clock, outbox
from services.clocks import actions as clocks
from services.referrals import queries

SCREENING = ("acknowledgement", "screening_decision")
DECIDING = ("pending", "screen_out_requested")
OVER = ("accepted", "screened_out", "redirected")


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


def _deciding_agencies(conn, referral_id: int) -> list[int]:
    return [r.agency_id for r in queries.recipients_of(conn, referral_id) if r.status in DECIDING]


def on_referral_submitted(conn, referral_id: int, *, actor: Actor) -> None:
    """Start each receiving agency's screening clocks and notify it."""
    referral = queries.get_referral(conn, referral_id)
    for agency_id in [r.agency_id for r in queries.recipients_of(conn, referral_id)]:
        _start_screening(conn, referral, agency_id, referral["submitted_at"], actor=actor)
        outbox.enqueue(conn, "referral.received", referral_id=referral_id, agency_id=agency_id)


def on_referral_corrected(conn, old_id: int, new_id: int, *, actor: Actor) -> None:
    """The running clocks follow the correction, keeping their start, for agencies still deciding."""
    stopped = clocks.stop_clocks(conn, actor=actor, subject_type="referral", subject_id=old_id,
                                 kinds=None, reason="superseded")
    new = queries.get_referral(conn, new_id)
    if new["state"] not in ("submitted", "screening"):
        return
    deciding = _deciding_agencies(conn, new_id)
    for row in stopped:
        if row["agency_id"] in deciding:
            _start_screening(conn, new, row["agency_id"], row["started_at"], actor=actor,
                             kinds=(row["kind"],))


def on_screening_decision(conn, referral_id: int, agency_id: int, decision: str, *, actor: Actor) -> None:
    """The deciding agency has acknowledged and (unless a screen-out still waits for approval)
    finished screening; once the referral leaves screening nobody screens it any more."""
    clocks.stop_clock(conn, actor=actor, subject_type="referral", subject_id=referral_id,
                      kind="acknowledgement", agency_id=agency_id)
    clocks.stop_clock(conn, actor=actor, subject_type="referral", subject_id=referral_id,
                      kind="screening_decision", agency_id=agency_id)
    if access.referral_facts(conn, referral_id).state in OVER:
        clocks.stop_clocks(conn, actor=actor, subject_type="referral", subject_id=referral_id,
                           kinds=SCREENING, reason="cancelled")


def on_redirected(conn, referral_id: int, to_agency_id: int, *, actor: Actor) -> None:
    """The agency the referral is redirected to screens it now, from the redirect."""
    referral = queries.get_referral(conn, referral_id)
    if referral["state"] in ("submitted", "screening"):
        _start_screening(conn, referral, to_agency_id, clock.now(), actor=actor)
    outbox.enqueue(conn, "referral.received", referral_id=referral_id, agency_id=to_agency_id)


def on_acknowledged(conn, referral_id: int, *, actor: Actor) -> None:
    """A receiving agency confirmed or changed the priority: it has acknowledged the referral."""
    clocks.stop_clock(conn, actor=actor, subject_type="referral", subject_id=referral_id,
                      kind="acknowledgement", agency_id=actor.agency_id)


def on_priority_changed(conn, referral_id: int, priority: str, *, actor: Actor) -> None:
    """Every agency's screening clock runs again at the new priority, from its original start."""
    referral = queries.get_referral(conn, referral_id)
    if referral is None or referral["state"] not in ("submitted", "screening"):
        return
    stopped = clocks.stop_clocks(conn, actor=actor, subject_type="referral", subject_id=referral_id,
                                 kinds=("screening_decision",), reason="superseded")
    for row in stopped:
        _start_screening(conn, referral, row["agency_id"], row["started_at"], actor=actor,
                         kinds=("screening_decision",))


def on_case_opened(conn, case_id: int, referral_id: int, *, actor: Actor) -> None:
    """First contact with the child, a strategy meeting for immediate or urgent cases, and the
    whole assessment within 45 working days of the referral (DESIGN.md §3), for the lead agency.

    On a linked case each runs once: a running clock of the kind is kept (with its earlier due
    time); one already stopped starts again for the new referral.
    """
    case = access.case_facts(conn, case_id)
    referral = queries.get_referral(conn, referral_id)
    priority = referral["priority"]
    kinds = ["first_contact"] + (["strategy_meeting"] if priority in ("immediate", "urgent") else [])
    for kind in kinds:
        clocks.start_clock(conn, actor=actor, kind=kind, subject_type="case", subject_id=case_id,
                           child_id=case.child_id, region_id=case.region_id,
                           agency_id=case.lead_agency_id, priority=priority)
    # "Within 45 working days of the referral" (PRACTICE.md §1 row 4): from the first version's
    # submission, so neither a correction nor a slow screening buys time.
    first = queries.get_referral(conn, queries.version_chain(conn, referral_id)[0])
    clocks.start_clock(conn, actor=actor, kind="whole_assessment", subject_type="case",
                       subject_id=case_id, child_id=case.child_id, region_id=case.region_id,
                       agency_id=case.lead_agency_id, priority=priority,
                       started_at=first["submitted_at"] or referral["submitted_at"])


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
