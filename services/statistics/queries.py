"""The statistics functions of migration 0012 (SECURITY DEFINER: aggregates only, for oversight
and the council of the region), and the region's districts."""
from __future__ import annotations

from services.statistics.records import Period

ARGS = "(%(region)s, %(start)s, %(end)s, %(district)s)"


def _args(region_id: int, period: Period, district_id: int | None) -> dict:
    return {"region": region_id, "start": period.start, "end": period.end, "district": district_id}


def districts(conn, region_id: int) -> list[dict]:
    """The region's districts: id, code, name, by name."""
    return conn.execute("SELECT id, code, name FROM districts WHERE region_id = %s ORDER BY name, code",
                        (region_id,)).fetchall()


def referrals(conn, region_id: int, period: Period, district_id: int | None) -> list[dict]:
    """Referrals by ISO week (its Monday), district id and category, with every margin."""
    return conn.execute(f"SELECT * FROM qorgau_statistics_referrals{ARGS}",
                        _args(region_id, period, district_id)).fetchall()


def outcomes(conn, region_id: int, period: Period, district_id: int | None) -> list[dict]:
    """Referrals by priority and screening outcome, with the margins."""
    return conn.execute(f"SELECT * FROM qorgau_statistics_outcomes{ARGS}",
                        _args(region_id, period, district_id)).fetchall()


def compliance(conn, region_id: int, period: Period, district_id: int | None) -> list[dict]:
    """Deadlines due in the period by clock kind and on time / late / open and overdue."""
    return conn.execute(f"SELECT * FROM qorgau_statistics_compliance{ARGS}",
                        _args(region_id, period, district_id)).fetchall()


def first_contact(conn, region_id: int, period: Period, district_id: int | None) -> list[dict]:
    """Completed first contacts by priority: how many, median and 90th percentile hours."""
    return conn.execute(f"SELECT * FROM qorgau_statistics_first_contact{ARGS}",
                        _args(region_id, period, district_id)).fetchall()
