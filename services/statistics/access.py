"""Who may read statistics (DESIGN.md §1, §4): oversight of the region (exact figures) and the
council of the region (small counts suppressed); nobody else. PostgreSQL's statistics functions
check the same again (migration 0012)."""
from __future__ import annotations

from audit import Actor, AuditAction
from services import access
from services.errors import AccessDenied, NotFound
from services.statistics import queries

VIEWED = AuditAction.STATISTICS_VIEWED


def reader_of(actor: Actor) -> str | None:
    """'oversight' or 'council' for a person who may read their region's statistics, else None."""
    if actor.kind != "user":
        return None
    if actor.region_id is None:
        return None
    if actor.has("oversight"):
        return "oversight"
    if actor.has("council"):
        return "council"
    return None


def access_statistics(conn, actor: Actor | None, district: str | None = None
                      ) -> tuple[str, dict | None]:
    """How the actor reads statistics ('oversight' or 'council') and the district asked for.

    :raise 401: if nobody is signed in
    :raise 403: if the actor is neither oversight nor the council (the refusal is audited)
    :raise 404: if ``district`` is not a district of the actor's region (audited)
    """
    actor = access.require_signed_in(actor)
    reader = reader_of(actor)
    if reader is None:
        access.record_denial(actor, VIEWED, "statistics", actor.region_id,
                             reason="not_oversight_or_council")
        raise AccessDenied("Statistics are for oversight and the council of the region.")
    if district is None:
        return reader, None
    found = next((d for d in queries.districts(conn, actor.region_id) if d["code"] == district), None)
    if found is None:
        access.record_denial(actor, VIEWED, "district", district, reason="district_outside_region")
        raise NotFound("No such district in your region.")
    return reader, found
