"""API for referrals: file, correct, read, list, attach files, screen. Every POST honours an
``Idempotency-Key`` header. Views parse, call ``services.access``, call one action, respond."""
from __future__ import annotations

import hashlib
from datetime import date, datetime, time, timedelta
from typing import Literal

from flask import Blueprint, Response, g, jsonify, request
from pydantic import Field, ValidationError

from audit import AuditAction
from services import access
from services.api.fields import MAX_ID, Id, Text, Version
from services.api.spec import Strict, operation, raise_validation
from services.cases import paging
from services.children.records import KZ_TIME
from services.db import transaction
from services.errors import ValidationFailed
from services.idempotency import Answer, idempotent
from services.referrals import actions, attachments, screening
from services.referrals.asq import Answer as AsqAnswer, Priority
from services.referrals.records import Category, ChildRef, Decision, ReferralContent, Risk, State
from services.security import csrf

api_bp = Blueprint("referrals_api", __name__, url_prefix="/api/v1")
csrf.exempt(api_bp)
api_bp.url_value_preprocessor(paging.ids_fit)


class ChildRefIn(Strict):
    child_id: Id
    iin: Text | None = Field(default=None, max_length=40, description="proof for a child you cannot read yet")
    date_of_birth: date | None = Field(default=None, description="proof for a child you cannot read yet")


class AsqIn(Strict):
    q1: AsqAnswer
    q2: AsqAnswer
    q3: AsqAnswer
    q4: AsqAnswer
    q5: AsqAnswer | None = Field(default=None, description="asked after any yes or refusal on 1-4")


class RiskIn(Strict):
    imminent_danger: bool = False
    significant_harm: bool = False
    harm_suspected: bool = False
    asq: AsqIn | None = None


class ContentIn(Strict):
    children: list[ChildRefIn] = Field(min_length=1, max_length=20)
    categories: list[Category] = Field(min_length=1, max_length=9)
    observed_at: datetime = Field(description="with its offset; not in the future")
    observed_place: Text | None = Field(default=None, max_length=500)
    observation: Text = Field(min_length=1, max_length=20000)
    risk: RiskIn = Field(default_factory=RiskIn)
    priority: Priority | None = Field(default=None, description="may raise the computed priority")
    receiving_agency_ids: list[Id] = Field(min_length=1, max_length=20)
    referrer_contact: Text | None = Field(default=None, max_length=200)


class ReferralIn(ContentIn):
    submit: bool = Field(default=False, description="file it at once instead of keeping a draft")
    on_behalf_of: str | None = Field(
        default=None, min_length=1, max_length=100,
        description="agency-system tokens only (scope referrals:write): the user name of the "
                    "enabled caseworker or supervisor of the token's agency in whose name it is filed")


class CorrectionIn(ContentIn):
    version: Version = Field(description="the version being corrected (the latest)")


class DraftPatch(Strict):
    children: list[ChildRefIn] | None = Field(default=None, min_length=1, max_length=20)
    categories: list[Category] | None = Field(default=None, min_length=1, max_length=9)
    observed_at: datetime | None = None
    observed_place: Text | None = Field(default=None, max_length=500)
    observation: Text | None = Field(default=None, min_length=1, max_length=20000)
    risk: RiskIn | None = None
    priority: Priority | None = None
    receiving_agency_ids: list[Id] | None = Field(default=None, min_length=1, max_length=20)


class ScreeningIn(Strict):
    decision: Decision
    version: Version = Field(description="the version decided on (the latest)")
    reason: Text | None = Field(default=None, min_length=1, max_length=4000,
                                description="screen_out: for the supervisor; redirect: for the agency")
    lead_agency_id: Id | None = Field(default=None, description="accept: the lead of a new case")
    assigned_user_id: Id | None = Field(default=None, description="accept: your agency's worker")
    to_agency_id: Id | None = Field(default=None, description="redirect: the agency it goes to")
    priority: Priority | None = None
    priority_reason: Text | None = Field(default=None, min_length=1, max_length=4000)


class PriorityIn(Strict):
    priority: Priority
    version: Version
    reason: Text | None = Field(default=None, min_length=1, max_length=4000, description="required to lower it")


class ReferralList(Strict):
    box: Literal["incoming", "sent", "all"] = "incoming"
    state: State | None = None
    priority: Priority | None = None
    agency: Id | None = Field(default=None, description="referring or receiving agency id")
    district: Id | None = None
    date_from: date | None = Field(default=None, description="created on or after (Kazakhstan time)")
    date_to: date | None = Field(default=None, description="created on or before (Kazakhstan time)")
    cursor: str | None = Field(default=None, max_length=300)
    limit: int = Field(default=25, ge=1, le=paging.MAX_LIMIT)


class ReferralOut(Strict):
    id: int
    version: int
    state: State
    priority: Priority
    categories: list[str]


def _content(body: ContentIn) -> ReferralContent:
    risk = body.risk
    return ReferralContent(
        children=tuple(ChildRef(c.child_id, c.iin, c.date_of_birth) for c in body.children),
        categories=tuple(body.categories), observed_at=body.observed_at,
        observed_place=body.observed_place, observation=body.observation,
        risk=Risk(risk.imminent_danger, risk.significant_harm, risk.harm_suspected,
                  risk.asq.model_dump() if risk.asq else None),
        requested_priority=body.priority, receiving_agency_ids=tuple(body.receiving_agency_ids),
        referrer_contact=body.referrer_contact)


def _detail(conn, referral_id: int, actor) -> dict:
    row, facts = access.access_referral(conn, actor, referral_id)
    return actions.read_referral(conn, row, facts, actor=actor, audited=False)


@api_bp.post("/referrals")
@operation("File a referral: a draft, or submitted at once with submit: true. An agency's system "
           "files it in the name of one of its agency's practitioners (on_behalf_of) and is "
           "answered with the referral's id, state and priority only", body=ReferralIn,
           response=ReferralOut, status=201, tags=("referrals",), errors=(409,),
           scope="referrals:write")
def file_referral(body: ReferralIn):
    from services.children.actions import require_practitioner

    if g.actor is not None and g.actor.kind == "agency_system":
        return _file_for_person(body)
    if body.on_behalf_of is not None:
        raise ValidationFailed("Only an agency's system names on_behalf_of; a person files in "
                               "their own name.", field="on_behalf_of")
    actor = require_practitioner(g.actor, AuditAction.REFERRAL_DRAFTED, "referral")

    def run(conn) -> Answer:
        referral_id = actions.file_referral(conn, _content(body), actor=actor, submit=body.submit)
        return Answer(_detail(conn, referral_id, actor), 201)

    return idempotent(actor, run)


def _file_for_person(body: ReferralIn):
    """An agency's system files (and submits) a referral as the person it names: that person's
    rights, validation, clocks and outbox; the person is told; the system learns no content."""
    with transaction(g.actor) as conn:
        person = actions.acting_for(conn, g.actor, body.on_behalf_of)

    def run(conn) -> Answer:
        referral_id = actions.file_referral_for(conn, _content(body), actor=person,
                                                submit=body.submit)
        row, _ = access.access_referral(conn, person, referral_id)
        return Answer({"id": row["id"], "version": row["version"], "state": row["state"],
                       "priority": row["priority"], "categories": list(row["categories"])}, 201)

    return idempotent(person, run)


@api_bp.get("/referrals")
@operation("Your referrals, newest first: incoming, sent or all you may read", query=ReferralList,
           tags=("referrals",))
def list_referrals(query: ReferralList):
    actor = access.require_signed_in(g.actor)
    filters = {"state": query.state, "priority": query.priority, "other": query.agency,
               "district": query.district, "since": _day_start(query.date_from),
               "until": _day_start(query.date_to, next_day=True)}
    with transaction(actor) as conn:
        items, more = actions.list_referrals(conn, actor=actor, box=query.box, filters=filters,
                                             after=paging.decode_id(query.cursor), limit=query.limit)
    return jsonify(items=items, next_cursor=paging.encode(items[-1]["id"]) if more else None)


def _day_start(day: date | None, *, next_day: bool = False) -> datetime | None:
    if day is None:
        return None
    start = datetime.combine(day, time(0), tzinfo=KZ_TIME)
    return start + timedelta(days=1) if next_day else start


@api_bp.get("/referrals/<int:referral_id>")
@operation("Read a referral (its readers only; the referrer's identity where allowed)",
           tags=("referrals",), errors=(404,))
def get_referral(referral_id: int):
    actor = access.require_signed_in(g.actor)
    with transaction(actor) as conn:
        row, facts = access.access_referral(conn, actor, referral_id)
        detail = actions.read_referral(conn, row, facts, actor=actor)
    return jsonify(detail)


@api_bp.get("/referrals/<int:referral_id>/status")
@operation("The status of a referral your agency filed: state and updates, never case content",
           tags=("referrals",), errors=(404,), scope="referrals:read")
def get_status(referral_id: int):
    actor = access.require_signed_in(g.actor)
    with transaction(actor) as conn:
        _, facts = access.access_referral(conn, actor, referral_id, "status",
                                          attempted=AuditAction.REFERRAL_STATUS_VIEWED)
        status = actions.referral_status(conn, facts, actor=actor)
    return jsonify(status)


@api_bp.patch("/referrals/<int:referral_id>")
@operation("Change a draft (a submitted referral is never edited: 409)", body=DraftPatch,
           response=ReferralOut, tags=("referrals",), errors=(404, 409))
def patch_draft(referral_id: int, body: DraftPatch):
    actor = access.require_signed_in(g.actor)
    with transaction(actor) as conn:
        row, facts = access.access_referral(conn, actor, referral_id, attempted=AuditAction.REFERRAL_DRAFTED)
        actions.require_own_draft(row, actor)
        current = actions.read_referral(conn, row, facts, actor=actor, audited=False)
        actions.update_draft(conn, row, _merged(current, body), actor=actor)
        detail = _detail(conn, referral_id, actor)
    return jsonify(detail)


OPTIONAL = ("observed_place", "priority")


def _merged(current: dict, patch: DraftPatch) -> ReferralContent:
    """The draft's content with the fields the patch sets replaced."""
    for name in patch.model_fields_set - set(OPTIONAL):
        if getattr(patch, name) is None:
            raise ValidationFailed(f"{name} cannot be removed from a referral.", field=name)
    risk = current["risk"]
    stored = {
        "children": [{"child_id": c["id"]} for c in current["children"]],
        "categories": current["categories"], "observed_at": current["observed_at"],
        "observed_place": current["observed_place"], "observation": current["observation"],
        "risk": {k: risk[k] for k in ("imminent_danger", "significant_harm", "harm_suspected", "asq")},
        "priority": risk.get("requested_priority"),
        "receiving_agency_ids": [r["agency_id"] for r in current["receiving_agencies"]],
        "referrer_contact": (current["referrer"] or {}).get("contact")}
    try:
        base = ContentIn.model_validate(stored, strict=False)
    except ValidationError as exc:
        raise_validation(exc)
    return _content(base.model_copy(update={k: getattr(patch, k) for k in patch.model_fields_set}))


@api_bp.post("/referrals/<int:referral_id>/submit")
@operation("Submit a draft to its receiving agencies", response=ReferralOut, tags=("referrals",),
           errors=(404, 409))
def submit(referral_id: int):
    actor = access.require_signed_in(g.actor)

    def run(conn) -> Answer:
        access.access_referral(conn, actor, referral_id, attempted=AuditAction.REFERRAL_SUBMITTED)
        actions.submit_referral(conn, referral_id, actor=actor)
        return Answer(_detail(conn, referral_id, actor), 200)

    return idempotent(actor, run)


@api_bp.post("/referrals/<int:referral_id>/versions")
@operation("Correct a submitted referral: a new version linked to this one (the referrer)",
           body=CorrectionIn, response=ReferralOut, status=201, tags=("referrals",), errors=(404, 409))
def correct(referral_id: int, body: CorrectionIn):
    actor = access.require_signed_in(g.actor)

    def run(conn) -> Answer:
        row, _ = access.access_referral(conn, actor, referral_id, attempted=AuditAction.REFERRAL_CORRECTED)
        new_id = actions.correct_referral(conn, row, _content(body), actor=actor, version=body.version)
        return Answer(_detail(conn, new_id, actor), 201)

    return idempotent(actor, run)


@api_bp.post("/referrals/<int:referral_id>/screening")
@operation("A receiving agency decides: accept, screen_out (a supervisor approves) or redirect",
           body=ScreeningIn, tags=("screening",), errors=(403, 404, 409))
def screen(referral_id: int, body: ScreeningIn):
    actor = access.require_signed_in(g.actor)
    decision = screening.ScreeningDecision(**body.model_dump())

    def run(conn) -> Answer:
        row, facts = access.access_referral(conn, actor, referral_id,
                                            attempted=screening.ATTEMPTED[body.decision])
        return Answer(screening.screen(conn, row, facts, decision, actor=actor), 200)

    return idempotent(actor, run)


@api_bp.post("/referrals/<int:referral_id>/priority")
@operation("A receiving agency confirms, raises or asks to lower the priority", body=PriorityIn,
           tags=("screening",), errors=(403, 404, 409))
def prioritise(referral_id: int, body: PriorityIn):
    actor = access.require_signed_in(g.actor)

    def run(conn) -> Answer:
        row, facts = access.access_referral(conn, actor, referral_id, attempted=AuditAction.PRIORITY_CHANGED)
        return Answer(screening.prioritise(conn, row, facts, body.priority, version=body.version,
                                           reason=body.reason, actor=actor), 200)

    return idempotent(actor, run)


@api_bp.post("/referrals/<int:referral_id>/attachments")
@operation("Attach a file (multipart field 'file'; PDF, JPEG, PNG or text; at most 10 MB); "
           "'supersedes_id' replaces an earlier one", tags=("referrals",), status=201,
           errors=(403, 404, 409, 413, 415))
def attach(referral_id: int):
    actor = access.require_signed_in(g.actor)
    upload, supersedes_id = _upload()
    data = upload.read(attachments.MAX_BYTES + 1)
    fingerprint = "\n".join([upload.filename or "", upload.mimetype or "", str(supersedes_id),
                             hashlib.sha256(data).hexdigest()]).encode()

    def run(conn) -> Answer:
        row, facts = access.access_referral(conn, actor, referral_id, attempted=AuditAction.ATTACHMENT_ADDED)
        added = attachments.add_attachment(conn, row, list(facts.child_ids), actor=actor,
                                           filename=upload.filename, declared_type=upload.mimetype,
                                           data=data, supersedes_id=supersedes_id)
        return Answer(attachments.attachment_json(added), 201)

    return idempotent(actor, run, payload=fingerprint)


def _upload():
    if request.mimetype != "multipart/form-data":
        raise ValidationFailed("Send the file as multipart/form-data.", field="file")
    unknown = (set(request.files) - {"file"}) | (set(request.form) - {"supersedes_id"})
    if unknown:
        raise ValidationFailed("Unknown field", field=sorted(unknown)[0])
    upload = request.files.get("file")
    if upload is None:
        raise ValidationFailed("Attach the file in the field 'file'.", field="file")
    raw = request.form.get("supersedes_id")
    if raw is not None and not (raw.isascii() and raw.isdigit() and 0 < int(raw) <= MAX_ID):
        raise ValidationFailed("supersedes_id is the id of the file this one replaces.", field="supersedes_id")
    return upload, int(raw) if raw is not None else None


@api_bp.get("/referrals/<int:referral_id>/attachments/<int:attachment_id>")
@operation("Download a file of a referral (audited)", tags=("referrals",), errors=(404,))
def download(referral_id: int, attachment_id: int):
    actor = access.require_signed_in(g.actor)
    with transaction(actor) as conn:
        row, facts = access.access_referral(conn, actor, referral_id, attempted=AuditAction.ATTACHMENT_VIEWED)
        found = attachments.read_attachment(conn, row, attachment_id, list(facts.child_ids), actor=actor)
    response = Response(bytes(found["data"]), mimetype=found["content_type"])
    response.headers["Content-Disposition"] = f'attachment; filename="{found["id"]}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Digest"] = f"sha-256={found['sha256']}"
    return response
