"""API for children: record, find, open (caseworkers and supervisors; oversight may open)."""
from __future__ import annotations

from datetime import date
from typing import Literal

from flask import Blueprint, g, jsonify
from pydantic import Field

from audit import AuditAction
from services import access
from services.api.fields import Id, Text
from services.api.spec import Strict, operation
from services.cases.paging import ids_fit
from services.children import actions
from services.children.records import (PURPOSES, ChildDetails, Duplicates, candidate_json,
                                       child_from_row, child_json)
from services.db import transaction
from services.errors import ValidationFailed, problem
from services.idempotency import Answer, idempotent
from services.security import csrf

api_bp = Blueprint("children_api", __name__, url_prefix="/api/v1")
csrf.exempt(api_bp)
api_bp.url_value_preprocessor(ids_fit)

Purpose = Literal[PURPOSES]  # type: ignore[valid-type]


class ChildIn(Strict):
    iin: Text | None = Field(default=None, max_length=40,
                             description="12 digits; optional (newcomers may have none)")
    last_name: Text = Field(min_length=1, max_length=100)
    first_name: Text = Field(min_length=1, max_length=100)
    patronymic: Text | None = Field(default=None, max_length=100)
    date_of_birth: date
    sex: Literal["M", "F"] | None = None
    school_agency_id: Id | None = None
    district_id: Id | None = None
    confirmed_different: bool = Field(default=False, description=(
        "true after the caller checked the candidates of a 409 answer: this is a different child"))


class ChildOut(Strict):
    id: int
    iin: str | None
    last_name: str
    first_name: str
    patronymic: str | None
    date_of_birth: date
    sex: str | None
    school_agency_id: int | None
    district_id: int | None
    region_id: int
    created_at: str


class ChildSearch(Strict):
    iin: Text | None = Field(default=None, max_length=40, description="exact IIN")
    last_name: Text | None = Field(default=None, max_length=100)
    first_name: Text | None = Field(default=None, max_length=100)
    date_of_birth: date | None = None


class ChildSearchOut(Strict):
    items: list[ChildOut]
    existing_child_ids: list[int] = Field(description=(
        "matching children the caller cannot read; a referral names one with its id and the IIN "
        "or date of birth searched for"))


class ChildViewQuery(Strict):
    purpose: Purpose = Field(default="case_work", description="why the record is opened (audited)")


@api_bp.post("/children")
@operation("Record a child; 409 lists the children it probably is", body=ChildIn, response=ChildOut,
           status=201, tags=("children",), errors=(409,))
def create_child(body: ChildIn):
    actor = actions.require_practitioner(g.actor, AuditAction.CHILD_CREATED, "child")
    entered = ChildDetails(**body.model_dump(exclude={"confirmed_different"}))

    def run(conn) -> Answer:
        child = actions.check_new_child(conn, entered, actor=actor)
        result = actions.record_child(conn, child, actor=actor,
                                      confirmed_different=body.confirmed_different)
        if isinstance(result, Duplicates):
            return Answer(_duplicates_problem(result), 409)
        return Answer(child_json(result), 201)

    return idempotent(actor, run)


@api_bp.get("/children")
@operation("Find children by exact IIN, or by date of birth and name", query=ChildSearch,
           response=ChildSearchOut, tags=("children",))
def search_children(query: ChildSearch):
    actor = actions.require_practitioner(g.actor, AuditAction.CHILD_SEARCHED, "child")
    if query.iin is None:
        for name in ("date_of_birth", "last_name", "first_name"):
            if not getattr(query, name):
                raise ValidationFailed("Search by iin, or by date_of_birth, last_name and first_name.",
                                       field=name)
    with transaction(actor) as conn:
        if query.iin is not None:
            result = actions.search_by_iin(conn, query.iin, actor=actor)
        else:
            result = actions.search_by_name(conn, query.last_name, query.first_name,
                                            query.date_of_birth, actor=actor)
    return jsonify(items=[child_json(c) for c in result.items],
                   existing_child_ids=list(result.existing_child_ids))


@api_bp.get("/children/<int:child_id>")
@operation("Open a child's record (audited with its purpose)", query=ChildViewQuery, response=ChildOut,
           tags=("children",), errors=(404,))
def get_child(child_id: int, query: ChildViewQuery):
    actor = access.require_signed_in(g.actor)
    with transaction(actor) as conn:
        row, _ = access.access_child(conn, actor, child_id)
        child = actions.view_child(conn, child_from_row(row), actor=actor, purpose=query.purpose)
    return jsonify(child_json(child))


def _duplicates_problem(result: Duplicates) -> dict:
    if result.same_iin:
        detail, field = "A child with this IIN is already recorded; name that child instead.", "iin"
    else:
        detail = ("This child is probably already recorded. Check the candidates; if this is a "
                  "different child, send the request again with confirmed_different: true.")
        field = "confirmed_different"
    return problem(409, "Possible duplicate", detail, slug="possible-duplicate", field=field,
                   candidates=[candidate_json(c) for c in result.candidates]).get_json()
