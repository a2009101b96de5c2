"""Statistics through HTTP on the real database: the figures of a known world, suppression for the
council, who is refused, and the audit trail (DESIGN.md §1, §4, §7)."""
from __future__ import annotations

import psycopg
import pytest

from services.statistics.records import Table
from services.statistics.suppression import lines
from tests.case_factories import actor_of, as_app_role, audit_events
from tests.statistics.conftest import END, PERIOD, START


def _cells(body, table, dims):
    return {tuple(row[d] for d in dims): row["count"] for row in body[table]}


def test_oversight_reads_the_exact_figures_of_the_region(api, sw):
    response = api("oversight").get(f"/api/v1/statistics?{PERIOD}")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["exact"] is True
    assert body["period"] == {"from": START, "to": END, "district": None}
    refs = _cells(body, "referrals", ("week", "district", "category"))
    assert refs[("2026-W10", "d1", "neglect")] == 7
    assert refs[("2026-W10", "d1", "physical_abuse")] == 3
    assert refs[("2026-W11", "d2", "neglect")] == 6
    assert refs[("2026-W10", None, None)] == 10
    assert refs[("2026-W11", None, None)] == 6
    assert refs[(None, "d1", None)] == 10
    assert refs[(None, None, "neglect")] == 13
    assert refs[(None, None, None)] == 16  # the draft and the earlier referral are not counted
    outcomes = _cells(body, "outcomes", ("priority", "outcome"))
    assert outcomes[("standard", "accepted")] == 5
    assert outcomes[("standard", "screened_out")] == 2
    assert outcomes[("standard", "pending")] == 6
    assert outcomes[("urgent", "accepted")] == 3
    assert outcomes[(None, None)] == 16
    compliance = _cells(body, "compliance", ("clock_kind", "status"))
    assert compliance[("first_contact", "on_time")] == 8
    assert compliance[("assessment", "late")] == 3
    assert compliance[("assessment", "open_overdue")] == 1
    assert compliance[(None, None)] == 12  # the cancelled clock is not counted
    contact = {r["priority"]: r for r in body["first_contact"]}
    assert contact["standard"] == {"priority": "standard", "contacts": 6, "median_hours": 35.0,
                                   "p90_hours": 55.0}
    assert contact["urgent"]["contacts"] == 2 and contact["urgent"]["median_hours"] == 6.0
    assert contact[None]["contacts"] == 8


def test_a_district_narrows_every_figure(api, sw):
    body = api("oversight").get(f"/api/v1/statistics?{PERIOD}&district=d2").get_json()
    refs = _cells(body, "referrals", ("week", "district", "category"))
    assert refs[(None, "d2", None)] == 6
    assert {district for _, district, _ in refs} == {"d2"}
    assert body["district_narrows_all"] is True
    assert _cells(body, "compliance", ("clock_kind", "status"))[(None, None)] == 0


def test_for_the_council_a_district_is_a_slice_of_the_regions_suppressed_figures(api, sw):
    region = api("council").get(f"/api/v1/statistics?{PERIOD}").get_json()
    district = api("council").get(f"/api/v1/statistics?{PERIOD}&district=d1").get_json()
    whole = _cells(region, "referrals", ("week", "district", "category"))
    part = _cells(district, "referrals", ("week", "district", "category"))
    assert part == {key: value for key, value in whole.items() if key[1] == "d1"}
    # The other tables stay region-wide: the region's minus a district's would give the rest.
    assert district["district_narrows_all"] is False
    assert district["outcomes"] == region["outcomes"]
    assert district["compliance"] == region["compliance"]


def test_the_council_sees_a_count_of_three_as_less_than_five(api, sw):
    body = api("council").get(f"/api/v1/statistics?{PERIOD}").get_json()
    assert body["exact"] is False
    refs = _cells(body, "referrals", ("week", "district", "category"))
    assert refs[("2026-W10", "d1", "physical_abuse")] is None
    assert refs[("2026-W11", "d2", "neglect")] == 6
    assert refs[(None, None, None)] == 16
    outcomes = _cells(body, "outcomes", ("priority", "outcome"))
    assert outcomes[("urgent", "accepted")] is None
    assert outcomes[("standard", "screened_out")] is None
    contact = {r["priority"]: r for r in body["first_contact"]}
    assert contact["urgent"] == {"priority": "urgent", "contacts": None, "median_hours": None,
                                 "p90_hours": None}
    assert contact["standard"]["median_hours"] == 35.0
    csv = api("council").get(f"/api/v1/statistics.csv?{PERIOD}").get_data(as_text=True)
    assert "referrals,2026-W10,d1,physical_abuse,,,,,<5" in csv
    assert "first_contact,,,,urgent,,,,<5,," in csv


def test_no_total_gives_the_council_a_suppressed_figure_back(api, sw):
    body = api("council").get(f"/api/v1/statistics?{PERIOD}").get_json()
    for name, dims in (("referrals", ("week", "district", "category")),
                       ("outcomes", ("priority", "outcome")), ("compliance", ("clock_kind", "status"))):
        cells = _cells(body, name, dims)
        values = tuple(tuple(dict.fromkeys(k[i] for k in cells if k[i] is not None))
                       for i in range(len(dims)))
        table = Table(dims, values, cells)
        assert all(value is None or value >= 5 for value in cells.values())
        for line in lines(table):
            assert sum(cells[key] is None for key in line) != 1, (name, line)


@pytest.mark.parametrize("user", ["caseworker", "supervisor", "agency_admin", "system_admin",
                                  "social_admin"])
def test_practitioners_and_admins_are_refused_and_the_refusal_is_audited(api, sw, admin_conn, user):
    response = api(user).get(f"/api/v1/statistics?{PERIOD}")
    assert response.status_code == 403
    assert api(user).get(f"/api/v1/statistics.csv?{PERIOD}").status_code == 403
    denied = audit_events(admin_conn, "access_denied", actor=sw.users[user].id)
    assert denied[-1]["details"]["attempted"] == "statistics_viewed"
    assert denied[-1]["object_type"] == "statistics"


def test_another_regions_oversight_cannot_reach_this_region(api, sw, admin_conn):
    far = api("far_oversight")
    assert far.get(f"/api/v1/statistics?{PERIOD}&district=d2").status_code == 404
    denied = audit_events(admin_conn, "access_denied", actor=sw.users["far_oversight"].id)
    assert denied[-1]["object_type"] == "district"
    own = far.get(f"/api/v1/statistics?{PERIOD}").get_json()
    assert _cells(own, "referrals", ("week", "district", "category"))[(None, None, None)] == 0


def test_every_read_is_audited_with_its_parameters_and_a_csv_as_an_export(api, sw, admin_conn):
    council = sw.users["council"]
    api("council").get(f"/api/v1/statistics?{PERIOD}&district=d1")
    event = audit_events(admin_conn, "statistics_viewed", actor=council.id)[-1]
    assert event["purpose"] == "council" and event["child_id"] is None
    assert event["details"] == {"period_start": START, "period_end": END,
                                "district_id": sw.districts["d1"], "format": "json", "suppressed": True}
    api("council").get(f"/api/v1/statistics.csv?{PERIOD}")
    assert audit_events(admin_conn, "statistics_viewed", actor=council.id)[-1]["details"]["format"] == "csv"
    export = audit_events(admin_conn, "export", actor=council.id, object_type="statistics")[-1]
    assert export["details"]["report"] == "statistics"


@pytest.mark.parametrize("query, field", [
    ("from=2026-02-30&to=2026-03-15", "from"),
    ("from=2026-03-01&to=soon", "to"),
    ("from=2026-03-15&to=2026-03-01", "to"),
    ("from=2024-01-01&to=2026-03-01", "to"),
    (f"{PERIOD}&district=D%201", "district"),
])
def test_bad_periods_are_refused_naming_the_field(api, sw, query, field):
    response = api("oversight").get(f"/api/v1/statistics?{query}")
    assert response.status_code == 422
    assert response.get_json()["field"] == field


def test_the_openapi_document_describes_the_statistics(client):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    operation = paths["/api/v1/statistics"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"from", "to", "district"}
    assert operation["x-agency-system-scope"] is None
    assert "/api/v1/statistics.csv" in paths


def test_the_council_reads_no_child_row_in_sql_even_while_calling_the_functions(app, sw):
    region = sw.region_id
    with app.app_context():
        council = actor_of(sw.users["council"])
    with as_app_role(app, council) as conn:
        figures = conn.execute("SELECT * FROM qorgau_statistics_outcomes(%s, %s, %s, NULL)",
                               (region, START, END)).fetchall()
        # Small counts never leave PostgreSQL for the council.
        assert all(r["referrals"] is None or r["referrals"] >= 5 for r in figures)
        for table in ("children", "referrals", "cases", "clocks", "referral_children",
                      "case_participants", "chronology_entries"):
            assert conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"] == 0, table


@pytest.mark.parametrize("user", ["caseworker", "supervisor", "system_admin", "far_oversight"])
def test_the_functions_refuse_everyone_else(app, sw, user):
    with app.app_context():
        actor = actor_of(sw.users[user])
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with as_app_role(app, actor) as conn:
            conn.execute("SELECT * FROM qorgau_statistics_referrals(%s, %s, %s, NULL)",
                         (sw.region_id, START, END))


def test_the_page_shows_the_council_suppressed_figures_and_oversight_exact_ones(pages, sw):
    council, oversight = pages("council"), pages("oversight")
    home = council.get("/").get_data(as_text=True)
    assert 'href="/statistics"' in home
    page = council.get(f"/statistics?{PERIOD}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "&lt;5" in html and 'id="chart-weeks"' in html and 'id="csv-link"' in html
    row = html.split("<th scope=\"row\">2026-W10</th>")[1].split("</tr>")[0]
    assert "<td>3</td>" not in row and "<td>&lt;5</td>" in row
    exact = oversight.get(f"/statistics?{PERIOD}").get_data(as_text=True)
    row = exact.split("<th scope=\"row\">2026-W10</th>")[1].split("</tr>")[0]
    assert "<td>3</td>" in row and "<td>7</td>" in row
    csv = council.get(f"/statistics?{PERIOD}&format=csv")
    assert csv.mimetype == "text/csv" and "<5" in csv.get_data(as_text=True)


def test_the_page_refuses_a_bad_date_and_a_caseworker(pages, sw):
    oversight, worker = pages("oversight"), pages("caseworker")
    bad = oversight.get("/statistics?from=2026-13-01&to=2026-03-15")
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.get_data(as_text=True)
    assert worker.get("/statistics").status_code == 403
    assert 'href="/statistics"' not in worker.get("/").get_data(as_text=True)
    elsewhere = oversight.get("/statistics?district=no-such")
    assert elsewhere.status_code == 404 and 'id="district-error"' in elsewhere.get_data(as_text=True)
