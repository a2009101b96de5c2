"""Field-level messages for HTML forms: what went wrong, next to the field it concerns.

A refused form answers 4xx with the form re-rendered, each message naming its field, and nothing
changed (the action's transaction rolled back).
"""
from __future__ import annotations

from flask_babel import gettext as _

from services.errors import QorgauError


class FormErrors(dict):
    """Messages by field name; ``status`` is the HTTP status to answer with."""

    status = 422

    def add(self, field: str, message: str) -> None:
        self.setdefault(field, message)


def from_error(exc: QorgauError, messages: dict[str, str] | None = None,
               default_field: str = "form") -> FormErrors:
    """The action's error as form messages, translated where this form knows the field."""
    errors = FormErrors()
    errors.status = exc.status
    known = messages or {}
    items = exc.errors or [{"field": exc.field or default_field, "message": exc.detail}]
    for item in items:
        field = item.get("field") or default_field
        errors.add(field, known.get(field, item.get("message") or exc.detail))
    return errors


def required(form, errors: FormErrors, field: str, message: str | None = None) -> str:
    """The stripped value of ``field``, noting a message when it is empty."""
    value = (form.get(field) or "").strip()
    if not value:
        errors.add(field, message or _("This field is required."))
    return value


def local_datetime(form, errors: FormErrors, field: str, *, optional: bool = True):
    """A ``datetime-local`` input read in the region's time zone, as an aware datetime."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from flask import current_app

    raw = (form.get(field) or "").strip()
    if not raw:
        if not optional:
            errors.add(field, _("This field is required."))
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        errors.add(field, _("Enter a date and time such as 2026-03-21 14:30."))
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(current_app.config["QORGAU_SETTINGS"].timezone))
    return value


def integer(form, errors: FormErrors, field: str, *, optional: bool = False,
            minimum: int = 1) -> int | None:
    """A whole number of at least ``minimum`` (positive by default), or a message on ``field``."""
    raw = (form.get(field) or "").strip()
    if not raw:
        if not optional:
            errors.add(field, _("This field is required."))
        return None
    if not raw.isdigit() or not minimum <= int(raw) < 2**63:
        errors.add(field, _("Choose one of the options offered."))
        return None
    return int(raw)


def choice(form, errors: FormErrors, field: str, options, message: str | None = None) -> str:
    """The value of ``field`` if it is one of ``options``, else a message on ``field``."""
    value = form.get(field, "")
    if value not in options:
        errors.add(field, message or _("Choose one of the options offered."))
    return value


def refuse_unstorable() -> None:
    """Refuse a page request carrying a NUL character (PostgreSQL text cannot hold one) with a
    4xx naming the field, before any form reaches an action; the API checks its own fields."""
    from flask import request

    from services.errors import NotFound, ValidationFailed

    if request.path.startswith("/api/"):
        return
    if "\x00" in request.path:
        raise NotFound("No such page.")
    for source in (request.args, request.form):
        for field, value in source.items(multi=True):
            if "\x00" in field or "\x00" in value:
                name = field.replace("\x00", "")
                raise ValidationFailed(_("The field %(field)s contains a character that cannot be "
                                         "stored (NUL). Remove it and send the form again.",
                                         field=name), field=name)
