"""Who did what, and who saw what: Qorgau's tamper-evident audit trail.

The whole interface other code needs::

    from audit import record, AuditAction, Actor
    record(conn, actor=actor, action=AuditAction.CHILD_VIEWED, object_type="child",
           object_id=str(child_id), child_id=child_id, purpose="screening")
"""
from audit.events import Actor, AuditAction, Outcome
from audit.trail import record

__all__ = ["Actor", "AuditAction", "Outcome", "record"]
