"""Configuring a region over HTTP: calendar entries, working hours, policy versions, agency heads."""
from __future__ import annotations

from tests.clocks.conftest import api


def test_the_system_admin_sees_the_seeded_calendar_with_derived_carry_overs(client, cw, ctx):
    res = api(client, cw, "sysadmin").get(f"/api/v1/admin/regions/{cw.region_code}/calendar?year=2026")
    assert res.status_code == 200
    body = res.get_json()
    assert body["timezone"] == "Asia/Aqtau" and body["working_hours"] == {"start": "09:00", "end": "18:00"}
    march = {e["date"]: (e["kind"], e["origin"]) for e in body["entries"] if e["date"].startswith("2026-03")}
    assert march["2026-03-21"] == ("holiday", "national")
    assert march["2026-03-24"] == ("carry_over", "derived")


def test_a_moved_working_day_is_entered_as_data_and_removed_again(client, fresh_cw, ctx):
    cw = fresh_cw
    admin = api(client, cw, "sysadmin")
    path = f"/api/v1/admin/regions/{cw.region_code}/calendar/2026-04-11"
    res = admin.put(path, json={"kind": "working_day", "name": "Moved working day",
                                "source": "Government decree (example)"})
    assert res.status_code == 200
    assert {"date": "2026-04-11", "kind": "working_day", "name": "Moved working day",
            "origin": "region"} in res.get_json()["entries"]
    assert admin.delete(path).status_code == 200
    assert admin.delete(path).status_code == 404
    bad = admin.put(f"/api/v1/admin/regions/{cw.region_code}/calendar/2026-04-13",
                    json={"kind": "working_day", "name": "A Monday"})
    assert bad.status_code == 422 and bad.get_json()["field"] == "kind"


def test_saving_a_policy_makes_a_new_version(client, fresh_cw, ctx):
    cw = fresh_cw
    admin = api(client, cw, "sysadmin")
    path = f"/api/v1/admin/regions/{cw.region_code}/deadline-policy"
    assert admin.get(path).get_json()["scope"] == "national"
    res = admin.put(path, json={"reason": "Faster first contact",
                                "rules": [{"clock_kind": "first_contact", "priority": "standard",
                                           "amount": 2, "unit": "working_days"}],
                                "ladder": {"unacknowledged_repeat_minutes": 10}})
    assert res.status_code == 200, res.get_json()
    body = res.get_json()
    assert (body["scope"], body["version"], body["ladder"]["unacknowledged_repeat_minutes"]) == ("region", 1, 10)
    assert {"clock_kind": "first_contact", "priority": "standard", "amount": 2,
            "unit": "working_days"} in body["rules"]
    assert [v["scope"] for v in body["versions"]] == ["national", "region"]
    assert admin.put(path, json={"reason": ""}).status_code == 422
    assert admin.put(path, json={"reason": "x", "rules": [{"clock_kind": "first_contact",
                                                           "priority": "urgent", "amount": 1,
                                                           "unit": "fortnights"}]}).status_code == 422


def test_only_the_system_admin_configures_regions(client, cw, ctx):
    for user in ("supervisor", "oversight"):
        res = api(client, cw, user).get(f"/api/v1/admin/regions/{cw.region_code}/deadline-policy")
        assert res.status_code == 403


def test_agency_heads_must_be_supervisors_of_the_agency(client, fresh_cw, ctx, admin_conn):
    cw = fresh_cw
    admin = api(client, cw, "sysadmin")
    path = f"/api/v1/admin/agencies/{cw.agency_id}/heads"
    assert admin.put(path, json={"user_ids": [cw.users["worker"].id]}).status_code == 422
    res = admin.put(path, json={"user_ids": [cw.users["supervisor2"].id]})
    assert res.status_code == 200 and res.get_json()["user_ids"] == [cw.users["supervisor2"].id]
    assert api(client, cw, "supervisor").put(path, json={"user_ids": []}).status_code == 404


def test_a_region_code_no_region_can_have_is_a_problem_naming_it(client, cw, ctx):
    for user in ("sysadmin", "supervisor"):
        for method, path in (("get", "/api/v1/admin/regions/a%00b/calendar"),
                             ("put", "/api/v1/admin/regions/a%00b/calendar/2026-04-11"),
                             ("get", "/api/v1/admin/regions/MANGYSTAU/deadline-policy"),
                             ("put", "/api/v1/admin/regions/" + "x" * 41 + "/working-hours")):
            res = getattr(api(client, cw, user), method)(path, json={})
            assert res.status_code == 422, (user, path, res.status_code)
            assert res.headers["Content-Type"].startswith("application/problem+json")
            assert res.get_json()["field"] == "code"


def test_calendar_days_are_kept_for_the_years_2000_to_2100(client, fresh_cw, ctx, admin_conn):
    cw = fresh_cw
    admin = api(client, cw, "sysadmin")
    before = admin_conn.execute("SELECT count(*) AS n FROM calendar_days").fetchone()["n"]
    for day in ("9999-12-31", "2101-01-01", "1999-12-31"):
        res = admin.put(f"/api/v1/admin/regions/{cw.region_code}/calendar/{day}",
                        json={"kind": "holiday", "name": "End of time"})
        assert res.status_code == 422 and res.get_json()["field"] == "day", day
    assert admin_conn.execute("SELECT count(*) AS n FROM calendar_days").fetchone()["n"] == before
    assert admin.get(f"/api/v1/admin/regions/{cw.region_code}/calendar?year=2026").status_code == 200
    edge = admin.put(f"/api/v1/admin/regions/{cw.region_code}/calendar/2100-12-31",
                     json={"kind": "holiday", "name": "Last day kept"})
    assert edge.status_code == 200


def test_a_removal_must_name_a_rule_and_leave_every_priority_a_rule(client, fresh_cw, ctx, admin_conn):
    cw = fresh_cw
    admin = api(client, cw, "sysadmin")
    path = f"/api/v1/admin/regions/{cw.region_code}/deadline-policy"

    def versions() -> int:
        return admin_conn.execute("SELECT count(*) AS n FROM deadline_policies WHERE region_id = %s",
                                  (cw.region_id,)).fetchone()["n"]

    before = versions()
    for key, reason in ((("first_contact", "any"), "no_such_rule"),   # never had one
                        (("review", "low"), "no_such_rule"),
                        (("first_contact", "urgent"), "no_fallback"),  # no 'any' rule behind it
                        (("review", "any"), "no_fallback"),
                        (("acknowledgement", "immediate"), "no_fallback")):
        res = admin.put(path, json={"reason": "Tidy up", "remove": [
            {"clock_kind": key[0], "priority": key[1]}]})
        body = res.get_json()
        assert res.status_code == 422, (key, body)
        assert (body["field"], body["reason"]) == ("remove", reason), key
    assert versions() == before
    # With a rule for any priority set in the same change, the urgent rule may go.
    res = admin.put(path, json={"reason": "One rule for first contact", "remove": [
        {"clock_kind": "first_contact", "priority": "urgent"}], "rules": [
        {"clock_kind": "first_contact", "priority": "any", "amount": 2, "unit": "working_days"}]})
    assert res.status_code == 200, res.get_json()
    rules = {(r["clock_kind"], r["priority"]) for r in res.get_json()["rules"]}
    assert ("first_contact", "urgent") not in rules and ("first_contact", "any") in rules
    assert versions() == before + 1
