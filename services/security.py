"""CSRF protection, rate limiting and security headers for every response."""
from __future__ import annotations

import logging

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)

log = logging.getLogger("qorgau.security")


def sign_in_limit() -> str:
    """Requests per client address allowed on the sign-in and token endpoints."""
    return current_app.config["QORGAU_SETTINGS"].sign_in_rate_limit

# No inline scripts or styles anywhere: every asset is a file served by the app.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)


def init_app(app: Flask) -> None:
    """Protect forms with CSRF tokens, throttle sign-in, and add headers to every response."""
    settings = app.config["QORGAU_SETTINGS"]
    csrf.init_app(app)
    app.config["RATELIMIT_STORAGE_URI"] = settings.ratelimit_storage_url
    # If Redis is down the limiter falls back to memory rather than failing sign-in.
    app.config["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] = True
    app.config["RATELIMIT_STORAGE_OPTIONS"] = {"socket_connect_timeout": 1, "socket_timeout": 1}
    limiter.init_app(app)

    @app.after_request
    def _headers(response):
        h = response.headers
        h.setdefault("Content-Security-Policy", CSP)
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Referrer-Policy", "same-origin")
        h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if settings.cookie_secure:
            h.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if not request.path.startswith("/static/"):
            # Pages and API answers may hold case data: never cache them anywhere.
            h["Cache-Control"] = "no-store"
            h.setdefault("Pragma", "no-cache")
        return response
