"""The system admin's region pages over HTTP: calendar, deadline policy, dead letters.

Each change goes through the same ``services.clocks.admin`` and ``services.notifications.actions``
functions as the API; a refused form names its field, answers 4xx and changes nothing.
"""
from __future__ import annotations

import pytest

from services.db import transaction
from tests.case_factories import audit_events
from tests.factories import SYSTEM, make_region


@pytest.fixture
def region(app) -> str:
    """A region of its own, so changing its calendar and policy touches no other test's clocks."""
    with app.app_context(), transaction(SYSTEM) as conn:
        code, _ = make_region(conn)
    return code


def region_id(admin_conn, code: str) -> int:
    return admin_conn.execute("SELECT id FROM regions WHERE code = %s", (code,)).fetchone()["id"]


def policy_versions(admin_conn, code: str) -> int:
    return admin_conn.execute("SELECT count(*) AS n FROM deadline_policies WHERE region_id = %s",
                              (region_id(admin_conn, code),)).fetchone()["n"]


def test_the_system_admin_adds_a_moved_working_day_and_removes_it(page_as, cw, region, admin_conn):
    admin = page_as("system_admin")
    assert admin.get("/admin/regions/calendar").headers["Location"].endswith(
        f"/admin/regions/{cw.region_code}/calendar")
    page = admin.get(f"/admin/regions/{region}/calendar?year=2026")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Nauryz" in html and "Day off carried over" in html
    saved = admin.post(f"/admin/regions/{region}/calendar/days", data={
        "day": "2026-03-28", "kind": "working_day", "name": "Moved working day",
        "source": "Government decree", "year": "2026"})
    assert saved.status_code == 302
    html = admin.get(f"/admin/regions/{region}/calendar?year=2026").get_data(as_text=True)
    assert 'data-day="2026-03-28" data-kind="working_day"' in html
    assert audit_events(admin_conn, "calendar_changed", object_id=region_id(admin_conn, region))
    removed = admin.post(f"/admin/regions/{region}/calendar/days/remove",
                         data={"day": "2026-03-28"})
    assert removed.status_code == 302
    assert 'data-day="2026-03-28"' not in admin.get(
        f"/admin/regions/{region}/calendar?year=2026").get_data(as_text=True)


def test_bad_calendar_input_names_the_field_and_changes_nothing(page_as, cw, region, admin_conn):
    admin = page_as("system_admin")
    url = f"/admin/regions/{region}/calendar"
    before = admin_conn.execute("SELECT count(*) AS n FROM calendar_days").fetchone()["n"]
    bad = admin.post(url + "/days", data={"day": "2026-02-30", "kind": "party", "name": ""})
    end_of_time = admin.post(url + "/days", data={"day": "9999-12-31", "kind": "holiday", "name": "x"})
    assert end_of_time.status_code == 422 and 'id="day-day-error"' in end_of_time.get_data(as_text=True)
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422
    for field in ("day-day", "day-kind", "day-name"):
        assert f'id="{field}-error"' in html, field
    weekday = admin.post(url + "/days", data={"day": "2026-04-15", "kind": "working_day", "name": "x"})
    assert weekday.status_code == 422 and 'id="day-kind-error"' in weekday.get_data(as_text=True)
    hours = admin.post(f"/admin/regions/{region}/working-hours",
                       data={"day_start": "18:00", "day_end": "09:00"})
    assert hours.status_code == 422 and 'id="hours-day_end-error"' in hours.get_data(as_text=True)
    garbage = admin.post(f"/admin/regions/{region}/working-hours",
                         data={"day_start": "09:00+05:00", "day_end": "25:00"})
    assert garbage.status_code == 422
    absent = admin.post(url + "/days/remove", data={"day": "2026-04-15"})
    assert absent.status_code == 404 and 'id="remove-remove-error"' not in absent.get_data(as_text=True)
    assert admin_conn.execute("SELECT count(*) AS n FROM calendar_days").fetchone()["n"] == before
    assert admin.get("/admin/regions/no-such-region/calendar").status_code == 404


def test_a_duration_change_saves_a_new_version_shown_in_the_history(page_as, cw, region, admin_conn):
    admin = page_as("system_admin")
    url = f"/admin/regions/{region}/deadline-policy"
    page = admin.get(url).get_data(as_text=True)
    assert "Durations by priority" in page and 'id="policy-versions"' in page
    before = policy_versions(admin_conn, region)
    saved = admin.post(url + "/rules", data={"clock_kind": "review", "priority": "urgent",
                                             "amount": "20", "unit": "hours",
                                             "reason": "Regional order on urgent reviews"})
    assert saved.status_code == 302
    assert policy_versions(admin_conn, region) == before + 1
    page = admin.get(url).get_data(as_text=True)
    assert "Regional order on urgent reviews" in page and "20 hours" in page
    ladder = admin.post(url + "/ladder", data={
        "reminder_percent": "80", "level_2_after_wd": "0", "level_3_after_wd": "2",
        "unacknowledged_after_minutes": "15", "unacknowledged_repeat_minutes": "15",
        "reason": "Faster climb to oversight"})
    assert ladder.status_code == 302
    assert policy_versions(admin_conn, region) == before + 2
    # Urgent reviews fall back on the rule for any priority again.
    removed = admin.post(url + "/rules", data={"clock_kind": "review", "priority": "urgent",
                                               "remove": "1", "reason": "Drop the rule"})
    assert removed.status_code == 302 and policy_versions(admin_conn, region) == before + 3
    assert "20 hours" not in admin.get(url).get_data(as_text=True)
    assert audit_events(admin_conn, "deadline_policy_changed",
                        object_id=region_id(admin_conn, region))


def test_bad_policy_input_names_the_field_and_saves_no_version(page_as, cw, region, admin_conn):
    admin = page_as("system_admin")
    url = f"/admin/regions/{region}/deadline-policy"
    before = policy_versions(admin_conn, region)
    no_reason = admin.post(url + "/rules", data={"clock_kind": "first_contact", "priority": "urgent",
                                                 "amount": "x", "unit": "fortnights", "reason": ""})
    html = no_reason.get_data(as_text=True)
    assert no_reason.status_code == 422
    for field in ("rule-amount", "rule-unit", "rule-reason"):
        assert f'id="{field}-error"' in html, field
    too_long = admin.post(url + "/rules", data={"clock_kind": "first_contact", "priority": "urgent",
                                                "amount": "9999999", "unit": "months", "reason": "x"})
    assert too_long.status_code == 422 and 'id="rule-amount-error"' in too_long.get_data(as_text=True)
    ladder = admin.post(url + "/ladder", data={
        "reminder_percent": "100", "level_2_after_wd": "0", "level_3_after_wd": "99999999999999999999",
        "unacknowledged_after_minutes": "0", "unacknowledged_repeat_minutes": "15", "reason": "x"})
    html = ladder.get_data(as_text=True)
    assert ladder.status_code == 422
    for field in ("reminder_percent", "level_3_after_wd", "unacknowledged_after_minutes"):
        assert f'id="ladder-{field}-error"' in html, field
    absent = admin.post(url + "/rules", data={"clock_kind": "review", "priority": "immediate",
                                              "remove": "1", "reason": "No such rule"})
    assert absent.status_code == 422 and 'id="rule-priority-error"' in absent.get_data(as_text=True)
    # First contact has no rule for any priority: without its urgent rule no urgent case could
    # start its first-contact clock.
    last = admin.post(url + "/rules", data={"clock_kind": "first_contact", "priority": "urgent",
                                            "remove": "1", "reason": "Drop the rule"})
    html = last.get_data(as_text=True)
    assert last.status_code == 422 and 'id="rule-priority-error"' in html
    assert "could not start" in html
    assert policy_versions(admin_conn, region) == before


def test_dead_letters_are_listed_and_tried_again(page_as, cw, admin_conn):
    row = admin_conn.execute(
        """INSERT INTO outbox (topic, payload, attempts, dead_at, last_error)
           VALUES ('clock.reminder', '{"clock_id": 1}', 8, now(), 'SMTP 451 try later')
           RETURNING id""").fetchone()
    admin = page_as("system_admin")
    try:
        _requeue_twice(admin, admin_conn, row["id"])
    finally:  # leave nothing due for a relay that another test may run on this database
        admin_conn.execute("UPDATE outbox SET delivered_at = now() WHERE id = %s", (row["id"],))


def _requeue_twice(admin, admin_conn, outbox_id: int) -> None:
    row = {"id": outbox_id}
    page = admin.get("/admin/outbox/dead").get_data(as_text=True)
    assert f'data-outbox-id="{row["id"]}"' in page and "SMTP 451 try later" in page
    assert admin.post(f"/admin/outbox/{row['id']}/requeue").status_code == 302
    assert admin_conn.execute("SELECT dead_at FROM outbox WHERE id = %s",
                              (row["id"],)).fetchone()["dead_at"] is None
    again = admin.post(f"/admin/outbox/{row['id']}/requeue")
    assert again.status_code == 404 and "no longer a dead letter" in again.get_data(as_text=True)
    assert audit_events(admin_conn, "outbox_requeued", object_id=row["id"])


def test_region_pages_are_the_system_admins_alone(page_as, cw):
    for user in ("agency_admin", "oversight", "social_supervisor"):
        client = page_as(user)
        assert client.get(f"/admin/regions/{cw.region_code}/calendar").status_code == 403, user
        assert client.get(f"/admin/regions/{cw.region_code}/deadline-policy").status_code == 403, user
        assert client.get("/admin/outbox/dead").status_code == 403, user
        assert client.post(f"/admin/regions/{cw.region_code}/deadline-policy/rules", data={
            "clock_kind": "first_contact", "priority": "urgent", "amount": "1", "unit": "hours",
            "reason": "x"}).status_code == 403, user


def refused_then_saved(page, button: str, kept: str, value: str, missing: str, text: str) -> None:
    """Send a form lacking ``missing``: it comes back naming that field and keeping ``kept``;
    fill it in and send it again."""
    with page.expect_navigation():
        page.click(button)
    assert page.locator(missing + "-error").is_visible()
    assert page.locator(kept).input_value() == value
    page.fill(missing, text)
    with page.expect_navigation():
        page.click(button)


def test_in_the_browser_without_javascript_the_system_admin_edits_the_calendar_and_policy(people):
    admin = people.signed_in("sysadmin", java_script=False)
    with admin.expect_navigation():
        admin.locator("nav.main-nav a", has_text="Calendar").click()
    assert admin.locator("h1").inner_text() == "Working calendar of mangystau"
    admin.goto(admin.url.split("?")[0] + "?year=2027")
    # A refused day keeps what was typed and names the field; then the day is saved and removed.
    admin.fill("#day-day", "2027-12-25")
    admin.select_option("#day-kind", "working_day")
    refused_then_saved(admin, "#day-form button[type=submit]", "#day-day", "2027-12-25",
                       "#day-name", "Moved working day (test)")
    row = admin.locator("tr.calendar-day[data-day='2027-12-25']")
    assert "Moved working day" in row.inner_text() and "This region" in row.inner_text()
    with admin.expect_navigation():
        row.locator("button").click()
    assert admin.locator("tr.calendar-day[data-day='2027-12-25']").count() == 0

    with admin.expect_navigation():
        admin.locator("nav.main-nav a", has_text="Deadline policy").click()
    version = admin.locator("#policy-versions tbody tr").count()
    admin.select_option("#rule-clock_kind", "review")
    admin.select_option("#rule-priority", "low")
    admin.fill("#rule-amount", "25")
    admin.select_option("#rule-unit", "working_days")
    refused_then_saved(admin, "#save-rule", "#rule-amount", "25", "#rule-reason",
                       "Low-priority reviews every five weeks")
    assert "25 working days" in admin.locator("tr[data-kind='review'] td[data-priority='low']").inner_text()
    assert admin.locator("#policy-versions tbody tr").count() == version + 1
    assert "Low-priority reviews every five weeks" in admin.locator("#policy-versions").inner_text()
    assert "version 1 of this region" in admin.locator("#policy-version").inner_text()
