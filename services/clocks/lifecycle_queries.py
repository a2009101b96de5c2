"""SQL for stopping clocks selectively, handing them over and asking which run (migration
0009_clock_lifecycle).

Both go through SECURITY DEFINER functions, like starting and stopping in ``queries``: the action
that completes work has authorised itself, and its actor often cannot see the clock it stops.
"""
from __future__ import annotations

from datetime import datetime


def stop(conn, subject_type: str, subject_id: int, kinds: list[str] | None, agency_id: int | None,
         at: datetime, by: int | None, reason: str) -> list[dict]:
    """Stop the subject's running clocks of ``kinds`` (None: all) owned by ``agency_id`` (None:
    any): [{clock_id, child_id, escalation_id, kind, agency_id, started_at}]."""
    return conn.execute(
        "SELECT clock_id, child_id, escalation_id, kind, agency_id, started_at"
        " FROM clocks_stop_for(%s, %s, %s, %s, %s, %s, %s)",
        (subject_type, subject_id, kinds, agency_id, at, by, reason)).fetchall()


def running(conn, subject_type: str, subject_id: int) -> list[tuple[str, int]]:
    """(kind, owning agency) of each clock running for the subject."""
    rows = conn.execute("SELECT kind, agency_id FROM clocks_running(%s, %s)",
                        (subject_type, subject_id)).fetchall()
    return [(r["kind"], r["agency_id"]) for r in rows]


def transfer(conn, subject_type: str, subject_id: int, from_agency_id: int,
             to_agency_id: int) -> list[dict]:
    """Give the subject's running clocks of one agency to another, unassigned:
    [{clock_id, child_id, kind, escalation_id}]."""
    return conn.execute("SELECT clock_id, child_id, kind, escalation_id"
                        " FROM clocks_transfer(%s, %s, %s, %s)",
                        (subject_type, subject_id, from_agency_id, to_agency_id)).fetchall()
