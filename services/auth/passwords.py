"""argon2id password hashing (argon2-cffi's defaults follow RFC 9106's recommendations)."""
from __future__ import annotations

import os

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

# The test suite creates thousands of users; it sets QORGAU_TEST_CHEAP_HASHING=1 to use argon2id
# with the smallest parameters. Hashes carry their parameters, so either kind verifies anywhere.
_CHEAP = os.environ.get("QORGAU_TEST_CHEAP_HASHING") == "1"
_hasher = PasswordHasher.from_parameters(profiles.CHEAPEST) if _CHEAP else PasswordHasher()
# Verified against when the user name is unknown, so both cases take the same time.
_DUMMY_HASH = _hasher.hash("qorgau-no-such-user-placeholder")
MIN_LENGTH = 12


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if ``password`` matches; always does the full work, even with no hash."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str) -> str | None:
    """Why ``password`` is too weak, or None."""
    if len(password) < MIN_LENGTH:
        return f"The password must have at least {MIN_LENGTH} characters."
    if len(password) > 256:
        return "The password must have at most 256 characters."
    return None
