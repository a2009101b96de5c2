"""Changes to regions, agencies and users: rules, audit event and change in one transaction.

Callers check permission through ``services.access`` first; these functions assume it was done.
"""
from __future__ import annotations

from datetime import datetime, timezone

import audit
from audit import Actor, AuditAction
from services.agencies import queries
from services.agencies.records import AGENCY_KINDS, LANGUAGES, ROLES, Agency, User
from services.auth import sessions, tokens
from services.auth.passwords import hash_password, password_problem
from services.errors import Conflict, ValidationFailed


def create_region(conn, *, actor: Actor, code: str, name: str, timezone_name: str = "Asia/Aqtau") -> int:
    row = conn.execute("INSERT INTO regions (code, name, timezone) VALUES (%s, %s, %s)"
                       " ON CONFLICT (code) DO NOTHING RETURNING id", (code, name, timezone_name)).fetchone()
    if row is None:
        raise Conflict(f"A region with code {code!r} exists.", field="code")
    audit.record(conn, actor=actor, action=AuditAction.REGION_CREATED, object_type="region",
                 object_id=str(row["id"]))
    return row["id"]


def create_district(conn, *, actor: Actor, region_id: int, code: str, name: str) -> int:
    row = conn.execute("INSERT INTO districts (region_id, code, name) VALUES (%s, %s, %s)"
                       " ON CONFLICT (region_id, code) DO NOTHING RETURNING id",
                       (region_id, code, name)).fetchone()
    if row is None:
        raise Conflict(f"A district with code {code!r} exists in this region.", field="code")
    audit.record(conn, actor=actor, action=AuditAction.DISTRICT_CREATED, object_type="district",
                 object_id=str(row["id"]))
    return row["id"]


def create_agency(conn, *, actor: Actor, code: str, name: str, kind: str, region_code: str,
                  district_code: str | None = None) -> Agency:
    """Register an agency in a region (and district)."""
    if kind not in AGENCY_KINDS:
        raise ValidationFailed(f"kind must be one of {', '.join(AGENCY_KINDS)}.", field="kind")
    region = queries.get_region_by_code(conn, region_code)
    if region is None:
        raise ValidationFailed(f"No region with code {region_code!r}.", field="region")
    district_id = None
    if district_code:
        district = queries.get_district(conn, region["id"], district_code)
        if district is None:
            raise ValidationFailed(f"No district {district_code!r} in region {region_code!r}.",
                                   field="district")
        district_id = district["id"]
    row = conn.execute(
        "INSERT INTO agencies (code, name, kind, region_id, district_id) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (code) DO NOTHING RETURNING id",
        (code, name, kind, region["id"], district_id),
    ).fetchone()
    if row is None:
        raise Conflict(f"An agency with code {code!r} exists.", field="code")
    audit.record(conn, actor=actor, action=AuditAction.AGENCY_CREATED, object_type="agency",
                 object_id=str(row["id"]), details={"kind": kind})
    return queries.get_agency(conn, row["id"])


def _check_roles(roles: list[str]) -> list[str]:
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise ValidationFailed(f"roles must be a non-empty list of {', '.join(ROLES)}.", field="roles")
    return sorted(set(roles))


def create_user(conn, *, actor: Actor, agency_id: int, username: str, full_name: str, password: str,
                roles: list[str], email: str | None = None, preferred_language: str = "ru",
                totp_secret: str | None = None) -> User:
    """Add a user to an agency with one or more roles."""
    roles = _check_roles(roles)
    problem = password_problem(password)
    if problem:
        raise ValidationFailed(problem, field="password")
    if preferred_language not in LANGUAGES:
        raise ValidationFailed("preferred_language must be kk, ru or en.", field="preferred_language")
    if queries.get_agency(conn, agency_id) is None:
        raise ValidationFailed("No such agency.", field="agency_id")
    if queries.get_user_by_username(conn, username) is not None:
        raise Conflict(f"The user name {username!r} is taken.", field="username")
    row = conn.execute(
        "INSERT INTO users (agency_id, username, full_name, email, password_hash, preferred_language,"
        " totp_secret, totp_enrolled_at) VALUES (%s, lower(%s), %s, %s, %s, %s, %s, %s) RETURNING id",
        (agency_id, username, full_name, email, hash_password(password), preferred_language,
         totp_secret, datetime.now(timezone.utc) if totp_secret else None),
    ).fetchone()
    for role in roles:
        conn.execute("INSERT INTO user_roles (user_id, role) VALUES (%s, %s)", (row["id"], role))
    audit.record(conn, actor=actor, action=AuditAction.USER_CREATED, object_type="user",
                 object_id=str(row["id"]), details={"agency_id": agency_id, "roles": roles})
    return queries.get_user(conn, row["id"])


def set_roles(conn, user: User, roles: list[str], *, actor: Actor) -> User:
    """Replace a user's roles; a change ends their sessions so it applies at once."""
    roles = _check_roles(roles)
    if tuple(roles) == tuple(sorted(user.roles)):
        return user
    conn.execute("DELETE FROM user_roles WHERE user_id = %s", (user.id,))
    for role in roles:
        conn.execute("INSERT INTO user_roles (user_id, role) VALUES (%s, %s)", (user.id, role))
    sessions.end_all(conn, user.id)
    tokens.revoke_personal_for_user(conn, user.id)
    audit.record(conn, actor=actor, action=AuditAction.ROLE_CHANGED, object_type="user",
                 object_id=str(user.id), details={"from": list(user.roles), "to": roles})
    return queries.get_user(conn, user.id)


def disable_user(conn, user: User, *, actor: Actor) -> User:
    """Disable an account: every session and personal token of the user ends now."""
    conn.execute("UPDATE users SET disabled_at = COALESCE(disabled_at, now()), updated_at = now()"
                 " WHERE id = %s", (user.id,))
    ended = sessions.end_all(conn, user.id)
    revoked = tokens.revoke_personal_for_user(conn, user.id)
    audit.record(conn, actor=actor, action=AuditAction.USER_DISABLED, object_type="user",
                 object_id=str(user.id), details={"sessions_ended": ended, "tokens_revoked": revoked})
    return queries.get_user(conn, user.id)


def enable_user(conn, user: User, *, actor: Actor) -> User:
    conn.execute("UPDATE users SET disabled_at = NULL, updated_at = now() WHERE id = %s", (user.id,))
    audit.record(conn, actor=actor, action=AuditAction.USER_ENABLED, object_type="user",
                 object_id=str(user.id))
    return queries.get_user(conn, user.id)


def update_profile(conn, user: User, *, actor: Actor, full_name: str | None = None,
                   email: str | None = None, preferred_language: str | None = None) -> User:
    if preferred_language is not None and preferred_language not in LANGUAGES:
        raise ValidationFailed("preferred_language must be kk, ru or en.", field="preferred_language")
    conn.execute(
        "UPDATE users SET full_name = COALESCE(%s, full_name), email = COALESCE(%s, email),"
        " preferred_language = COALESCE(%s, preferred_language), updated_at = now() WHERE id = %s",
        (full_name, email, preferred_language, user.id),
    )
    changed = [k for k, v in (("full_name", full_name), ("email", email),
                              ("preferred_language", preferred_language)) if v is not None]
    audit.record(conn, actor=actor, action=AuditAction.USER_UPDATED, object_type="user",
                 object_id=str(user.id), details={"fields": changed})
    return queries.get_user(conn, user.id)


def create_agency_token(conn, agency_id: int, *, actor: Actor, name: str, scopes: list[str],
                        expires_at: datetime | None = None) -> tuple[str, int]:
    unknown = [s for s in scopes if s not in tokens.AGENCY_SCOPES]
    if unknown or not scopes:
        raise ValidationFailed(f"scopes must be a non-empty list of {', '.join(tokens.AGENCY_SCOPES)}.",
                               field="scopes")
    if expires_at is not None and (expires_at.tzinfo is None
                                   or expires_at <= datetime.now(timezone.utc)):
        raise ValidationFailed("expires_at is a time in the future, with its offset.",
                               field="expires_at")
    raw, token_id = tokens.create_agency_token(conn, agency_id, name=name, scopes=sorted(set(scopes)),
                                               created_by=actor.user_id, expires_at=expires_at)
    audit.record(conn, actor=actor, action=AuditAction.TOKEN_ISSUED, object_type="api_token",
                 object_id=str(token_id), details={"kind": "agency_system", "scopes": sorted(set(scopes))})
    return raw, token_id


def revoke_agency_token(conn, token_id: int, *, actor: Actor) -> bool:
    done = tokens.revoke(conn, token_id) == 1
    if done:
        audit.record(conn, actor=actor, action=AuditAction.TOKEN_REVOKED, object_type="api_token",
                     object_id=str(token_id))
    return done
