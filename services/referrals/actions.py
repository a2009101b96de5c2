"""Filing referrals: draft, submit, correct; reading them; and the supervisor's approvals of
screen-outs and downgrades. Each function is one use-case in the caller's transaction, with its
audit events; access was decided by ``services.access`` before it is called."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import audit
from audit import Actor, AuditAction
from services import access, outbox, policy
from services.children.actions import resolve_reference
from services.errors import AccessDenied, Conflict, InvalidTransition, NotFound, ValidationFailed
from services.referrals import attachments, events, queries, screening
from services.referrals.asq import AsqAnswers, InvalidScreen, priority_from_indicators, score_asq
from services.referrals.records import NOT_RECEIVING, ReferralContent, more_pressing
from services.referrals.trail import record_for_children

# Clocks on two machines never agree exactly; an observation "now" must not be refused.
CLOCK_SKEW = timedelta(minutes=5)


def _risk(content: ReferralContent) -> tuple[str, dict]:
    """The computed priority and the stored risk document."""
    asq_result = None
    if content.risk.asq is not None:
        try:
            asq_result = score_asq(AsqAnswers.from_mapping(content.risk.asq))
        except InvalidScreen as exc:
            raise ValidationFailed(exc.message, field=f"risk.{exc.field}") from None
    computed = priority_from_indicators(asq_result, imminent_danger=content.risk.imminent_danger,
                                        significant_harm=content.risk.significant_harm,
                                        harm_suspected=content.risk.harm_suspected)
    requested = content.requested_priority
    if requested is not None and more_pressing(computed, requested):
        raise ValidationFailed(f"The risk indicators call for priority {computed}; a referrer may "
                               "raise the priority but not lower it.", field="priority")
    doc = {"imminent_danger": content.risk.imminent_danger,
           "significant_harm": content.risk.significant_harm,
           "harm_suspected": content.risk.harm_suspected, "asq": content.risk.asq,
           "asq_result": asq_result.result if asq_result else None,
           "computed_priority": computed, "requested_priority": requested}
    return requested or computed, doc


def _check_recipients(conn, actor: Actor, ids: tuple[int, ...]) -> None:
    if len(set(ids)) != len(ids):
        raise ValidationFailed("A receiving agency is listed twice.", field="receiving_agency_ids")
    found = queries.agencies(conn, list(ids))
    for agency_id in ids:
        agency = found.get(agency_id)
        if (agency is None or not agency["is_active"] or agency["region_id"] != actor.region_id
                or agency["kind"] in NOT_RECEIVING):
            raise ValidationFailed(f"Agency {agency_id} is not an active agency of your region that "
                                   "receives referrals.", field="receiving_agency_ids")
        if agency_id == actor.agency_id:
            raise ValidationFailed("A referral goes to other agencies, not to your own.",
                                   field="receiving_agency_ids")


def _check_content(conn, content: ReferralContent, *, actor: Actor,
                   attempted: AuditAction) -> tuple[str, dict, list[int]]:
    """Validate what the referrer says: (priority, risk document, child ids)."""
    if content.observed_at.tzinfo is None:
        raise ValidationFailed("Give the time with its offset, e.g. 2025-03-01T14:30:00+05:00.",
                               field="observed_at")
    if content.observed_at > datetime.now(timezone.utc) + CLOCK_SKEW:
        raise ValidationFailed("The observation time is in the future.", field="observed_at")
    if len(set(content.categories)) != len(content.categories):
        raise ValidationFailed("A category is listed twice.", field="categories")
    _check_recipients(conn, actor, content.receiving_agency_ids)
    grants = access.live_grants(conn, actor)
    child_ids = [resolve_reference(conn, ref.child_id, iin=ref.iin, date_of_birth=ref.date_of_birth,
                                   actor=actor, grants=grants, field=f"children.{i}.child_id",
                                   attempted=attempted)
                 for i, ref in enumerate(content.children)]
    if len(set(child_ids)) != len(child_ids):
        raise ValidationFailed("A child is listed twice.", field="children")
    priority, risk = _risk(content)
    return priority, risk, child_ids


def _district(conn, actor: Actor, child_ids: list[int]) -> int | None:
    """Where the concern is: the first named child's district, else the referring agency's."""
    return queries.concern_district(conn, child_ids, actor.agency_id)


def file_referral(conn, content: ReferralContent, *, actor: Actor, submit: bool) -> int:
    """Record a draft referral (and submit it at once when ``submit``); its id."""
    priority, risk, child_ids = _check_content(conn, content, actor=actor,
                                               attempted=AuditAction.REFERRAL_DRAFTED)
    referral_id = queries.insert_referral(
        conn, agency_id=actor.agency_id, region_id=actor.region_id,
        district_id=_district(conn, actor, child_ids), user_id=actor.user_id, priority=priority,
        categories=list(content.categories), observed_at=content.observed_at,
        observed_place=content.observed_place, observation=content.observation, risk=risk)
    queries.insert_referrer(conn, referral_id, actor.user_id, content.referrer_contact)
    queries.set_children(conn, referral_id, child_ids)
    queries.set_recipients(conn, referral_id, list(content.receiving_agency_ids))
    record_for_children(conn, actor, AuditAction.REFERRAL_DRAFTED, "referral", referral_id, child_ids,
                        priority=priority)
    if submit:
        submit_referral(conn, referral_id, actor=actor)
    return referral_id


PRACTITIONER_ROLES = ("caseworker", "supervisor")


def acting_for(conn, system: Actor, username: str | None) -> Actor:
    """The actor an agency's system files as: the enabled caseworker or supervisor of its own
    agency named ``username``, with that person's id and practitioner roles, recorded in the
    audit trail as the agency system (the token is the event's session reference).

    The referrer stays a person (DESIGN.md §4 keeps the referrer's identity restricted, and only
    a person can be asked about what they saw). A name that is unknown or of another agency gets
    the same answer, so a system cannot probe other agencies' staff; the attempt is audited.
    """
    from services.agencies import queries as agencies

    if not username:
        raise ValidationFailed("An agency's system names the person it files for: on_behalf_of.",
                               field="on_behalf_of")
    person = agencies.get_user_by_username(conn, username.lower())
    if person is None or person.agency_id != system.agency_id:
        access.record_denial(system, AuditAction.REFERRAL_DRAFTED, "referral", None,
                             reason="on_behalf_of_not_staff")
        raise ValidationFailed("No caseworker or supervisor of your agency has this user name.",
                               field="on_behalf_of")
    if person.disabled:
        raise ValidationFailed("This person's account is disabled.", field="on_behalf_of")
    roles = frozenset(r for r in person.roles if r in PRACTITIONER_ROLES)
    if not roles:
        raise ValidationFailed("Only a caseworker or a supervisor files referrals.",
                               field="on_behalf_of")
    return Actor(user_id=person.id, agency_id=person.agency_id, roles=roles,
                 username=person.username, region_id=person.region_id, kind="agency_system")


def file_referral_for(conn, content: ReferralContent, *, actor: Actor, submit: bool) -> int:
    """``file_referral`` by an agency's system in the name of ``actor`` (see ``acting_for``);
    the person is told a referral was filed in their name."""
    referral_id = file_referral(conn, content, actor=actor, submit=submit)
    outbox.enqueue(conn, "referral.filed_in_your_name", referral_id=referral_id,
                   user_ids=[actor.user_id], submitted=submit)
    return referral_id


def require_own_draft(row: dict, actor: Actor) -> None:
    if row["state"] != "draft":
        raise InvalidTransition("A submitted referral is never edited; file a correction "
                                "(POST /api/v1/referrals/{id}/versions).", field="state",
                                state=row["state"], allowed_states=["draft"])
    if row["created_by"] != actor.user_id:  # row-level security shows drafts to their author only
        raise NotFound("No such record, or it is not yours to see.")


def update_draft(conn, row: dict, content: ReferralContent, *, actor: Actor) -> None:
    """Replace what a draft says (its author only)."""
    require_own_draft(row, actor)
    priority, risk, child_ids = _check_content(conn, content, actor=actor,
                                               attempted=AuditAction.REFERRAL_DRAFTED)
    queries.update_draft(conn, row["id"], priority=priority, categories=list(content.categories),
                         observed_at=content.observed_at, observed_place=content.observed_place,
                         observation=content.observation, risk=risk,
                         district_id=_district(conn, actor, child_ids))
    queries.set_children(conn, row["id"], child_ids)
    queries.set_recipients(conn, row["id"], list(content.receiving_agency_ids))
    record_for_children(conn, actor, AuditAction.REFERRAL_DRAFTED, "referral", row["id"], child_ids,
                        priority=priority)


def submit_referral(conn, referral_id: int, *, actor: Actor) -> None:
    """Send a draft to its receiving agencies; the referrer is told it was received."""
    row = queries.get_referral(conn, referral_id, lock=True)
    require_own_draft(row, actor)
    child_ids = queries.child_ids(conn, referral_id)
    queries.mark_submitted(conn, referral_id)
    record_for_children(conn, actor, AuditAction.REFERRAL_SUBMITTED, "referral", referral_id, child_ids,
                        priority=row["priority"],
                        receiving_agency_ids=[r.agency_id for r in queries.recipients_of(conn, referral_id)])
    screening.tell_referrer(conn, row, "received", child_ids, actor=actor)
    events.on_referral_submitted(conn, referral_id, actor=actor)


def correct_referral(conn, row: dict, content: ReferralContent, *, actor: Actor, version: int) -> int:
    """File a correction of a submitted referral as its next version; the new version's id.

    Only the referrer corrects their own referral, while it is still being screened. Receiving
    agencies keep the decisions they made; agencies may be added, never withdrawn. The priority
    never drops by a correction: lowering it is a downgrade, which a receiving agency's
    supervisor approves.
    """
    if row["created_by"] != actor.user_id:
        access.record_denial(actor, AuditAction.REFERRAL_CORRECTED, "referral", row["id"],
                             reason="not_referrer")
        raise AccessDenied("Only the person who filed the referral may correct it.")
    if row["state"] not in ("submitted", "screening"):
        raise InvalidTransition("Only a referral that is being screened can be corrected.",
                                field="state", state=row["state"],
                                allowed_states=["submitted", "screening"])
    screening.require_current(row, version)
    before = [r.agency_id for r in queries.recipients_of(conn, row["id"])]
    if set(before) - set(content.receiving_agency_ids):
        raise ValidationFailed("A correction cannot withdraw the referral from an agency that "
                               "received it.", field="receiving_agency_ids")
    added = tuple(a for a in content.receiving_agency_ids if a not in before)
    priority, risk, child_ids = _check_content(
        conn, _with_recipients(content, added), actor=actor, attempted=AuditAction.REFERRAL_CORRECTED)
    if more_pressing(row["priority"], priority):
        priority = row["priority"]
    new_id = queries.insert_referral(
        conn, agency_id=row["referring_agency_id"], region_id=row["region_id"],
        district_id=_district(conn, actor, child_ids), user_id=actor.user_id, priority=priority,
        categories=list(content.categories), observed_at=content.observed_at,
        observed_place=content.observed_place, observation=content.observation, risk=risk,
        version=row["version"] + 1, previous_version_id=row["id"])
    queries.insert_referrer(conn, new_id, actor.user_id, content.referrer_contact)
    queries.set_children(conn, new_id, child_ids)
    queries.copy_recipients(conn, row["id"], new_id)
    for agency_id in added:
        queries.add_recipient(conn, new_id, agency_id)
    queries.mark_submitted(conn, new_id)
    queries.set_state(conn, new_id, row["state"])
    if queries.mark_superseded(conn, row["id"], new_id) != 1:
        raise Conflict("This version was corrected a moment ago.", field="version")
    record_for_children(conn, actor, AuditAction.REFERRAL_CORRECTED, "referral", new_id, child_ids,
                        previous_version_id=row["id"], version=row["version"] + 1, priority=priority)
    events.on_referral_corrected(conn, row["id"], new_id, actor=actor)
    return new_id


def _with_recipients(content: ReferralContent, ids: tuple[int, ...]) -> ReferralContent:
    """The content with only the newly added agencies checked (the others already received it)."""
    return replace(content, receiving_agency_ids=ids)


def read_referral(conn, row: dict, facts: policy.ReferralFacts, *, actor: Actor,
                  audited: bool = True) -> dict:
    """Everything the actor may see of a referral; the referrer's identity only where allowed."""
    child_ids = list(facts.child_ids)
    referrer = None
    if policy.can_read_referrer(actor, facts, facts.created_by):
        referrer = queries.referrer_of(conn, row["id"])
        if referrer is not None and audited and actor.user_id != referrer["user_id"]:
            record_for_children(conn, actor, AuditAction.REFERRER_VIEWED, "referral", row["id"],
                                child_ids[:1])
    if audited:
        record_for_children(conn, actor, AuditAction.REFERRAL_VIEWED, "referral", row["id"], child_ids)
    chain = queries.version_chain(conn, row["id"])
    return {
        "id": row["id"], "version": row["version"],
        "previous_version_id": row["previous_version_id"],
        "superseded_by_id": row["superseded_by_id"], "state": row["state"],
        "priority": row["priority"], "categories": list(row["categories"]),
        "observed_at": row["observed_at"].isoformat(), "observed_place": row["observed_place"],
        "observation": row["observation"], "risk": _risk_json(row["risk"]),
        "referring_agency_id": row["referring_agency_id"], "region_id": row["region_id"],
        "district_id": row["district_id"], "created_at": row["created_at"].isoformat(),
        "submitted_at": row["submitted_at"].isoformat() if row["submitted_at"] else None,
        "children": [{"id": c["id"], "last_name": c["last_name"], "first_name": c["first_name"],
                      "date_of_birth": c["date_of_birth"].isoformat() if c["date_of_birth"] else None}
                     for c in queries.children_of(conn, row["id"])],
        "receiving_agencies": [{"agency_id": r.agency_id, "status": r.status,
                                "decided_at": r.decided_at.isoformat() if r.decided_at else None,
                                "redirected_to": r.redirected_to, "decision_note": r.decision_note}
                               for r in queries.recipients_of(conn, row["id"])],
        "attachments": attachments.listing(conn, chain),
        "case_ids": [c.case_id for c in facts.cases],
        "referrer": None if referrer is None else {"full_name": referrer["full_name"],
                                                   "contact": referrer["contact"]},
        "referrer_restricted": referrer is None,
    }


def _risk_json(risk: dict) -> dict:
    keys = ("imminent_danger", "significant_harm", "harm_suspected", "asq", "asq_result",
            "computed_priority", "requested_priority")
    return {k: risk.get(k) for k in keys}


def referral_status(conn, facts: policy.ReferralFacts, *, actor: Actor) -> dict:
    """The status a referrer may always see: state and status updates, never case content."""
    updates = queries.referrer_updates(conn, [facts.referral_id])
    record_for_children(conn, actor, AuditAction.REFERRAL_STATUS_VIEWED, "referral",
                        facts.referral_id, [])
    return {"id": facts.referral_id, "state": facts.state,
            "updates": [{"status": u["status"], "at": u["created_at"].isoformat()} for u in updates]}


def list_referrals(conn, *, actor: Actor, box: str, filters: dict, after: int | None,
                   limit: int) -> tuple[list[dict], bool]:
    """One page of the actor's referrals in ``box`` (incoming, sent or all), newest first."""
    boxes = {"incoming": ["incoming"], "sent": ["sent"], "all": ["incoming", "sent", "cases"]}[box]
    if not policy.is_practitioner(actor):
        boxes = []
    if box == "all" and actor.has("oversight"):
        boxes = boxes + ["region"]
    params = {"agency": actor.agency_id, "user": actor.user_id, "region": actor.region_id,
              "supervisor": actor.has("supervisor"), "after": after, "limit": limit + 1, **filters}
    rows = queries.list_referrals(conn, boxes, params)
    items = [_summary(r) for r in rows[:limit]]
    audit.record(conn, actor=actor, action=AuditAction.REFERRAL_LISTED, object_type="agency",
                 object_id=actor.agency_id, details={"box": box, "count": len(items)})
    return items, len(rows) > limit


def _summary(r: dict) -> dict:
    return {"id": r["id"], "version": r["version"], "state": r["state"], "priority": r["priority"],
            "categories": list(r["categories"]), "observed_at": r["observed_at"].isoformat(),
            "referring_agency_id": r["referring_agency_id"], "district_id": r["district_id"],
            "created_at": r["created_at"].isoformat(),
            "submitted_at": r["submitted_at"].isoformat() if r["submitted_at"] else None,
            "child_ids": list(r["child_ids"]), "receiving_agencies": r["recipients"]}


# --- Approvals (called by services.approvals.actions.decide, which checks the supervisor, the
# four eyes and that the approval is pending, then marks it decided and audits the decision) ---

def _approved_referral(conn, approval: dict, kind: str) -> dict:
    if approval["kind"] != kind or approval["referral_id"] is None:
        raise Conflict(f"This is not a {kind} approval.", field="kind")
    row = queries.get_referral(conn, queries.current_version_id(conn, approval["referral_id"]), lock=True)
    if row is None:
        raise NotFound("No such record, or it is not yours to see.")
    return row


def approve_screen_out(conn, approval: dict, *, actor: Actor, approve: bool, note: str | None) -> None:
    """Finalise an agency's screen-out, or send the referral back to it to decide again."""
    row = _approved_referral(conn, approval, "screen_out")
    screening.decide_screen_out(conn, row, approval["agency_id"], actor=actor, approve=approve,
                                approval_id=approval["id"])


def approve_downgrade(conn, approval: dict, *, actor: Actor, approve: bool, note: str | None) -> None:
    """Lower the referral's priority as requested, or leave it as it is."""
    row = _approved_referral(conn, approval, "downgrade")
    if approve:
        screening.set_priority(conn, row, approval["proposed_priority"], actor=actor,
                               approval_id=approval["id"])
