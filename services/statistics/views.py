"""API: the region's statistics for oversight (exact) and the council (small counts suppressed),
as JSON or CSV."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, g, jsonify
from pydantic import ConfigDict, Field, create_model

from services.access import require_signed_in
from services.api.spec import Strict, operation
from services.db import transaction
from services.errors import ValidationFailed
from services.security import csrf
from services.statistics import access, actions, export
from services.statistics.records import (
    PERIOD_PROBLEMS, Period, Statistics, default_period, period_problem)

api_bp = Blueprint("statistics_api", __name__, url_prefix="/api/v1")
csrf.exempt(api_bp)

StatisticsQuery = create_model(
    "StatisticsQuery", __config__=ConfigDict(extra="forbid"),
    **{"from": (date | None, Field(default=None, description="first day, YYYY-MM-DD (default: "
                                                              "twelve weeks before 'to')")),
       "to": (date | None, Field(default=None, description="last day, YYYY-MM-DD (default: today);"
                                                          " at most two years after 'from'")),
       "district": (str | None, Field(default=None, pattern=r"^[a-z0-9-]{2,40}$",
                                      description="a district code of your region"))})


class Cell(Strict):
    count: int | None = Field(description="null when suppressed (shown as <5)")
    suppressed: bool


class ReferralCell(Cell):
    week: str | None = Field(description="ISO week (2026-W47); null: all weeks")
    district: str | None = Field(description="district code, or 'unknown'; null: all districts")
    category: str | None = Field(description="null: all categories")


class OutcomeCell(Cell):
    priority: str | None
    outcome: str | None = Field(description="pending, accepted, screened_out, redirected; null: all")


class ComplianceCell(Cell):
    clock_kind: str | None
    status: str | None = Field(description="on_time, late, open_overdue; null: all")


class FirstContactOut(Strict):
    priority: str | None
    contacts: int | None
    median_hours: float | None
    p90_hours: float | None


class PeriodOut(Strict):
    start: date = Field(alias="from")
    end: date = Field(alias="to")
    district: str | None


class StatisticsOut(Strict):
    period: PeriodOut
    exact: bool = Field(description="false: counts below 5 and complementary cells are suppressed")
    district_narrows_all: bool = Field(description="false (the council asking for a district): "
                                                   "outcomes, compliance and first contact are "
                                                   "for the whole region")
    suppression_threshold: int
    districts: list[dict]
    referrals: list[ReferralCell]
    outcomes: list[OutcomeCell]
    compliance: list[ComplianceCell]
    first_contact: list[FirstContactOut]


def parse_period(query) -> Period:
    """The period asked for; 422 naming the field when it is not one statistics are given for."""
    today = datetime.now(ZoneInfo(current_app.config["QORGAU_SETTINGS"].timezone)).date()
    start, end = getattr(query, "from"), query.to
    if start is None and end is None:
        period = default_period(today)
        start, end = period.start, period.end
    elif start is None:
        start = default_period(end).start
    elif end is None:
        end = max(start, today)
    problem = period_problem(start, end)
    if problem:
        raise ValidationFailed(f"{problem[0]}: {PERIOD_PROBLEMS[problem[1]]}", field=problem[0])
    return Period(start, end, query.district)


def as_json(stats: Statistics) -> dict:
    return {
        "period": {"from": stats.period.start.isoformat(), "to": stats.period.end.isoformat(),
                   "district": stats.period.district},
        "exact": stats.exact, "district_narrows_all": stats.district_narrows_all,
        "suppression_threshold": 5, "districts": stats.districts,
        "referrals": stats.referrals.rows(), "outcomes": stats.outcomes.rows(),
        "compliance": stats.compliance.rows(),
        "first_contact": [{"priority": r.priority, "contacts": r.contacts,
                           "median_hours": r.median_hours, "p90_hours": r.p90_hours}
                          for r in stats.first_contact],
    }


def read(period: Period, fmt: str) -> Statistics:
    """Check access, read and audit, in one transaction (a CSV is also recorded as an export)."""
    actor = require_signed_in(g.actor)
    with transaction(actor) as conn:
        reader, district = access.access_statistics(conn, actor, period.district)
        stats = actions.read_statistics(conn, period, actor=actor, reader=reader,
                                        district=district, fmt=fmt)
    return stats


@api_bp.get("/statistics")
@operation("The region's statistics for oversight (exact) and the council (counts below 5 "
           "suppressed): referrals by week, district and category; screening outcomes by "
           "priority; deadline compliance; time to first contact", query=StatisticsQuery,
           response=StatisticsOut, tags=("statistics",), errors=(404,))
def statistics(query):
    return jsonify(as_json(read(parse_period(query), "json")))


@api_bp.get("/statistics.csv")
@operation("The same statistics as CSV (recorded as an export)", query=StatisticsQuery,
           tags=("statistics",), errors=(404,))
def statistics_csv(query):
    return export.csv_response(read(parse_period(query), "csv"))
