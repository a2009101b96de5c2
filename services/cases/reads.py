"""Reading cases and chronologies: each read is audited in the transaction that makes it.

The access decision has been made by ``services.access`` before any of these runs; what they add
is the per-entry decision (is the body readable?) and the audit event (DESIGN.md §5: every read of
child data is recorded).
"""
from __future__ import annotations

from dataclasses import fields
from datetime import datetime

import audit
from audit import Actor, AuditAction
from services import access, policy
from services.cases import queries
from services.cases.records import Case, Entry, allowed_transitions, can_request_closure


_CASE_FIELDS = tuple(f.name for f in fields(Case))


def case_of(row: dict) -> Case:
    """The ``Case`` in a row of ``cases`` read whole (``SELECT *``, as ``access.access_case`` does)."""
    return Case(**{name: row[name] for name in _CASE_FIELDS})


def case_document(conn, case: Case, facts: policy.CaseFacts, *, actor: Actor) -> dict:
    """The case with its agencies, referrals and what may happen next."""
    people, referral_ids = queries.participants_and_referrals(conn, case.id)
    mine = next((p for p in facts.participants if p.agency_id == actor.agency_id and not p.left), None)
    return {
        "id": case.id, "child_id": case.child_id, "region_id": case.region_id,
        "district_id": case.district_id, "lead_agency_id": case.lead_agency_id, "state": case.state,
        "priority": case.priority, "opened_at": case.opened_at.isoformat(),
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
        "version": case.version, "reopen_count": case.reopen_count,
        "closure_requested": case.closure_pending,
        "closure_requested_at": case.closure_requested_at.isoformat() if case.closure_requested_at else None,
        "allowed_transitions": list(allowed_transitions(case.state)),
        "closure_request_allowed": can_request_closure(case.state) and not case.closure_pending,
        "participants": [{"agency_id": p.agency_id, "agency_kind": p.agency_kind,
                          "agency_name": p.agency_name, "assigned_user_id": p.assigned_user_id,
                          "joined_at": p.joined_at.isoformat(),
                          "left_at": p.left_at.isoformat() if p.left_at else None}
                         for p in people],
        "referral_ids": referral_ids,
        "access": "participant" if mine is not None else (
            "oversight" if policy.is_oversight_of(actor, case.region_id) else "emergency_grant"),
    }


def view_case(conn, case: Case, facts: policy.CaseFacts, *, actor: Actor, section: str = "case") -> dict:
    document = case_document(conn, case, facts, actor=actor)
    audit.record(conn, actor=actor, action=AuditAction.CASE_VIEWED, object_type="case",
                 object_id=str(case.id), child_id=case.child_id, purpose=_purpose(document["access"]),
                 details={"section": section})
    return document


def _purpose(how: str) -> str | None:
    return {"emergency_grant": "emergency_access", "oversight": "oversight"}.get(how)


def assessment_documents(conn, facts: policy.CaseFacts, *, actor: Actor) -> list[dict]:
    """The case's assessments; outcome codes are shared, the written summary is an entry."""
    items = queries.assessments(conn, facts.case_id)
    audit.record(conn, actor=actor, action=AuditAction.CASE_VIEWED, object_type="case",
                 object_id=str(facts.case_id), child_id=facts.child_id,
                 details={"section": "assessments", "count": len(items)})
    return [assessment_json(a) for a in items]


def assessment_json(a) -> dict:
    return {"id": a.id, "case_id": a.case_id, "kind": a.kind, "agency_id": a.agency_id,
            "assignee_user_id": a.assignee_user_id, "state": a.state, "outcome": a.outcome,
            "created_at": a.created_at.isoformat(),
            "completed_at": a.completed_at.isoformat() if a.completed_at else None,
            "result_entry_id": a.result_entry_id}


def entry_json(entry: Entry, readable: bool) -> dict:
    """An entry as shown to someone; the body only when both the policy and PostgreSQL allow it."""
    shown = readable and entry.body is not None
    return {"id": entry.id, "case_id": entry.case_id, "child_id": entry.child_id, "kind": entry.kind,
            "visibility": entry.visibility, "author_user_id": entry.author_user_id,
            "agency_id": entry.agency_id, "occurred_at": entry.occurred_at.isoformat(),
            "created_at": entry.created_at.isoformat(), "corrects_id": entry.corrects_id,
            "corrected_by": entry.corrected_by, "addressed_agency_id": entry.addressed_agency_id,
            "due_at": entry.due_at.isoformat() if entry.due_at else None,
            "body": entry.body if shown else None, "restricted": not shown}


def readable_entry(conn, facts: policy.CaseFacts, entry: Entry, *, actor: Actor) -> dict:
    grants = access.live_grants(conn, actor)
    return entry_json(entry, policy.can_read_entry_body(actor, facts, grants, visibility=entry.visibility,
                                                        author_agency_id=entry.agency_id))


def _page(conn, actor: Actor, cases: dict[int, policy.CaseFacts], *, child_id: int | None,
          agency_id: int | None, kind: str | None, after: tuple[datetime, int] | None,
          limit: int) -> tuple[list[dict], int]:
    grants = access.live_grants(conn, actor)
    rows = queries.entries(conn, case_ids=sorted(cases), child_id=child_id, agency_id=agency_id,
                           kind=kind, after=after, limit=limit + 1)
    items = [entry_json(e, policy.can_read_entry_body(actor, cases[e.case_id], grants,
                                                      visibility=e.visibility,
                                                      author_agency_id=e.agency_id))
             for e in rows[:limit]]
    return items, len(rows)


def case_chronology(conn, facts: policy.CaseFacts, *, actor: Actor, agency_id: int | None,
                    kind: str | None, after: tuple[datetime, int] | None, limit: int):
    """One page of the case's chronology; every entry's existence, bodies only where readable."""
    items, fetched = _page(conn, actor, {facts.case_id: facts}, child_id=None, agency_id=agency_id,
                           kind=kind, after=after, limit=limit)
    audit.record(conn, actor=actor, action=AuditAction.CHRONOLOGY_VIEWED, object_type="case",
                 object_id=str(facts.case_id), child_id=facts.child_id,
                 purpose=_purpose_for(actor, facts),
                 details={"count": len(items), "hidden_count": sum(1 for i in items if i["restricted"])})
    return items, fetched > limit


def child_chronology(conn, child: policy.ChildFacts, *, actor: Actor, agency_id: int | None,
                     kind: str | None, after: tuple[datetime, int] | None, limit: int):
    """The child's multi-agency timeline across every case of theirs the actor may read."""
    grants = access.live_grants(conn, actor)
    cases = {c.case_id: c for c in child.cases if policy.can_case(actor, c, grants, policy.READ)}
    items, fetched = ([], 0) if not cases else _page(conn, actor, cases, child_id=child.child_id,
                                                     agency_id=agency_id, kind=kind, after=after,
                                                     limit=limit)
    audit.record(conn, actor=actor, action=AuditAction.CHRONOLOGY_VIEWED, object_type="child",
                 object_id=str(child.child_id), child_id=child.child_id,
                 purpose="emergency_access" if child.child_id in grants.child_ids else None,
                 details={"count": len(items), "case_ids": sorted(cases)[:32],
                          "hidden_count": sum(1 for i in items if i["restricted"])})
    return items, fetched > limit


def _purpose_for(actor: Actor, facts: policy.CaseFacts) -> str | None:
    if any(p.agency_id == actor.agency_id and not p.left for p in facts.participants):
        return None
    return "oversight" if policy.is_oversight_of(actor, facts.region_id) else "emergency_access"


def list_cases(conn, *, actor: Actor, filters: dict, before_id: int | None, limit: int):
    """One page of the cases the actor may read (the policy's rules, as SQL), newest first."""
    oversight = actor.has("oversight") and not policy.is_practitioner(actor)
    rows = queries.list_cases(conn, scope="oversight" if oversight else "practitioner",
                              user_id=actor.user_id, agency_id=actor.agency_id,
                              region_id=actor.region_id, supervisor=actor.has("supervisor"),
                              caseworker=actor.has("caseworker"), limit=limit + 1,
                              before_id=before_id, **filters)
    items = [{"id": r["id"], "child_id": r["child_id"], "state": r["state"], "priority": r["priority"],
              "lead_agency_id": r["lead_agency_id"], "district_id": r["district_id"],
              "opened_at": r["opened_at"].isoformat(),
              "closed_at": r["closed_at"].isoformat() if r["closed_at"] else None,
              "version": r["version"], "closure_requested": r["closure_requested_at"] is not None,
              "via_emergency_grant": r["via_grant"]} for r in rows[:limit]]
    audit.record(conn, actor=actor, action=AuditAction.CASE_LISTED, object_type="case", object_id=None,
                 details={"count": len(items), "case_ids": [i["id"] for i in items][:32],
                          **{k: v for k, v in filters.items()
                             if v is not None and k in ("state", "priority", "agency_filter", "district_id")}})
    return items, len(rows) > limit


def export_case(conn, case: Case, facts: policy.CaseFacts, *, actor: Actor) -> dict:
    """A case summary for export: the case, its assessments and the entries the actor may read."""
    document = case_document(conn, case, facts, actor=actor)
    document["assessments"] = [assessment_json(a) for a in queries.assessments(conn, case.id)]
    grants = access.live_grants(conn, actor)
    entries, after = [], None
    while True:
        rows = queries.entries(conn, case_ids=[case.id], after=after, limit=500)
        entries += [entry_json(e, policy.can_read_entry_body(actor, facts, grants, visibility=e.visibility,
                                                             author_agency_id=e.agency_id))
                    for e in rows]
        if len(rows) < 500:
            break
        after = (rows[-1].occurred_at, rows[-1].id)
    document["chronology"] = entries
    audit.record(conn, actor=actor, action=AuditAction.EXPORT, object_type="case", object_id=str(case.id),
                 child_id=case.child_id, details={"format": "json", "entry_count": len(entries)})
    return document
