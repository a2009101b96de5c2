"""Helpers for signing in through the real pages and API."""
from __future__ import annotations

import re

from tests.factories import TestUser

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client, path: str = "/auth/login") -> str:
    page = client.get(path)
    match = CSRF_RE.search(page.get_data(as_text=True))
    assert match, "the page has no CSRF token"
    return match.group(1)


def sign_in(client, user: TestUser, *, password: str | None = None, code: str | None = None):
    """Sign ``user`` in through the form (and the TOTP step when the role needs it)."""
    response = client.post("/auth/login", data={"username": user.username,
                                                "password": password or user.password})
    if response.status_code == 302 and response.headers["Location"].endswith("/auth/totp"):
        response = client.post("/auth/totp", data={"code": code or user.totp_now()})
    return response


def token_for(client, user: TestUser, **extra) -> str:
    body = {"username": user.username, "password": user.password}
    if user.totp_secret:
        body["totp"] = user.totp_now()
    body.update(extra)
    response = client.post("/api/v1/auth/token", json=body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["token"]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}
