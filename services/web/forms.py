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
