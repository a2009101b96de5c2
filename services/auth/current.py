"""Who is making this request: a browser session, a Bearer token, or nobody.

Sets ``g.actor`` (an ``audit.Actor``) and ``g.user`` (a dict for templates) before every request.
An agency-system token reaches only the API operations that declare its scope (``require_scope``).
"""
from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from flask import current_app, g, redirect, request, session, url_for

import audit
from audit import Actor, AuditAction
from audit import context as audit_context
from services.agencies import queries
from services.agencies.records import User
from services.api import spec
from services.auth import sessions, tokens
from services.auth.signin import actor_for
from services.db import begin_request, end_request, transaction
from services.errors import AuthenticationRequired


def load_identity() -> None:
    g.actor = None
    g.user = None
    if request.path.startswith("/static/") or request.path in ("/healthz", "/readyz"):
        return
    header = request.headers.get("Authorization", "")
    if request.path.startswith("/api/"):
        if header:
            _from_bearer(header)
            if g.actor.kind == "agency_system":
                require_scope(g.actor)
        return
    raw = session.get("sid")
    if raw:
        _from_session(raw)


def _from_bearer(header: str) -> None:
    """The token's actor. The token is read in the request's first transaction, in the round
    trip that begins it (``begin_request``); the view continues that transaction with the actor
    set: one transaction per request, not two."""
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise AuthenticationRequired("Use the header 'Authorization: Bearer <token>'.",
                                     field="Authorization")
    now = datetime.now(timezone.utc)
    conn, found = begin_request(lambda conn: tokens.look_up(conn, raw.strip(), now=now))
    row = tokens.note_use(conn, found, now=now)
    if row is None or (row["kind"] == "personal" and row["person"] is None):
        end_request()
        raise AuthenticationRequired("The token is unknown, expired or revoked.",
                                     field="Authorization")
    if row["kind"] == "personal":
        person = row["person"]
        user = User(**{**person, "roles": tuple(person["roles"])})
        g.actor = actor_for(user, mfa=row["mfa"])
        g.user = {"id": user.id, "username": user.username, "full_name": user.full_name,
                  "preferred_language": user.preferred_language}
    else:
        g.actor = Actor(user_id=None, agency_id=row["agency_id"],
                        roles=frozenset(f"scope:{s}" for s in row["scopes"]),
                        username=f"agency-token-{row['id']}", region_id=row["region_id"],
                        kind="agency_system", mfa=False)
    audit_context.update(auth_strength="token", session_ref=f"token:{row['id']}")


def require_scope(actor: Actor) -> None:
    """An agency-system token calls only the operations that declare its scope (``operation(...,
    scope=...)``); anything else is a 403 naming ``scope`` and the scope needed, audited."""
    if request.url_rule is None:
        return  # no such route: the 404 or 405 follows
    op = spec.operation_of(request.endpoint)
    allowed, needed = spec.scope_needed(op, request.path)
    held = {r.removeprefix("scope:") for r in actor.roles}
    if allowed and (needed is None or needed in held):
        return
    with transaction(actor) as conn:
        audit.record(conn, actor=actor, action=AuditAction.ACCESS_DENIED, object_type="api_operation",
                     object_id=_operation_id(request.endpoint), outcome="denied",
                     details={"reason": "scope", "needed_scope": needed if allowed else None,
                              "method": request.method})
    if not allowed:
        raise spec.ScopeMissing("Agency-system tokens cannot call this operation; a person must.",
                                field="scope", required_scope=None)
    raise spec.ScopeMissing(f"This operation needs a token with the scope {needed}.", field="scope",
                            required_scope=needed)


def _operation_id(endpoint: str) -> str:
    text = "".join(c for c in endpoint if c.isalnum() or c in "._-")[:64]
    return text or "unknown"


def _from_session(raw: str) -> None:
    settings = current_app.config["QORGAU_SETTINGS"]
    with transaction() as conn:
        row = sessions.load(conn, raw, idle=timedelta(minutes=settings.session_idle_minutes),
                            absolute=timedelta(hours=settings.session_absolute_hours))
        user = queries.get_user(conn, row["user_id"]) if row else None
    if user is None:
        session.pop("sid", None)
        g.session_expired = True
        return
    g.actor = actor_for(user, mfa=row["mfa"])
    g.user = {"id": user.id, "username": user.username, "full_name": user.full_name,
              "preferred_language": user.preferred_language, "roles": user.roles,
              "agency_id": user.agency_id}
    audit_context.update(session_ref=sessions.session_ref(raw),
                         auth_strength="password+totp" if row["mfa"] else "password")


def login_required(view):
    """Send anonymous visitors of a page to the sign-in form, remembering where they were going."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if g.get("actor") is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper


def safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after sign-in (no open redirects)."""
    if not target:
        return url_for("web.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("web.home")
    return target


def init_app(app) -> None:
    app.before_request(load_identity)
