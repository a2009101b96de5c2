"""What an audit event may contain: identifiers and codes, never content or secrets.

An event is read by people who must not learn a child's story from it, and it can never be
deleted, so a value that does not belong there cannot be taken back. Everything is therefore
checked before it is written: free text has no field to go in, and ``details`` holds a handful of
small values under names that say what they are.
"""
from __future__ import annotations

import re
from typing import Any

CODE = re.compile(r"[A-Za-z0-9_.:+\-]{1,64}")  # ids, codes, ISO times; no spaces, no '@'
NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
PURPOSE = re.compile(r"[a-z][a-z0-9_.:\-]{0,63}")

MAX_KEYS = 16
MAX_LIST = 32
MAX_INT = 2**63 - 1

# A details key is refused when one of its words names something that must never be stored;
# keys that end in these suffixes name a reference to such a thing, which is fine (token_id).
FORBIDDEN_WORDS = frozenset({
    "password", "passwd", "passphrase", "secret", "token", "totp", "otp", "pin", "cookie",
    "session", "content", "text", "note", "notes", "body", "narrative", "comment", "comments",
    "description", "message", "name", "surname", "email", "phone", "address", "dob", "iin",
})
REFERENCE_SUFFIXES = ("id", "ids", "count", "kind", "type", "status", "ref")


class AuditValueError(ValueError):
    """A value offered to the audit trail that it must not store; the message names the field."""


def check_name(field: str, value: str) -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise AuditValueError(f"{field} must be a lowercase identifier, got {value!r}")
    return value


def check_code(field: str, value: Any) -> str | None:
    """An id or code as text (ints are accepted and converted)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise AuditValueError(f"{field} must be an id or a code")
    text = str(value)
    if not CODE.fullmatch(text):
        raise AuditValueError(f"{field} must be an id or a code of at most 64 characters "
                              "without spaces")
    return text


def check_purpose(value: str | None) -> str | None:
    """A purpose is a code (``screening``, ``emergency_access``); the free-text reason stays in the
    business record, which the event points to."""
    if value is None:
        return None
    if not isinstance(value, str) or not PURPOSE.fullmatch(value):
        raise AuditValueError("purpose must be a short code such as 'screening', not free text")
    return value


def check_int(field: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_INT:
        raise AuditValueError(f"{field} must be an integer id")
    return value


def _check_key(key: Any) -> None:
    if not isinstance(key, str) or not NAME.fullmatch(key):
        raise AuditValueError(f"details key {key!r} must be a lowercase identifier")
    words = key.split("_")
    if words[-1] in REFERENCE_SUFFIXES and len(words) > 1:
        return
    bad = FORBIDDEN_WORDS.intersection(words)
    if bad:
        raise AuditValueError(f"details key {key!r} names something the audit trail never stores "
                              f"({', '.join(sorted(bad))})")


def _check_scalar(key: str, value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return check_int(f"details.{key}", value)
    if isinstance(value, str):
        if value == "":
            return value
        return check_code(f"details.{key}", value)
    raise AuditValueError(f"details.{key} must be an integer, a boolean, null or a code")


def check_details(details: Any) -> dict:
    """A flat document of at most 16 ids, codes, booleans or short lists of them."""
    if details is None:
        return {}
    if not isinstance(details, dict):
        raise AuditValueError("details must be a dict")
    if len(details) > MAX_KEYS:
        raise AuditValueError(f"details has more than {MAX_KEYS} keys")
    clean = {}
    for key, value in details.items():
        _check_key(key)
        if isinstance(value, (list, tuple, set, frozenset)):
            if len(value) > MAX_LIST:
                raise AuditValueError(f"details.{key} has more than {MAX_LIST} items")
            items = sorted(value) if isinstance(value, (set, frozenset)) else list(value)
            clean[key] = [_check_scalar(key, v) for v in items]
        else:
            clean[key] = _check_scalar(key, value)
    return clean
