"""Row-level security as PostgreSQL runs it: every child-data table under FORCE'd policies, an
application role that cannot escape them, and policy lookups that use indexes at scale.

The plans are read on a few thousand generated rows (thousands of cases, a few dozen agencies) with
sequential scans priced out (enable_seqscan off): at this size a sequential scan is often the
cheaper plan, so what is checked is that an index *can* serve every lookup. A Seq Scan left in such
a plan means no index fits the predicate, and at national scale that lookup would read the table.
"""
from __future__ import annotations

import json
import re

import psycopg
import pytest
from psycopg.rows import dict_row

from audit import Actor
from services.db import set_actor
from tests.access.conftest import copy_database
from tests.access.test_guard import protected_tables
from tests.conftest import _drop, db_url

# Tables big enough that a sequential scan in a policy lookup means a missing or unusable index.
LARGE = {"cases", "case_participants", "case_referrals", "children", "referrals", "referral_recipients",
         "referral_children", "access_grants", "chronology_entries", "chronology_bodies",
         "referral_referrers", "referrer_updates"}
HELPERS = ("qorgau_visible_case_ids", "qorgau_visible_referral_ids", "qorgau_visible_child_ids",
           "qorgau_restricted_case_ids", "qorgau_oversight_child")

SCALE = """
INSERT INTO regions (code, name) VALUES ('plan-north', 'North'), ('plan-south', 'South');
INSERT INTO agencies (code, name, kind, region_id)
SELECT 'plan-agency-' || i, 'Agency ' || i,
       (ARRAY['school','social_services','police','health','psychology','ngo','prosecutor'])[1 + i % 7],
       (SELECT id FROM regions WHERE code = CASE WHEN i % 4 = 0 THEN 'plan-south' ELSE 'plan-north' END)
  FROM generate_series(1, 60) i;
INSERT INTO users (agency_id, username, full_name, password_hash)
SELECT a.id, 'plan.user.' || a.id || '.' || k, 'User', 'none'
  FROM agencies a, generate_series(1, 5) k WHERE a.code LIKE 'plan-agency-%';
INSERT INTO user_roles (user_id, role)
SELECT u.id, (ARRAY['caseworker','caseworker','supervisor','oversight','agency_admin'])[1 + u.id % 5]
  FROM users u WHERE u.username LIKE 'plan.user.%';
INSERT INTO children (last_name, first_name, date_of_birth, region_id, search_key, created_by_agency_id)
SELECT 'Child' || i, 'Plan', date '2012-01-01' + i % 3000, a.region_id, 'child' || i, a.id
  FROM generate_series(1, 4000) i JOIN agencies a ON a.code = 'plan-agency-' || (1 + i % 60);
INSERT INTO referrals (state, priority, categories, observed_at, observation, referring_agency_id,
                       region_id, created_by, submitted_at)
SELECT (ARRAY['draft','submitted','screening','accepted','screened_out'])[1 + i % 5], 'standard', '{neglect}',
       now(), 'seen', a.id, a.region_id, (SELECT min(id) FROM users WHERE agency_id = a.id), now()
  FROM generate_series(1, 4000) i JOIN agencies a ON a.code = 'plan-agency-' || (1 + i % 60);
INSERT INTO referral_children (referral_id, child_id)
SELECT r.id, c.id FROM (SELECT id, row_number() OVER (ORDER BY id) n FROM referrals) r
  JOIN (SELECT id, row_number() OVER (ORDER BY id) n FROM children) c ON c.n = r.n;
INSERT INTO referral_referrers (referral_id, user_id, full_name) SELECT id, created_by, 'Referrer' FROM referrals;
INSERT INTO referrer_updates (referral_id, referring_agency_id, status)
SELECT id, referring_agency_id, 'received' FROM referrals;
INSERT INTO referral_recipients (referral_id, agency_id, status)
SELECT r.id, a.id, 'pending' FROM referrals r
  JOIN agencies a ON a.code IN ('plan-agency-' || (1 + (r.id * 7) % 60), 'plan-agency-' || (1 + (r.id * 13) % 60));
INSERT INTO cases (child_id, region_id, lead_agency_id, state, priority)
SELECT c.id, c.region_id, a.id, 'open', 'standard' FROM children c
  JOIN agencies a ON a.code = 'plan-agency-' || (1 + (c.id * 11) % 60);
INSERT INTO case_participants (case_id, agency_id, assigned_user_id)
SELECT c.id, a.id, NULL FROM cases c
  JOIN agencies a ON a.code IN ('plan-agency-' || (1 + (c.id * 11) % 60), 'plan-agency-' || (1 + (c.id * 17) % 60),
                                'plan-agency-' || (1 + (c.id * 29) % 60))
ON CONFLICT DO NOTHING;
INSERT INTO case_referrals (case_id, referral_id)
SELECT c.id, rc.referral_id FROM cases c JOIN referral_children rc ON rc.child_id = c.child_id;
INSERT INTO chronology_entries (case_id, child_id, kind, visibility, author_user_id, agency_id, occurred_at)
SELECT c.id, c.child_id, 'note', (ARRAY['all_participants','own_agency','restricted'])[1 + k % 3],
       (SELECT min(id) FROM users WHERE agency_id = c.lead_agency_id), c.lead_agency_id, now()
  FROM cases c, generate_series(1, 2) k;
INSERT INTO chronology_bodies (entry_id, body) SELECT id, 'body' FROM chronology_entries;
INSERT INTO access_grants (user_id, agency_id, region_id, child_id, reason, expires_at)
SELECT u.id, u.agency_id, a.region_id, (SELECT min(id) FROM children) + u.id % 4000,
       'a child brought in at night by the police', now() + interval '4 hours'
  FROM users u JOIN agencies a ON a.id = u.agency_id WHERE u.username LIKE 'plan.user.%';
ANALYZE;
"""


@pytest.fixture(scope="module")
def scaled(template_db):
    """A database of its own with a few thousand rows per table: (superuser connection, actors)."""
    name = copy_database(template_db)
    with psycopg.connect(db_url(name), row_factory=dict_row, autocommit=True) as conn:
        conn.execute(SCALE)
        actors = {}
        for role in ("caseworker", "supervisor", "oversight"):
            row = conn.execute(
                "SELECT u.id, u.agency_id, a.region_id FROM users u JOIN user_roles r ON r.user_id = u.id"
                " JOIN agencies a ON a.id = u.agency_id WHERE r.role = %s AND u.username LIKE 'plan.%%'"
                " ORDER BY u.id LIMIT 1", (role,)).fetchone()
            actors[role] = Actor(user_id=row["id"], agency_id=row["agency_id"], roles=frozenset({role}),
                                 region_id=row["region_id"])
        yield conn, actors
    _drop(name)


def seq_scans(plan: dict) -> set[str]:
    """Relations a JSON plan reads sequentially."""
    found = {plan["Relation Name"]} if plan.get("Node Type") == "Seq Scan" else set()
    for child in plan.get("Plans", []):
        found |= seq_scans(child)
    return found


def explain(conn, sql: str, params=()) -> dict:
    row = conn.execute("EXPLAIN (FORMAT JSON) " + sql, params).fetchone()
    plan = row["QUERY PLAN"]
    return (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]


def helper_query(conn, name: str) -> str:
    """The query a policy helper function runs, from its source."""
    src = conn.execute("SELECT prosrc FROM pg_proc WHERE proname = %s", (name,)).fetchone()["prosrc"]
    match = re.search(r"RETURN\s+(.*?);\s*END", src, re.S)
    body = match.group(1) if match else src
    return "SELECT " + body.replace("p_child", "(SELECT min(id) FROM children)")


@pytest.mark.parametrize("helper", HELPERS)
@pytest.mark.parametrize("role", ["caseworker", "supervisor", "oversight"])
def test_policy_helpers_look_rows_up_through_indexes(scaled, helper, role):
    conn, actors = scaled
    with conn.transaction(force_rollback=True):
        conn.execute("SET LOCAL enable_seqscan = off")
        set_actor(conn, actors[role])  # the superuser plans as the helper's owner does: no RLS
        plan = explain(conn, helper_query(conn, helper))
    assert seq_scans(plan) & LARGE == set()


def test_helpers_call_each_other_once_per_statement(scaled):
    """In the helpers the policies call, a nested helper call stands in a scalar sub-select (an
    InitPlan), never bare in a WHERE clause, where PostgreSQL may call it once per row scanned."""
    conn, _ = scaled
    bare = []
    for row in conn.execute("SELECT proname, prosrc FROM pg_proc WHERE proname = ANY (%s)", (list(HELPERS),)).fetchall():
        for call in re.finditer(r"(\(\s*SELECT\s+)?(qorgau_(?:visible_\w+|restricted_case_ids))\(\)", row["prosrc"]):
            if call.group(2) != row["proname"] and not call.group(1):
                bare.append(f"{row['proname']} calls {call.group(2)}() bare")
    assert bare == []


LISTS = {
    "cases, newest first": "SELECT id FROM cases ORDER BY id DESC LIMIT 50",
    "referrals, newest first": "SELECT id FROM referrals ORDER BY id DESC LIMIT 25",
    "a case's chronology": "SELECT e.id, b.body FROM chronology_entries e LEFT JOIN chronology_bodies b"
                           " ON b.entry_id = e.id WHERE e.case_id = (SELECT max(id) FROM cases)"
                           " ORDER BY e.occurred_at, e.id LIMIT 50",
    "a child's record": "SELECT * FROM children WHERE id = (SELECT max(id) FROM children)",
    "a referral's referrer": "SELECT * FROM referral_referrers WHERE referral_id = (SELECT max(id) FROM referrals)",
}


@pytest.mark.parametrize("role", ["caseworker", "supervisor", "oversight"])
@pytest.mark.parametrize("query", list(LISTS))
def test_list_queries_under_row_level_security_use_indexes(scaled, role, query):
    conn, actors = scaled
    with conn.transaction(force_rollback=True):
        conn.execute("SET LOCAL ROLE qorgau_app; SET LOCAL enable_seqscan = off")
        set_actor(conn, actors[role])
        plan = explain(conn, LISTS[query])
    assert seq_scans(plan) & LARGE == set()


def test_every_table_holding_child_data_forces_row_level_security(scaled):
    """Child data: the tables the migrations protect, and every table that refers to one of them."""
    conn, _ = scaled
    rows = conn.execute("""
        WITH RECURSIVE child_data(rel) AS (
            SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relname = ANY (%s)
          UNION
            SELECT k.conrelid FROM pg_constraint k JOIN child_data d ON k.confrelid = d.rel
             WHERE k.contype = 'f')
        SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner) AS owner
          FROM child_data d JOIN pg_class c ON c.oid = d.rel
          JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'""",
                        (["children", "referrals", "cases"],)).fetchall()
    assert {"children", "cases", "chronology_bodies", "referral_referrers", "access_grants"} <= {r["relname"] for r in rows}
    assert set(protected_tables()) >= {"children", "referrals", "cases"}
    unprotected = [r["relname"] for r in rows if not (r["relrowsecurity"] and r["relforcerowsecurity"])]
    assert unprotected == []
    assert {r["owner"] for r in rows} == {"qorgau_owner"}


def test_the_application_role_can_neither_own_nor_bypass(scaled):
    conn, _ = scaled
    role = conn.execute("SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles"
                        " WHERE rolname = 'qorgau_app'").fetchone()
    assert role == {"rolsuper": False, "rolbypassrls": False, "rolcreaterole": False, "rolcreatedb": False}
    owned = conn.execute("SELECT count(*) AS n FROM pg_class WHERE relowner = 'qorgau_app'::regrole").fetchone()
    assert owned["n"] == 0
    # Membership in the owner or the policy role would let it SET ROLE out of the policies.
    member_of = conn.execute("SELECT b.rolname FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid"
                             " WHERE m.member = 'qorgau_app'::regrole").fetchall()
    assert {r["rolname"] for r in member_of} & {"qorgau_owner", "qorgau_policy", "postgres"} == set()
    definer = conn.execute("SELECT DISTINCT pg_get_userbyid(proowner) AS owner FROM pg_proc"
                           " WHERE prosecdef AND proname LIKE 'qorgau\\_%'").fetchall()
    assert {r["owner"] for r in definer} == {"qorgau_policy"}


def test_the_plan_check_sees_a_missing_index(scaled):
    """The check can fail: without the participants' agency index, the lookup reads the table."""
    conn, actors = scaled
    with conn.transaction(force_rollback=True):
        conn.execute("DROP INDEX case_participants_agency_idx, case_participants_assignee_idx")
        conn.execute("ALTER TABLE case_participants DROP CONSTRAINT case_participants_pkey CASCADE")
        conn.execute("SET LOCAL enable_seqscan = off")
        set_actor(conn, actors["caseworker"])
        plan = explain(conn, helper_query(conn, "qorgau_visible_case_ids"))
    assert "case_participants" in seq_scans(plan)
