"""Sign-in pages (password, TOTP, enrolment, sign-out) and the API's token endpoint."""
from __future__ import annotations

import time

from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from pydantic import Field

import audit
from audit import AuditAction
from audit import context as audit_context
from services.agencies import queries
from services.api.spec import ANY_TOKEN, Strict, operation
from services.auth import sessions, signin, tokens, totp
from services.auth.current import safe_next
from services.db import transaction
from services.errors import AuthenticationRequired, TooManyRequests
from services.security import csrf, limiter, sign_in_limit

bp = Blueprint("auth", __name__, url_prefix="/auth")
api_bp = Blueprint("auth_api", __name__, url_prefix="/api/v1")
csrf.exempt(api_bp)

PENDING_SECONDS = 300


def _message(attempt: signin.Attempt) -> tuple[str, int]:
    if attempt.reason == "locked":
        minutes = max(1, attempt.retry_after // 60)
        return _("Too many failed attempts. Try again in %(minutes)s minutes.", minutes=minutes), 429
    if attempt.reason in ("totp_invalid", "totp_required"):
        return _("The code is not valid. Enter the current 6-digit code from your app."), 401
    return _("Wrong user name or password."), 401


def _complete(user, *, mfa: bool):
    """Start a fresh session (a new id: no fixation) and go where the user was heading."""
    target = safe_next(session.get("next"))
    session.clear()
    with transaction(signin.actor_for(user, mfa=mfa)) as conn:
        raw = sessions.create(conn, user.id, mfa=mfa, client_addr=request.remote_addr,
                              user_agent=request.user_agent.string)
        audit_context.update(session_ref=sessions.session_ref(raw),
                             auth_strength="password+totp" if mfa else "password")
        signin.succeed(conn, user, mfa=mfa, channel="web")
    session["sid"] = raw
    session["lang"] = user.preferred_language
    session.permanent = True
    return redirect(target)


def _pending_user():
    pending = session.get("pending")
    if not pending or time.time() - pending["at"] > PENDING_SECONDS:
        return None
    with transaction() as conn:
        return queries.get_user(conn, pending["uid"])


@bp.get("/login")
def login():
    if g.actor is not None:
        return redirect(url_for("web.home"))
    if request.args.get("next"):
        session["next"] = request.args["next"]
    return render_template("auth/login.html", expired=g.get("session_expired", False))


@bp.post("/login")
@limiter.limit(sign_in_limit)
def login_post():
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    errors = {}
    if not username:
        errors["username"] = _("Enter your user name.")
    if not password:
        errors["password"] = _("Enter your password.")
    if errors:
        return render_template("auth/login.html", errors=errors, username=username), 422
    with transaction() as conn:
        attempt = signin.attempt_password(conn, username, password)
    if not attempt.ok:
        message, status = _message(attempt)
        return render_template("auth/login.html", error=message, username=username), status
    user = attempt.user
    if not user.needs_mfa:
        return _complete(user, mfa=False)
    next_target = session.get("next")
    session.clear()
    session["pending"] = {"uid": user.id, "at": time.time()}
    if next_target:
        session["next"] = next_target
    return redirect(url_for("auth.totp_form" if user.totp_enrolled else "auth.enrol"))


@bp.get("/totp")
def totp_form():
    user = _pending_user()
    if user is None:
        return redirect(url_for("auth.login"))
    return render_template("auth/totp.html")


@bp.post("/totp")
@limiter.limit(sign_in_limit)
def totp_post():
    user = _pending_user()
    if user is None:
        return redirect(url_for("auth.login"))
    with transaction() as conn:
        attempt = signin.attempt_totp(conn, user, request.form.get("code", ""))
    if not attempt.ok:
        message, status = _message(attempt)
        return render_template("auth/totp.html", error=message), status
    return _complete(attempt.user, mfa=True)


@bp.get("/totp/enrol")
def enrol():
    user = _pending_user()
    if user is None:
        return redirect(url_for("auth.login"))
    if user.totp_enrolled:
        return redirect(url_for("auth.totp_form"))
    with transaction() as conn:
        secret = signin.start_enrolment(conn, user)
    uri = totp.provisioning_uri(secret, user.username)
    return render_template("auth/enrol.html", qr=totp.qr_data_uri(uri), secret=secret)


@bp.post("/totp/enrol")
@limiter.limit(sign_in_limit)
def enrol_post():
    user = _pending_user()
    if user is None:
        return redirect(url_for("auth.login"))
    with transaction() as conn:
        attempt = signin.attempt_totp(conn, user, request.form.get("code", ""))
        secret = signin.start_enrolment(conn, user)
    if not attempt.ok:
        message, status = _message(attempt)
        uri = totp.provisioning_uri(secret, user.username)
        return render_template("auth/enrol.html", qr=totp.qr_data_uri(uri), secret=secret,
                               error=message), status
    return _complete(attempt.user, mfa=True)


@bp.post("/logout")
def logout():
    raw = session.get("sid")
    if raw and g.actor is not None:
        with transaction(g.actor) as conn:
            sessions.end(conn, raw)
            audit.record(conn, actor=g.actor, action=AuditAction.SIGN_OUT, object_type="user",
                         object_id=str(g.actor.user_id))
    session.clear()
    return redirect(url_for("auth.login", signed_out=1))


class TokenRequest(Strict):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=256)
    totp: str | None = Field(default=None, max_length=10, description="required for roles with MFA")


class TokenResponse(Strict):
    token: str
    token_type: str = "Bearer"
    expires_at: str


@api_bp.post("/auth/token")
@limiter.limit(sign_in_limit)
@operation("Exchange credentials for a short-lived personal token", body=TokenRequest,
           response=TokenResponse, public=True, tags=("auth",), errors=(401, 415, 429))
def token(body: TokenRequest):
    minutes = current_app.config["QORGAU_SETTINGS"].token_minutes
    with transaction() as conn:
        attempt = signin.attempt_password(conn, body.username, body.password)
        if attempt.ok and attempt.user.needs_mfa:
            attempt = signin.attempt_totp(conn, attempt.user, body.totp)
        if attempt.ok:
            mfa = attempt.user.needs_mfa
            raw, expires, token_id = tokens.issue_personal(conn, attempt.user.id, attempt.user.agency_id,
                                                           minutes=minutes, mfa=mfa)
            audit_context.update(auth_strength="password+totp" if mfa else "password",
                                 session_ref=f"token:{token_id}")
            signin.succeed(conn, attempt.user, mfa=mfa, channel="api")
    if attempt.reason == "locked":
        raise TooManyRequests("Too many failed attempts for this user name; try again later.",
                              field="username", retry_after=attempt.retry_after)
    if attempt.reason == "totp_required":
        raise AuthenticationRequired("This account needs a TOTP code.", field="totp")
    if attempt.reason == "totp_invalid":
        raise AuthenticationRequired("The TOTP code is not valid or was already used.", field="totp")
    if not attempt.ok:
        raise AuthenticationRequired("Wrong user name or password.", field="password")
    return jsonify(token=raw, token_type="Bearer", expires_at=expires.isoformat())


class Me(Strict):
    id: int | None
    username: str | None
    agency_id: int | None
    roles: list[str]
    mfa: bool
    kind: str


@api_bp.get("/me")
@operation("Who am I", response=Me, tags=("auth",), scope=ANY_TOKEN)
def me():
    if g.actor is None:
        raise AuthenticationRequired("Send a Bearer token.", field="Authorization")
    a = g.actor
    return jsonify(id=a.user_id, username=a.username, agency_id=a.agency_id,
                   roles=sorted(a.roles), mfa=a.mfa, kind=a.kind)
