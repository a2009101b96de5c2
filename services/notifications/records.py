"""Notifications and what a delivery needs to know, as plain data."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Notification:
    id: int
    outbox_id: int
    user_id: int
    kind: str
    subject_type: str | None
    subject_id: int | None
    child_id: int | None
    refs: dict
    created_at: datetime
    read_at: datetime | None


@dataclass(frozen=True)
class Recipient:
    user_id: int
    language: str
    email: str | None


@dataclass(frozen=True)
class Notice:
    """One outbox row made ready to deliver: what happened, to what, for whom."""

    outbox_id: int
    kind: str
    refs: dict
    subject_type: str | None = None
    subject_id: int | None = None
    child_id: int | None = None
    clock_kind: str | None = None
    due_at: datetime | None = None
    timezone: str = "Asia/Aqtau"
    recipients: tuple[Recipient, ...] = field(default=())
