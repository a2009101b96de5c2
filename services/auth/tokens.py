"""Bearer tokens: short-lived personal tokens and long-lived, scoped agency-system tokens.

Only a SHA-256 of each token is stored; the token itself is shown once, when issued.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta, timezone

from services.agencies.queries import USER_SELECT

PREFIX = "qg_"
# What an agency's own system may do with a token of its agency (DESIGN.md §7). A system never
# sees more than its agency's staff: it acts for one named person of the agency, or reads the
# status its agency's referrers read. Each API operation declares the scope it needs
# (services.api.spec.operation); an operation that declares none refuses system tokens.
AGENCY_SCOPES = ("referrals:write", "referrals:read")
SCOPE_MEANINGS = {
    "referrals:write": "file and submit a referral in the name of an enabled caseworker or "
                       "supervisor of the agency (on_behalf_of), with that person's rights",
    "referrals:read": "read the status of the agency's referrals (received, accepted, no further "
                      "action, closed), never their content",
}
TOUCH_EVERY = timedelta(minutes=1)


def _hash(raw: str) -> bytes:
    return hashlib.sha256(raw.encode()).digest()


def issue_personal(conn, user_id: int, agency_id: int, *, minutes: int, mfa: bool) -> tuple[str, datetime, int]:
    """A personal token for ``user_id`` valid for ``minutes``; returns (token, expiry, id)."""
    raw = PREFIX + secrets.token_urlsafe(32)
    expires = datetime.now(timezone.utc) + timedelta(minutes=minutes)
    row = conn.execute(
        "INSERT INTO api_tokens (token_hash, kind, user_id, agency_id, name, mfa, created_by, expires_at)"
        " VALUES (%s, 'personal', %s, %s, 'personal', %s, %s, %s) RETURNING id",
        (_hash(raw), user_id, agency_id, mfa, user_id, expires),
    ).fetchone()
    return raw, expires, row["id"]


def create_agency_token(conn, agency_id: int, *, name: str, scopes: list[str], created_by: int,
                        expires_at: datetime | None) -> tuple[str, int]:
    """A long-lived token for an agency's own system; returns (token, id)."""
    raw = PREFIX + secrets.token_urlsafe(32)
    row = conn.execute(
        "INSERT INTO api_tokens (token_hash, kind, agency_id, name, scopes, created_by, expires_at)"
        " VALUES (%s, 'agency_system', %s, %s, %s, %s, %s) RETURNING id",
        (_hash(raw), agency_id, name, scopes, created_by, expires_at),
    ).fetchone()
    return raw, row["id"]


def look_up(conn, raw: str, *, now: datetime):
    """Send the statement that finds ``raw``'s live token: its cursor (rows not read yet, so it
    can go out in a pipeline), or None for what cannot be a token. ``note_use`` reads it."""
    if not raw.startswith(PREFIX) or len(raw) > 100:
        return None
    return conn.execute(
        f"""SELECT t.id, t.kind, t.user_id, t.agency_id, t.scopes, t.mfa, t.expires_at, t.last_used_at,
                   a.region_id, to_jsonb(p) AS person
              FROM api_tokens t
              JOIN agencies a ON a.id = t.agency_id AND a.is_active
              LEFT JOIN users u ON u.id = t.user_id
              LEFT JOIN LATERAL ({USER_SELECT} WHERE u.id = t.user_id) p ON true
             WHERE t.token_hash = %s AND t.revoked_at IS NULL
               AND (t.expires_at IS NULL OR t.expires_at > %s)
               AND (t.user_id IS NULL OR u.disabled_at IS NULL)""",
        (_hash(raw), now))


def note_use(conn, found, *, now: datetime):
    """The row ``look_up`` found (or None), its use noted at most once per ``TOUCH_EVERY``, and
    never waited for: when another request holds the token's row (noting the same use), this one
    leaves it to that one."""
    row = found.fetchone() if found is not None else None
    if row and (row["last_used_at"] is None or now - row["last_used_at"] > TOUCH_EVERY):
        conn.execute("UPDATE api_tokens SET last_used_at = %s"
                     " WHERE id = (SELECT id FROM api_tokens WHERE id = %s FOR UPDATE SKIP LOCKED)",
                     (now, row["id"]))
    return row


def list_agency_tokens(conn, agency_id: int) -> list[dict]:
    """An agency's system tokens, newest first: what they are, never the token or its hash."""
    return conn.execute(
        "SELECT id, name, scopes, created_by, created_at, expires_at, revoked_at, last_used_at"
        " FROM api_tokens WHERE agency_id = %s AND kind = 'agency_system' ORDER BY id DESC",
        (agency_id,)).fetchall()


def revoke(conn, token_id: int) -> int:
    return conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL",
                        (token_id,)).rowcount


def revoke_personal_for_user(conn, user_id: int) -> int:
    return conn.execute("UPDATE api_tokens SET revoked_at = now()"
                        " WHERE user_id = %s AND revoked_at IS NULL", (user_id,)).rowcount
