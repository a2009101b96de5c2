"""API for agencies, their users and their system tokens (admins only; no case content here)."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import Blueprint, g, jsonify
from pydantic import Field

import audit
from audit import AuditAction
from services import access
from services.agencies import actions, queries
from services.api.spec import Strict, operation
from services.auth import tokens
from services.auth.tokens import AGENCY_SCOPES, SCOPE_MEANINGS
from services.db import transaction
from services.errors import NotFound
from services.security import csrf

api_bp = Blueprint("agencies_api", __name__, url_prefix="/api/v1")
csrf.exempt(api_bp)

Kind = Literal["school", "social_services", "police", "health", "psychology", "prosecutor", "ngo"]
Role = Literal["caseworker", "supervisor", "oversight", "council", "agency_admin", "system_admin"]
Language = Literal["kk", "ru", "en"]
Scope = Literal[AGENCY_SCOPES]


class AgencyIn(Strict):
    code: str = Field(pattern=r"^[a-z0-9-]{2,60}$")
    name: str = Field(min_length=2, max_length=200)
    kind: Kind
    region: str = Field(description="region code", max_length=40)
    district: str | None = Field(default=None, description="district code", max_length=40)


class AgencyOut(Strict):
    id: int
    code: str
    name: str
    kind: str
    region_id: int
    district_id: int | None
    is_active: bool


class AgencyList(Strict):
    items: list[AgencyOut]


class UserIn(Strict):
    username: str = Field(pattern=r"^[a-z0-9._-]{3,60}$")
    full_name: str = Field(min_length=2, max_length=200)
    password: str = Field(min_length=12, max_length=256)
    roles: list[Role] = Field(min_length=1)
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    preferred_language: Language = "ru"


class UserPatch(Strict):
    roles: list[Role] | None = Field(default=None, min_length=1)
    disabled: bool | None = None
    full_name: str | None = Field(default=None, min_length=2, max_length=200)
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    preferred_language: Language | None = None


class UserOut(Strict):
    id: int
    agency_id: int
    username: str
    full_name: str
    email: str | None
    preferred_language: str
    roles: list[str]
    disabled: bool
    totp_enrolled: bool


class UserList(Strict):
    items: list[UserOut]


class AgencyTokenIn(Strict):
    name: str = Field(min_length=2, max_length=100)
    scopes: list[Scope] = Field(min_length=1, description="; ".join(
        f"{scope}: {meaning}" for scope, meaning in SCOPE_MEANINGS.items()))
    expires_at: datetime | None = Field(default=None, description="with its offset; in the future")


class AgencyTokenOut(Strict):
    id: int
    token: str


class AgencyTokenInfo(Strict):
    id: int
    name: str
    scopes: list[str]
    created_by: int | None
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    last_used_at: str | None


class AgencyTokenList(Strict):
    items: list[AgencyTokenInfo]


def _agency_json(a):
    return {"id": a.id, "code": a.code, "name": a.name, "kind": a.kind, "region_id": a.region_id,
            "district_id": a.district_id, "is_active": a.is_active}


def _user_json(u):
    return {"id": u.id, "agency_id": u.agency_id, "username": u.username, "full_name": u.full_name,
            "email": u.email, "preferred_language": u.preferred_language, "roles": list(u.roles),
            "disabled": u.disabled, "totp_enrolled": u.totp_enrolled}


@api_bp.get("/agencies")
@operation("List the agencies of the caller's region (all regions for the system admin)",
           response=AgencyList, tags=("agencies",))
def list_agencies():
    actor = access.require_signed_in(g.actor)
    with transaction(actor) as conn:
        region = None if actor.has("system_admin") else actor.region_id
        items = queries.list_agencies(conn, region)
    return jsonify(items=[_agency_json(a) for a in items])


@api_bp.post("/agencies")
@operation("Register an agency (system admin)", body=AgencyIn, response=AgencyOut, status=201,
           tags=("agencies",), errors=(409,))
def create_agency(body: AgencyIn):
    actor = access.require_system_admin(g.actor, AuditAction.AGENCY_CREATED, "agency")
    with transaction(actor) as conn:
        agency = actions.create_agency(conn, actor=actor, code=body.code, name=body.name,
                                       kind=body.kind, region_code=body.region,
                                       district_code=body.district)
    return jsonify(_agency_json(agency)), 201


@api_bp.get("/agencies/<int:agency_id>/users")
@operation("List an agency's users (its agency admin, or the system admin)", response=UserList,
           tags=("users",), errors=(404,))
def list_users(agency_id: int):
    actor = access.require_user_admin(g.actor, agency_id, AuditAction.USERS_LISTED)
    with transaction(actor) as conn:
        if queries.get_agency(conn, agency_id) is None:
            raise NotFound("No such agency or user.")
        users = queries.list_users(conn, agency_id)
        audit.record(conn, actor=actor, action=AuditAction.USERS_LISTED, object_type="agency",
                     object_id=str(agency_id), details={"count": len(users)})
    return jsonify(items=[_user_json(u) for u in users])


@api_bp.post("/agencies/<int:agency_id>/users")
@operation("Create a user in an agency", body=UserIn, response=UserOut, status=201,
           tags=("users",), errors=(404, 409))
def create_user(agency_id: int, body: UserIn):
    actor = access.require_user_admin(g.actor, agency_id, AuditAction.USER_CREATED)
    if "system_admin" in body.roles and not actor.has("system_admin"):
        access.record_denial(actor, AuditAction.USER_CREATED, "agency", agency_id,
                             reason="grant_system_admin")
        raise access.AccessDenied("Only the system administrator may grant system_admin.",
                                  field="roles")
    with transaction(actor) as conn:
        user = actions.create_user(conn, actor=actor, agency_id=agency_id, username=body.username,
                                   full_name=body.full_name, password=body.password,
                                   roles=list(body.roles), email=body.email,
                                   preferred_language=body.preferred_language)
    return jsonify(_user_json(user)), 201


@api_bp.patch("/users/<int:user_id>")
@operation("Change a user's roles, status or profile", body=UserPatch, response=UserOut,
           tags=("users",), errors=(404,))
def update_user(user_id: int, body: UserPatch):
    actor = access.require_signed_in(g.actor)
    with transaction(actor) as conn:
        user = queries.get_user(conn, user_id)
    if user is None or not access.can_manage_users_of(actor, user.agency_id):
        access.record_denial(actor, AuditAction.USER_UPDATED, "user", user_id, reason="not_admin_of_agency")
        raise NotFound("No such agency or user.")
    if body.roles and "system_admin" in body.roles and not actor.has("system_admin"):
        access.record_denial(actor, AuditAction.ROLE_CHANGED, "user", user_id, reason="grant_system_admin")
        raise access.AccessDenied("Only the system administrator may grant system_admin.", field="roles")
    with transaction(actor) as conn:
        if body.full_name or body.email or body.preferred_language:
            user = actions.update_profile(conn, user, actor=actor, full_name=body.full_name,
                                          email=body.email, preferred_language=body.preferred_language)
        if body.roles is not None:
            user = actions.set_roles(conn, user, list(body.roles), actor=actor)
        if body.disabled is True and not user.disabled:
            user = actions.disable_user(conn, user, actor=actor)
        elif body.disabled is False and user.disabled:
            user = actions.enable_user(conn, user, actor=actor)
    return jsonify(_user_json(user))


@api_bp.post("/agencies/<int:agency_id>/tokens")
@operation("Create a long-lived, scoped token for the agency's own system (agency admin)",
           body=AgencyTokenIn, response=AgencyTokenOut, status=201, tags=("tokens",), errors=(404,))
def create_token(agency_id: int, body: AgencyTokenIn):
    actor = access.require_user_admin(g.actor, agency_id, AuditAction.TOKEN_ISSUED)
    with transaction(actor) as conn:
        raw, token_id = actions.create_agency_token(conn, agency_id, actor=actor, name=body.name,
                                                    scopes=list(body.scopes),
                                                    expires_at=body.expires_at)
    return jsonify(id=token_id, token=raw), 201


@api_bp.get("/agencies/<int:agency_id>/tokens")
@operation("The agency's system tokens, live and revoked (never the tokens themselves)",
           response=AgencyTokenList, tags=("tokens",), errors=(404,))
def list_tokens(agency_id: int):
    # A refusal is recorded against token administration (the catalogue has no listing of tokens).
    actor = access.require_user_admin(g.actor, agency_id, AuditAction.TOKEN_ISSUED)
    with transaction(actor) as conn:
        rows = tokens.list_agency_tokens(conn, agency_id)

    def at(value):
        return value.isoformat() if value else None

    return jsonify(items=[{"id": r["id"], "name": r["name"], "scopes": list(r["scopes"]),
                           "created_by": r["created_by"], "created_at": at(r["created_at"]),
                           "expires_at": at(r["expires_at"]), "revoked_at": at(r["revoked_at"]),
                           "last_used_at": at(r["last_used_at"])} for r in rows])


@api_bp.delete("/agencies/<int:agency_id>/tokens/<int:token_id>")
@operation("Revoke an agency-system token", status=204, tags=("tokens",), errors=(404,))
def revoke_token(agency_id: int, token_id: int):
    actor = access.require_user_admin(g.actor, agency_id, AuditAction.TOKEN_REVOKED)
    with transaction(actor) as conn:
        owner = conn.execute("SELECT agency_id FROM api_tokens WHERE id = %s AND kind = 'agency_system'",
                             (token_id,)).fetchone()
        if owner is None or owner["agency_id"] != agency_id:
            raise NotFound("No such token.")
        actions.revoke_agency_token(conn, token_id, actor=actor)
    return "", 204
