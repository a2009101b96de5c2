"""Checking credentials: password, then (for roles that need it) a single-use TOTP code.

Wrong user names and wrong passwords get the same answer and cost the same time (an argon2
verification runs either way). Failures are counted per user name, known or not, and five in a
row lock that name for 15 minutes; each failure is audited. Callers must commit the transaction
even when the attempt failed, so the count and the audit event persist: ``attempt_*`` functions
therefore return an outcome instead of raising.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import audit
from audit import Actor, AuditAction
from services.agencies import queries
from services.agencies.records import User
from services.auth import totp
from services.auth.passwords import verify_password

MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)


@dataclass(frozen=True)
class Attempt:
    """The result of a sign-in step: ``user`` when it passed, else a ``reason``."""

    user: User | None
    reason: str | None = None  # "invalid" | "locked" | "totp_required" | "totp_invalid"
    retry_after: int = 0

    @property
    def ok(self) -> bool:
        return self.user is not None and self.reason is None


def _key(username: str) -> str:
    return username.strip().lower()[:100]


def _locked_for(conn, key: str, now: datetime) -> int:
    row = conn.execute("SELECT locked_until FROM sign_in_throttle WHERE username_key = %s FOR UPDATE",
                       (key,)).fetchone()
    if row and row["locked_until"] and row["locked_until"] > now:
        return int((row["locked_until"] - now).total_seconds()) + 1
    return 0


def _register_failure(conn, key: str, now: datetime) -> None:
    row = conn.execute(
        """INSERT INTO sign_in_throttle (username_key, failures, first_failure_at)
           VALUES (%s, 1, %s)
           ON CONFLICT (username_key) DO UPDATE
              SET failures = CASE WHEN sign_in_throttle.locked_until IS NOT NULL
                                   AND sign_in_throttle.locked_until <= %s
                                  THEN 1 ELSE sign_in_throttle.failures + 1 END,
                  locked_until = CASE WHEN sign_in_throttle.locked_until <= %s THEN NULL
                                      ELSE sign_in_throttle.locked_until END
           RETURNING failures""",
        (key, now, now, now),
    ).fetchone()
    if row["failures"] >= MAX_FAILURES:
        conn.execute("UPDATE sign_in_throttle SET locked_until = %s WHERE username_key = %s",
                     (now + LOCKOUT, key))


def _clear_failures(conn, key: str) -> None:
    conn.execute("DELETE FROM sign_in_throttle WHERE username_key = %s", (key,))


def _audit_failure(conn, key: str, user_id: int | None, agency_id: int | None, reason: str) -> None:
    # The attempted name is stored only as a digest when no such user exists: people sometimes
    # type their password into the user-name field.
    details = {"reason": reason}
    if user_id is None:
        details["username_sha256"] = hashlib.sha256(key.encode()).hexdigest()[:16]
    audit.record(conn, actor=Actor(user_id=user_id, agency_id=agency_id, username=None),
                 action=AuditAction.SIGN_IN_FAILED, object_type="user",
                 object_id=None if user_id is None else str(user_id), outcome="denied",
                 details=details)


def attempt_password(conn, username: str, password: str, *, now: datetime | None = None) -> Attempt:
    """Check a user name and password; the TOTP step, if needed, comes after."""
    now = now or datetime.now(timezone.utc)
    key = _key(username)
    locked = _locked_for(conn, key, now)
    creds = queries.get_credentials(conn, key)
    good = verify_password(creds["password_hash"] if creds else None, password)
    usable = creds is not None and creds["disabled_at"] is None and creds["agency_active"]
    if locked:
        _audit_failure(conn, key, creds["id"] if creds else None, None, "locked")
        return Attempt(None, "locked", retry_after=locked)
    if not (good and usable):
        _register_failure(conn, key, now)
        user = queries.get_user(conn, creds["id"]) if creds else None
        _audit_failure(conn, key, user.id if user else None, user.agency_id if user else None, "invalid")
        return Attempt(None, "invalid")
    return Attempt(queries.get_user(conn, creds["id"]))


def attempt_totp(conn, user: User, code: str | None, *, now: datetime | None = None) -> Attempt:
    """Check a TOTP code for ``user`` (already past the password step); each code works once."""
    now = now or datetime.now(timezone.utc)
    key = _key(user.username)
    locked = _locked_for(conn, key, now)
    if locked:
        _audit_failure(conn, key, user.id, user.agency_id, "locked")
        return Attempt(None, "locked", retry_after=locked)
    creds = queries.get_credentials(conn, key)
    if not code:
        return Attempt(None, "totp_required")
    if not creds["totp_secret"] or not totp.consume_code(conn, user.id, creds["totp_secret"], code):
        _register_failure(conn, key, now)
        _audit_failure(conn, key, user.id, user.agency_id, "totp_invalid")
        return Attempt(None, "totp_invalid")
    if creds["totp_enrolled_at"] is None:
        conn.execute("UPDATE users SET totp_enrolled_at = %s WHERE id = %s", (now, user.id))
        audit.record(conn, actor=actor_for(user, mfa=True), action=AuditAction.TOTP_ENROLLED,
                     object_type="user", object_id=str(user.id))
    return Attempt(queries.get_user(conn, user.id))


def start_enrolment(conn, user: User) -> str:
    """Give ``user`` a new (unconfirmed) TOTP secret unless one is already enrolled."""
    creds = queries.get_credentials(conn, user.username)
    if creds["totp_enrolled_at"] is not None:
        return creds["totp_secret"]
    if creds["totp_secret"]:
        return creds["totp_secret"]
    secret = totp.new_secret()
    conn.execute("UPDATE users SET totp_secret = %s WHERE id = %s", (secret, user.id))
    return secret


def succeed(conn, user: User, *, mfa: bool, channel: str) -> None:
    """Reset the failure count and audit the sign-in."""
    _clear_failures(conn, _key(user.username))
    action = AuditAction.SIGN_IN if channel == "web" else AuditAction.TOKEN_ISSUED
    audit.record(conn, actor=actor_for(user, mfa=mfa), action=action, object_type="user",
                 object_id=str(user.id), details={"mfa": mfa, "channel": channel})


def actor_for(user: User, *, mfa: bool) -> Actor:
    """The acting identity of a signed-in user."""
    return Actor(user_id=user.id, agency_id=user.agency_id, roles=frozenset(user.roles),
                 username=user.username, region_id=user.region_id, kind="user", mfa=mfa)
