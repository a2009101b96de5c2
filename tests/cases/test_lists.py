"""The case list: the policy's rules as SQL, keyset pages, filters, and plans that use the indexes."""
from __future__ import annotations

from datetime import date, datetime, timezone

import psycopg
import pytest
from psycopg.rows import dict_row

from audit import Actor
from services.cases import paging, queries
from services.db import set_actor
from services.settings import app_url_from
from tests.case_factories import audit_events


def listed(client, query="") -> list[dict]:
    """Every case the client lists with ``query``, following the cursors."""
    items, cursor = [], None
    while True:
        response = client.get("/api/v1/cases?limit=3" + query + (f"&cursor={cursor}" if cursor else ""))
        assert response.status_code == 200, response.get_json()
        page = response.get_json()
        assert len(page["items"]) <= 3
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def ids(items) -> list[int]:
    return [i["id"] for i in items]


def test_pages_are_newest_first_without_gaps_or_repeats(api, new_case):
    made = [new_case(lead="health", participants=()).id for _ in range(7)]
    seen = ids(listed(api("health_supervisor")))
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen))
    assert set(made) <= set(seen)


def test_a_caseworker_lists_their_own_and_the_unassigned_queue(api, new_case, admin_conn, cw):
    mine = new_case(lead="health", participants=(), assigned={"health": "health_worker"}).id
    queue = new_case(lead="health", participants=()).id
    theirs = new_case(lead="health", participants=(), assigned={"health": "health_supervisor"}).id
    seen = set(ids(listed(api("health_worker"))))
    assert {mine, queue} <= seen and theirs not in seen
    assert {mine, queue, theirs} <= set(ids(listed(api("health_supervisor"))))
    assert not {mine, queue, theirs} & set(ids(listed(api("outsider"))))
    event = audit_events(admin_conn, "case_listed", actor=cw.users["health_worker"].id)[-1]
    assert event["outcome"] == "allowed" and "count" in event["details"]


def test_oversight_lists_its_region_only(api, new_case):
    case = new_case(lead="health", participants=()).id
    assert case in ids(listed(api("oversight"), "&agency=%d" % api("health_worker").user.agency_id))
    assert case not in ids(listed(api("far_oversight")))


def test_filters(api, new_case, admin_conn, cw):
    health = cw.agencies["health"].id
    urgent = new_case(lead="health", participants=("police",), priority="urgent", state="planning").id
    low = new_case(lead="health", participants=(), priority="low", district=False,
                   opened_at=datetime(2024, 2, 1, 12, tzinfo=timezone.utc)).id
    sup = api("health_supervisor")
    assert urgent in ids(listed(sup, "&state=planning")) and low not in ids(listed(sup, "&state=planning"))
    assert low in ids(listed(sup, "&priority=low")) and urgent not in ids(listed(sup, "&priority=low"))
    with_police = ids(listed(sup, f"&agency={cw.agencies['police'].id}"))
    assert urgent in with_police and low not in with_police
    district = admin_conn.execute("SELECT district_id FROM agencies WHERE id = %s", (health,)).fetchone()["district_id"]
    in_district = ids(listed(sup, f"&district={district}"))
    assert urgent in in_district and low not in in_district
    old = ids(listed(sup, "&opened_from=2024-01-01&opened_to=2024-02-01"))
    assert low in old and urgent not in old
    assert low not in ids(listed(sup, "&opened_to=2024-01-31"))
    today = date.today().isoformat()
    assert urgent in ids(listed(sup, f"&opened_from={today}"))


@pytest.mark.parametrize("query, field", [
    ("limit=0", "limit"), ("limit=101", "limit"), ("limit=ten", "limit"), ("state=lost", "state"),
    ("priority=now", "priority"), ("agency=abc", "agency"), ("district=-1", "district"),
    ("opened_from=yesterday", "opened_from"), ("cursor=!!!", "cursor"), ("cursor=WzEsMl0", "cursor"),
    ("colour=red", "colour"), ("agency=99999999999999999999", "agency"),
])
def test_bad_list_queries_are_422_naming_the_parameter(api, query, field):
    response = api("health_supervisor").get(f"/api/v1/cases?{query}")
    assert response.status_code == 422 and response.get_json()["field"] == field, response.get_json()


def test_roles_without_case_content_cannot_list(api, admin_conn, cw):
    for who in ("agency_admin", "council", "system_admin"):
        assert api(who).get("/api/v1/cases").status_code == 403, who
    denial = audit_events(admin_conn, "access_denied", actor=cw.users["council"].id)[-1]
    assert denial["details"] == {"attempted": "case_listed", "reason": "no_case_role"}


# --- Plans ---------------------------------------------------------------------------------------

# A region of 40 agencies and 20,000 cases, each with its lead and one other agency taking part,
# so that the planner has a reason to prefer an index over reading the whole table.
VOLUME = """
WITH r AS (INSERT INTO regions (code, name) VALUES ('plan-region', 'Plan') RETURNING id),
     d AS (INSERT INTO districts (region_id, code, name) SELECT id, 'pd', 'Plan district' FROM r RETURNING id, region_id)
INSERT INTO agencies (code, name, kind, region_id, district_id)
SELECT 'plan-' || g, 'Agency ' || g, CASE WHEN g = 1 THEN 'prosecutor' ELSE 'school' END, d.region_id, d.id
  FROM d, generate_series(1, 40) g;
INSERT INTO users (agency_id, username, full_name, password_hash)
SELECT id, 'plan.' || id, 'Plan user', 'x' FROM agencies WHERE code LIKE 'plan-%';
INSERT INTO children (last_name, first_name, date_of_birth, region_id, search_key, created_by_agency_id)
SELECT 'C' || g, 'K', date '2012-01-01' + g % 3000, a.region_id, 'c' || g, a.id
  FROM generate_series(1, 20000) g JOIN agencies a ON a.code = 'plan-2';
INSERT INTO cases (child_id, region_id, district_id, lead_agency_id, state, priority)
SELECT ch.id, ch.region_id, a.district_id, a.id,
       (ARRAY['open','assessment','planning','monitoring','closed'])[1 + ch.id % 5],
       (ARRAY['immediate','urgent','standard','low'])[1 + ch.id % 4]
  FROM children ch JOIN agencies a ON a.code = 'plan-' || (2 + ch.id % 39);
INSERT INTO case_participants (case_id, agency_id)
SELECT c.id, c.lead_agency_id FROM cases c
UNION ALL
SELECT c.id, a.id FROM cases c JOIN agencies a ON a.code = 'plan-' || (2 + (c.id + 7) % 39)
 WHERE a.id <> c.lead_agency_id;
ANALYZE;
"""


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _plan(conn, sql: str, params: dict) -> list[tuple[str, str | None, str | None]]:
    """(node type, relation, index) of every node the statement actually ran.

    Nodes never executed are left out: the row-level security policies carry sub-plans for
    oversight that a supervisor's statement never runs.
    """
    # Parameters are bound client-side so that EXPLAIN plans for these constants.
    text = psycopg.ClientCursor(conn).mogrify(sql, params)
    plan = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + text).fetchone()["QUERY PLAN"][0]["Plan"]
    return [(n["Node Type"], n.get("Relation Name"), n.get("Index Name")) for n in _nodes(plan)
            if n.get("Actual Loops", 0) > 0]


def test_the_list_queries_use_the_indexes(fresh_db_url):
    with psycopg.connect(fresh_db_url, autocommit=True, row_factory=dict_row) as admin:
        admin.execute(VOLUME)
        agency = admin.execute("SELECT id, region_id FROM agencies WHERE code = 'plan-5'").fetchone()
        user = admin.execute("SELECT id FROM users WHERE agency_id = %s", (agency["id"],)).fetchone()["id"]
        prosecutor = admin.execute("SELECT id FROM agencies WHERE code = 'plan-1'").fetchone()["id"]
    base = {"limit": 51, "before_id": None, "state": None, "priority": None, "agency_id": None,
            "district_id": None, "opened_from": None, "opened_to": None}
    with psycopg.connect(app_url_from(fresh_db_url, None), row_factory=dict_row) as conn:
        supervisor = Actor(user_id=user, agency_id=agency["id"], roles=frozenset({"supervisor"}),
                           region_id=agency["region_id"])
        set_actor(conn, supervisor)
        plan = _plan(conn, queries.PRACTITIONER_LIST, {**base, "user": user, "agency": agency["id"],
                                                       "region": agency["region_id"], "supervisor": True,
                                                       "caseworker": False})
        assert "case_participants_agency_idx" in {index for _, _, index in plan}, plan
        assert ("Seq Scan", "cases") not in {(node, rel) for node, rel, _ in plan}, plan
        assert ("Seq Scan", "case_participants") not in {(node, rel) for node, rel, _ in plan}, plan
        conn.rollback()
        oversight = Actor(user_id=user, agency_id=prosecutor, roles=frozenset({"oversight"}),
                          region_id=agency["region_id"])
        set_actor(conn, oversight)
        for state in (None, "planning"):
            plan = _plan(conn, queries.OVERSIGHT_LIST, {**base, "state": state, "user": user,
                                                        "agency": prosecutor, "region": agency["region_id"],
                                                        "supervisor": False, "caseworker": False})
            # Without a state filter the newest cases of the region come straight off the primary
            # key (one region here); with one, off the (region, state, id) index.
            used = {index for _, _, index in plan}
            assert used & ({"cases_region_state_idx"} if state else {"cases_pkey", "cases_region_idx"}), plan
            assert ("Seq Scan", "cases") not in {(node, rel) for node, rel, _ in plan}, plan
        conn.rollback()


def test_a_forged_cursor_shows_nothing_more(api, new_case):
    mine = new_case(lead="health", participants=()).id
    forged = paging.encode(2**62)  # "continue below" an id larger than any
    seen = api("outsider").get(f"/api/v1/cases?cursor={forged}")
    assert seen.status_code == 200 and mine not in ids(seen.get_json()["items"])
