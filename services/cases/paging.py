"""Opaque keyset cursors: the position after the last item of a page, as url-safe base64 JSON.

A cursor only says where the previous page stopped; every page is filtered by the access rules
again, so a forged cursor can skip ahead but never reveal anything.
"""
from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from services.errors import NotFound, ValidationFailed

MAX_LIMIT = 100
MAX_ID = 2**63 - 1


def ids_fit(endpoint, values) -> None:
    """A blueprint's url_value_preprocessor: ids beyond bigint cannot exist, so they are a 404
    before PostgreSQL is asked about them (it would refuse the number, not answer "no")."""
    for value in (values or {}).values():
        if isinstance(value, int) and not 0 < value <= MAX_ID:
            raise NotFound("No such record, or it is not yours to see.")


def encode(*values) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values],
                     separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> list:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValidationFailed("The cursor is not one this API gave out.", field="cursor") from None
    if not isinstance(values, list):
        raise ValidationFailed("The cursor is not one this API gave out.", field="cursor")
    return values


def decode_id(cursor: str | None) -> int | None:
    """The id a newest-first page continues below."""
    if cursor is None:
        return None
    values = _decode(cursor)
    if len(values) != 1 or not isinstance(values[0], int) or isinstance(values[0], bool) \
            or not 0 < values[0] < 2**63:
        raise ValidationFailed("The cursor is not one this API gave out.", field="cursor")
    return values[0]


def decode_time_id(cursor: str | None) -> tuple[datetime, int] | None:
    """The (time, id) an oldest-first page continues after."""
    if cursor is None:
        return None
    values = _decode(cursor)
    try:
        when, ident = values
        moment = datetime.fromisoformat(when)
    except (ValueError, TypeError):
        raise ValidationFailed("The cursor is not one this API gave out.", field="cursor") from None
    if moment.tzinfo is None or not isinstance(ident, int) or isinstance(ident, bool) \
            or not 0 < ident < 2**63:
        raise ValidationFailed("The cursor is not one this API gave out.", field="cursor")
    return moment, ident
