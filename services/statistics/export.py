"""The statistics as one CSV: a row per published figure, "<5" where the council's is suppressed."""
from __future__ import annotations

import csv
import io

from flask import Response

from services.statistics.records import SUPPRESSED, Statistics

COLUMNS = ("table", "week", "district", "category", "priority", "outcome", "clock_kind", "status",
           "count", "median_hours", "p90_hours")
ALL_LABEL = "all"


def _key(value) -> str:
    return ALL_LABEL if value is None else str(value)


def _count(value) -> str:
    return SUPPRESSED if value is None else str(value)


def to_csv(stats: Statistics) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, restval="", lineterminator="\r\n")
    writer.writeheader()
    for name, table in (("referrals", stats.referrals), ("outcomes", stats.outcomes),
                        ("compliance", stats.compliance)):
        for key, value in table.cells.items():
            writer.writerow({"table": name, **{d: _key(k) for d, k in zip(table.dimensions, key)},
                             "count": _count(value)})
    for row in stats.first_contact:
        writer.writerow({"table": "first_contact", "priority": _key(row.priority),
                         "count": _count(row.contacts),
                         "median_hours": "" if row.median_hours is None else row.median_hours,
                         "p90_hours": "" if row.p90_hours is None else row.p90_hours})
    return out.getvalue()


def csv_response(stats: Statistics) -> Response:
    """The CSV as a download named after the period."""
    name = f"statistics-{stats.period.start.isoformat()}-{stats.period.end.isoformat()}.csv"
    return Response(to_csv(stats), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
