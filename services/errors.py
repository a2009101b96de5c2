"""Typed errors raised by actions, and their translation into HTTP answers.

API requests (``/api/...``) get RFC 9457 problem details; pages get a rendered error page.
Every error names the field at fault where there is one. No request produces a bare 500.
"""
from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger("qorgau.errors")

PROBLEM_BASE = "https://qorgau.kz/problems/"


class QorgauError(Exception):
    """Base for errors that map to a 4xx answer."""

    status = 400
    slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str = "", *, field: str | None = None, errors=None, **extra):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.field = field
        self.errors = errors or ([{"field": field, "message": self.detail}] if field else [])
        self.extra = extra


class ValidationFailed(QorgauError):
    status = 422
    slug = "validation-failed"
    title = "The request is not valid"


class NotFound(QorgauError):
    """Also raised for records the actor may not see: the two must look the same."""

    status = 404
    slug = "not-found"
    title = "Not found"


class AuthenticationRequired(QorgauError):
    status = 401
    slug = "authentication-required"
    title = "Authentication required"


class AccessDenied(QorgauError):
    status = 403
    slug = "forbidden"
    title = "Not allowed"


class Conflict(QorgauError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class InvalidTransition(Conflict):
    slug = "invalid-transition"
    title = "This change is not allowed in the current state"


class TooManyRequests(QorgauError):
    status = 429
    slug = "too-many-requests"
    title = "Too many requests"


def problem(status: int, title: str, detail: str, *, slug: str, errors=None, field=None, **extra):
    """An RFC 9457 problem-details response."""
    body = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path,
    }
    if field:
        body["field"] = field
    if errors:
        body["errors"] = errors
    rid = getattr(request, "request_id", None)
    if rid:
        body["request_id"] = rid
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def wants_problem() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def register_error_handlers(app: Flask) -> None:
    """Every error, expected or not, becomes a problem document or an error page."""

    @app.errorhandler(QorgauError)
    def _qorgau(exc: QorgauError):
        if wants_problem():
            return problem(exc.status, exc.title, exc.detail, slug=exc.slug, errors=exc.errors,
                           field=exc.field, **exc.extra)
        return render_template("error.html", status=exc.status, title=exc.title,
                               detail=exc.detail), exc.status

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        status = exc.code or 500
        slug = (exc.name or "error").lower().replace(" ", "-")
        detail = exc.description or exc.name
        extra = {}
        if status == 413:
            detail = f"The request body is larger than the limit of {app.config.get('MAX_CONTENT_LENGTH')} bytes."
            extra["field"] = "body"
        if status == 405:
            extra["allowed_methods"] = sorted(set(exc.valid_methods or []) - {"OPTIONS", "HEAD"})
        if status == 400 and "CSRF" in (exc.description or ""):
            extra["field"] = "csrf_token"
        if wants_problem():
            response = problem(status, exc.name, detail, slug=slug, **extra)
            if status == 405 and exc.valid_methods:
                response.headers["Allow"] = ", ".join(exc.valid_methods)
            return response
        return render_template("error.html", status=status, title=exc.name, detail=detail), status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error", extra={"path": request.path})
        if wants_problem():
            return problem(500, "Internal error",
                           "Something went wrong on our side; nothing was changed. "
                           "Quote the request id when reporting it.", slug="internal-error")
        return render_template("error.html", status=500, title="Internal error",
                               detail="Something went wrong; nothing was changed."), 500
