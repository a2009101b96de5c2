"""Deadline policies are data, versioned per region; a clock keeps the version it started under."""
from __future__ import annotations

import pytest

from services.clocks import admin
from services.clocks.records import Rule
from services.db import transaction
from services.errors import ValidationFailed
from tests.clocks.conftest import clock_row, local, start


def test_a_running_clock_keeps_its_policy_version_and_new_clocks_use_the_new_one(
        fresh_cw, admin_conn, ctx):
    cw = fresh_cw
    before = start(cw, kind="screening_decision", priority="urgent", at=local(2026, 4, 10, 16))
    with transaction(cw.actor("sysadmin")) as conn:
        saved = admin.save_policy(
            conn, actor=cw.actor("sysadmin"), region_code=cw.region_code,
            reason="Regional order on urgent screening",
            rules=[Rule("screening_decision", "urgent", 2, "working_days")],
            ladder={"level_2_after_wd": 2})
    assert saved.region_id == cw.region_id and saved.version == 1
    after = start(cw, kind="screening_decision", priority="urgent", at=local(2026, 4, 10, 16))
    old, new = clock_row(admin_conn, before), clock_row(admin_conn, after)
    assert old["policy_id"] != new["policy_id"] == saved.id
    assert (old["due_at"], old["level_2_at"]) == (local(2026, 4, 13, 16), local(2026, 4, 14, 16))
    assert (new["due_at"], new["level_2_at"]) == (local(2026, 4, 14, 16), local(2026, 4, 16, 16))
    # Every other rule was carried into the region's version unchanged.
    assert len(saved.rules) == admin_conn.execute(
        "SELECT count(*) AS n FROM deadline_rules WHERE policy_id = 1").fetchone()["n"]


def test_versions_are_never_edited_in_place(fresh_cw, ctx, app):
    import psycopg

    from tests.conftest import make_settings

    cw = fresh_cw
    with transaction(cw.actor("sysadmin")) as conn:
        admin.save_policy(conn, actor=cw.actor("sysadmin"), region_code=cw.region_code,
                          reason="v1", ladder={"reminder_percent": 80},
                          rules=[Rule("strategy_meeting", "any", 2, "working_days")])
        second = admin.save_policy(conn, actor=cw.actor("sysadmin"), region_code=cw.region_code,
                                   reason="v2", remove=[("strategy_meeting", "urgent")])
    assert second.version == 2 and second.reminder_percent == 80
    assert second.rule_for("strategy_meeting", "urgent").priority == "any"  # the fallback now
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with transaction(cw.actor("sysadmin")) as conn:
            conn.execute("UPDATE deadline_rules SET amount = 99 WHERE policy_id = %s", (second.id,))


def test_a_kind_without_a_rule_cannot_start(cw, ctx):
    with pytest.raises(ValidationFailed) as err:
        start(cw, kind="strategy_meeting", priority="low", at=local(2026, 4, 10, 16))
    assert err.value.field == "kind"


def test_a_region_calendar_entry_changes_new_clocks_only(fresh_cw, admin_conn, ctx):
    cw = fresh_cw
    before = start(cw, kind="screening_decision", priority="urgent", at=local(2026, 4, 10, 16))
    with transaction(cw.actor("sysadmin")) as conn:
        admin.put_day(conn, actor=cw.actor("sysadmin"), region_code=cw.region_code,
                      day=local(2026, 4, 13, 0).date(), kind="day_off", name="Regional day off")
    after = start(cw, kind="screening_decision", priority="urgent", at=local(2026, 4, 10, 16))
    assert clock_row(admin_conn, before)["due_at"] == local(2026, 4, 13, 16)
    assert clock_row(admin_conn, after)["due_at"] == local(2026, 4, 14, 16)
