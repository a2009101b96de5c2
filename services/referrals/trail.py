"""Audit events about referrals, one per child named, so that each child's "who has seen or
changed this record" report (DESIGN.md §5) lists them."""
from __future__ import annotations

import audit
from audit import Actor, AuditAction


def record_for_children(conn, actor: Actor, action: AuditAction, object_type: str, object_id,
                        child_ids: list[int], *, purpose: str | None = None, **details) -> None:
    """Write ``action`` once per child (once without a child when none is named)."""
    for child_id in child_ids or [None]:
        audit.record(conn, actor=actor, action=action, object_type=object_type, object_id=object_id,
                     child_id=child_id, purpose=purpose, details=details or None)
