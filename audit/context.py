"""Request or task context that every audit event carries, without audit importing Flask.

The web layer and the Celery task hooks set it; ``record`` reads it.
"""
from __future__ import annotations

import contextvars
from contextlib import contextmanager
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class AuditContext:
    request_id: str | None = None
    client_addr: str | None = None
    user_agent: str | None = None
    session_ref: str | None = None  # a hash of the session id, never the id itself
    auth_strength: str | None = None  # "password", "password+totp", "token", "system"
    channel: str = "system"  # "web", "api", "task", "cli"


_current: contextvars.ContextVar[AuditContext] = contextvars.ContextVar(
    "qorgau_audit_context", default=AuditContext()
)


def current() -> AuditContext:
    """The context of the request or task being served."""
    return _current.get()


def set_context(ctx: AuditContext) -> contextvars.Token:
    return _current.set(ctx)


def update(**changes) -> None:
    """Change some fields of the current context (e.g. after sign-in raises the strength)."""
    _current.set(replace(_current.get(), **changes))


@contextmanager
def bound(ctx: AuditContext):
    """Use ``ctx`` for the duration of a block (tasks, CLI commands)."""
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
