"""Reading the statistics: one use-case, audited in the reader's transaction."""
from __future__ import annotations

import audit
from audit import Actor, AuditAction
from services.statistics import queries
from services.statistics.records import (
    ALL, CATEGORIES, CLOCK_KINDS, CLOCK_STATUSES, OUTCOMES, PRIORITIES, UNKNOWN_DISTRICT,
    FirstContact, Period, Statistics, Table, iso_week)
from services.statistics.suppression import suppress


def read_statistics(conn, period: Period, *, actor: Actor, reader: str, district: dict | None,
                    fmt: str = "json") -> Statistics:
    """The region's statistics for ``period`` as ``reader`` ('oversight' or 'council') may see them.

    The event records the parameters only (period, district, format), never a figure; a CSV is
    also recorded as an export.
    """
    region_id = actor.region_id
    district_id = district["id"] if district else None
    all_districts = queries.districts(conn, region_id)
    codes = {d["id"]: d["code"] for d in all_districts}
    exact = reader == "oversight"

    # The referrals are always suppressed as one cube over every district and a district's slice
    # taken afterwards, so a district's cell is hidden exactly where it is in the region's cube.
    rows = queries.referrals(conn, region_id, period, None)
    shown = [d["code"] for d in all_districts]
    if any(not r["district_all"] and r["district_id"] not in codes for r in rows):
        shown.append(UNKNOWN_DISTRICT)
    referrals = _table(("week", "district", "category"),
                       (tuple(period.weeks()), tuple(shown), CATEGORIES),
                       {(None if r["week_all"] else iso_week(r["week"]),
                         None if r["district_all"] else codes.get(r["district_id"], UNKNOWN_DISTRICT),
                         None if r["category_all"] else r["category"]): r["referrals"] for r in rows})
    # The other tables have no district dimension: for the council they stay region-wide, since a
    # district's figure subtracted from the region's would give the rest of the region's.
    scoped = district_id if exact else None
    outcomes = _table(("priority", "outcome"), (PRIORITIES, OUTCOMES),
                      {(None if r["priority_all"] else r["priority"],
                        None if r["outcome_all"] else r["outcome"]): r["referrals"]
                       for r in queries.outcomes(conn, region_id, period, scoped)})
    compliance = _table(("clock_kind", "status"), (CLOCK_KINDS, CLOCK_STATUSES),
                        {(None if r["kind_all"] else r["kind"],
                          None if r["status_all"] else r["status"]): r["clocks"]
                         for r in queries.compliance(conn, region_id, period, scoped)})
    contacts = _first_contact(queries.first_contact(conn, region_id, period, scoped), exact)
    if not exact:
        referrals, outcomes, compliance = suppress(referrals), suppress(outcomes), suppress(compliance)
    if district is not None:
        referrals = referrals.slice(1, district["code"])
    audit.record(conn, actor=actor, action=AuditAction.STATISTICS_VIEWED, object_type="statistics",
                 object_id=region_id, purpose=reader,
                 details={"period_start": period.start.isoformat(), "period_end": period.end.isoformat(),
                          "district_id": district_id, "format": fmt, "suppressed": not exact})
    if fmt == "csv":
        audit.record(conn, actor=actor, action=AuditAction.EXPORT, object_type="statistics",
                     object_id=region_id, purpose="statistics",
                     details={"report": "statistics", "format": "csv", "district_id": district_id})
    return Statistics(period, region_id, exact, [{"code": d["code"], "name": d["name"]} for d in all_districts],
                      referrals, outcomes, compliance, contacts,
                      district_narrows_all=district is None or exact)


def _table(dimensions: tuple[str, ...], values: tuple[tuple, ...], found: dict) -> Table:
    """Every cell of the grid and its margins; a combination PostgreSQL did not return is 0, and
    one it returned as NULL (a small count, for the council) stays None."""
    from itertools import product

    options = [(*v, ALL) for v in values]
    return Table(dimensions, values, {key: found.get(key, 0) for key in product(*options)})


def _first_contact(rows: list[dict], exact: bool) -> list[FirstContact]:
    """By priority, then over all. For the council a count of contacts below 5 is suppressed
    (PostgreSQL returns it as NULL), and so is the smallest other one when a single count is
    suppressed, so that the total gives none back."""
    found = {None if r["priority_all"] else r["priority"]: r for r in rows}
    table = _table(("priority",), (PRIORITIES,), {(k,): r["contacts"] for k, r in found.items()})
    if not exact:
        table = suppress(table)
    out = []
    for priority in (*PRIORITIES, None):
        row = found.get(priority, {})
        median, p90 = row.get("median_hours"), row.get("p90_hours")
        out.append(FirstContact(priority, table.get(priority),
                                None if median is None else float(median),
                                None if p90 is None else float(p90)))
    return out
