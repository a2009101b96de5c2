"""The statistics page for oversight (exact figures) and the council (counts below 5 suppressed):
tables with simple charts, a period and district filter that works without JavaScript, and the
CSV. Access, figures and audit are ``services.statistics``'s, as the API's."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, render_template, request, url_for
from flask_babel import gettext as _

from services.db import transaction
from services.errors import NotFound
from services.statistics import access, actions, export, queries
from services.statistics.charts import bar_chart
from services.statistics.records import (
    CATEGORIES, CLOCK_KINDS, CLOCK_STATUSES, OUTCOMES, PRIORITIES, SUPPRESSED, Period,
    default_period, period_problem)
from services.web import labels
from services.web.forms import FormErrors
from services.web.reports import _day, _signed_in

bp = Blueprint("statistics_web", __name__)


def _period(errors: FormErrors) -> Period:
    """The period of the form, or the last twelve weeks; problems go to ``errors``."""
    today = datetime.now(ZoneInfo(current_app.config["QORGAU_SETTINGS"].timezone)).date()
    fallback = default_period(today)
    start, end = _day(errors, "from"), _day(errors, "to")
    start = start or (default_period(end).start if end else fallback.start)
    end = end or max(start, today)
    district = (request.args.get("district") or "").strip() or None
    if not errors and (problem := period_problem(start, end)):
        messages = {"end_before_start": _("The end date is before the start date."),
                    "too_long": _("A period may be at most two years long.")}
        errors.add(problem[0], messages[problem[1]])
    return Period(start, end, district)


def _shown(value) -> str:
    return SUPPRESSED if value is None else str(value)


@bp.get("/statistics")
def statistics():
    """The region's statistics; ``format=csv`` downloads them (recorded as an export)."""
    actor = _signed_in()
    errors = FormErrors()
    period = _period(errors)
    wants_csv = request.args.get("format") == "csv"
    with transaction(actor) as conn:
        try:
            reader, district = access.access_statistics(conn, actor, period.district)
        except NotFound:
            if not errors:
                errors.status = 404
            errors.add("district", _("No such district in your region."))
            period = Period(period.start, period.end, None)
            reader, district = access.access_statistics(conn, actor, None)
        if errors:
            districts = [{"code": d["code"], "name": d["name"]}
                         for d in queries.districts(conn, actor.region_id)]
            return render_template("statistics/index.html", stats=None, errors=errors,
                                   period=period, args=request.args, districts=districts), errors.status
        stats = actions.read_statistics(conn, period, actor=actor, reader=reader, district=district,
                                        fmt="csv" if wants_csv else "html")
    if wants_csv:
        return export.csv_response(stats)
    csv_url = url_for("statistics_web.statistics", format="csv", district=period.district,
                      **{"from": period.start.isoformat(), "to": period.end.isoformat()})
    return render_template("statistics/index.html", stats=stats, errors=errors, period=period,
                           args=request.args, districts=stats.districts, csv_url=csv_url,
                           **_views(stats))


def _views(stats) -> dict:
    """What the template draws: table rows and chart geometry, figures as shown to the reader."""
    refs, weeks = stats.referrals, stats.referrals.values[0]
    shown_districts, chosen = stats.referrals.values[1], stats.period.district
    names = {d["code"]: d["name"] for d in stats.districts}
    by_week = [{"label": w, "cells": [_shown(refs.get(w, chosen, c)) for c in CATEGORIES],
                "total": _shown(refs.get(w, chosen, None))} for w in weeks]
    by_district = [{"label": names.get(d, _("District not recorded")),
                    "cells": [_shown(refs.get(None, d, c)) for c in CATEGORIES],
                    "total": _shown(refs.get(None, d, None))} for d in shown_districts]
    category_totals = [_shown(refs.get(None, chosen, c)) for c in CATEGORIES]
    outcomes = [{"label": labels.label(labels.PRIORITIES, p),
                 "cells": [_shown(stats.outcomes.get(p, o)) for o in OUTCOMES],
                 "total": _shown(stats.outcomes.get(p, None))} for p in (*PRIORITIES, None)]
    compliance = [{"label": labels.label(labels.CLOCK_KINDS, k),
                   "cells": [_shown(stats.compliance.get(k, s)) for s in CLOCK_STATUSES],
                   "total": _shown(stats.compliance.get(k, None))}
                  for k in CLOCK_KINDS]
    compliance.append({"label": None, "cells": [_shown(stats.compliance.get(None, s)) for s in CLOCK_STATUSES],
                       "total": _shown(stats.compliance.get(None, None))})
    status_labels = {"on_time": _("On time"), "late": _("Late"), "open_overdue": _("Open and overdue")}
    return {
        "by_week": by_week, "by_district": by_district, "category_totals": category_totals,
        "grand_total": _shown(refs.get(None, chosen, None)),
        "outcomes": outcomes, "compliance": compliance, "status_labels": status_labels,
        "categories": CATEGORIES, "outcome_codes": OUTCOMES, "statuses": CLOCK_STATUSES,
        "week_chart": bar_chart([(w, refs.get(w, chosen, None)) for w in weeks]),
        "compliance_chart": bar_chart([(status_labels[s], stats.compliance.get(None, s))
                                       for s in CLOCK_STATUSES]),
        "contact_chart": bar_chart([(labels.label(labels.PRIORITIES, r.priority), r.median_hours)
                                    for r in stats.first_contact if r.priority], missing="—"),
    }
