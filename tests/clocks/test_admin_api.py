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
