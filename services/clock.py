"""The current time, in one place, so that tests can set it instead of waiting for it.

Every deadline computation and every sweep takes ``now`` from here (or as an argument). Tests
freeze or advance it with ``frozen_at``; production never touches the override.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Iterator

_lock = threading.Lock()
_frozen: datetime | None = None


def now() -> datetime:
    """The current instant as an aware UTC datetime (the frozen one while a test holds it)."""
    with _lock:
        if _frozen is not None:
            return _frozen
    return datetime.now(timezone.utc)


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("the controllable clock takes aware datetimes only")
    return at.astimezone(timezone.utc)


def set_now(at: datetime | None) -> None:
    """Freeze the clock at ``at`` (None lets it run again)."""
    global _frozen
    with _lock:
        _frozen = None if at is None else _aware(at)


def advance(delta: timedelta) -> datetime:
    """Move a frozen clock forward by ``delta`` and return the new instant."""
    global _frozen
    with _lock:
        if _frozen is None:
            raise RuntimeError("advance() needs a frozen clock; use frozen_at() first")
        _frozen = _frozen + delta
        return _frozen


@contextmanager
def frozen_at(at: datetime) -> Iterator[None]:
    """Freeze the clock at ``at`` for the duration of a block."""
    global _frozen
    with _lock:
        previous = _frozen
    set_now(at)
    try:
        yield
    finally:
        with _lock:
            _frozen = previous
