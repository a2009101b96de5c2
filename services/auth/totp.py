"""Time-based one-time passwords (RFC 6238 via pyotp), each code usable once."""
from __future__ import annotations

import time

import pyotp
import segno

STEP = 30
ISSUER = "Qorgau"


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_data_uri(uri: str) -> str:
    """The enrolment QR code as an SVG data URI, rendered on the server (no script, no CDN)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2)


def matching_step(secret: str, code: str, *, now: float | None = None) -> int | None:
    """The time step (±1 for clock drift) whose code equals ``code``, or None."""
    code = (code or "").strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int((now or time.time()) // STEP)
    for step in (current, current - 1, current + 1):
        if pyotp.utils.strings_equal(totp.at(step * STEP), code):
            return step
    return None


def consume_code(conn, user_id: int, secret: str, code: str) -> bool:
    """Accept ``code`` once: a replayed or older code is refused, even under concurrency."""
    step = matching_step(secret, code)
    if step is None:
        return False
    cur = conn.execute(
        "UPDATE users SET totp_last_step = %s"
        " WHERE id = %s AND (totp_last_step IS NULL OR totp_last_step < %s)",
        (step, user_id, step),
    )
    return cur.rowcount == 1
