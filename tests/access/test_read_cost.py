"""What row-level security and the access module cost on the read path (bench/RESULTS.md).

The read policies check each row through the keys the rules join on (0009_read_speed.py); the
functions they call run their own lookups, which an EXPLAIN of the outer query does not show, so
the checks count the scans PostgreSQL actually made (``pg_stat_xact_user_tables``, which counts
the scans inside functions too) with sequential scans priced out, as test_rls_plans.py does.
"""
from __future__ import annotations

import psycopg
import pytest
from psycopg.rows import dict_row

from bench.scenarios import sent_statements as statements
from services import access
from services.db import set_actor
from tests.access.test_rls_plans import LARGE, scaled  # noqa: F401  (the module's fixture)
from tests.conftest import db_url

READS = [
    "SELECT id FROM cases ORDER BY id DESC LIMIT 50",
    "SELECT * FROM cases WHERE id = (SELECT max(case_id) FROM case_participants)",
    "SELECT agency_id FROM case_participants WHERE case_id = (SELECT max(id) FROM cases)",
    "SELECT referral_id FROM case_referrals WHERE case_id = (SELECT max(id) FROM cases)",
    "SELECT e.id, b.body FROM chronology_entries e LEFT JOIN chronology_bodies b ON b.entry_id = e.id"
    " WHERE e.case_id IN (SELECT id FROM cases ORDER BY id DESC LIMIT 20)",
    "SELECT id FROM referrals ORDER BY id DESC LIMIT 25",
    "SELECT child_id FROM referral_children WHERE referral_id > (SELECT max(id) - 40 FROM referrals)",
    "SELECT agency_id FROM referral_recipients WHERE referral_id > (SELECT max(id) - 40 FROM referrals)",
    "SELECT full_name FROM referral_referrers WHERE referral_id > (SELECT max(id) - 40 FROM referrals)",
    "SELECT status FROM referrer_updates WHERE referral_id > (SELECT max(id) - 40 FROM referrals)",
    "SELECT id FROM children ORDER BY id DESC LIMIT 25",
]


def scans(url: str, actor, reads: list[str], *, before: str | None = None) -> dict[str, tuple[int, int]]:
    """{table: (sequential scans, index scans)} made by ``reads`` as the application role."""
    with psycopg.connect(url, row_factory=dict_row) as conn:  # a fresh session: no cached plans
        with conn.transaction(force_rollback=True):
            if before:
                conn.execute(before)
            conn.execute("SET LOCAL enable_seqscan = off")
            conn.execute("SET LOCAL ROLE qorgau_app")
            set_actor(conn, actor)
            for sql in reads:
                conn.execute(sql).fetchall()
            conn.execute("RESET ROLE")
            return {r["relname"]: (r["seq_scan"], r["idx_scan"] or 0) for r in conn.execute(
                "SELECT relname, seq_scan, idx_scan FROM pg_stat_xact_user_tables").fetchall()}


@pytest.mark.parametrize("role", ["caseworker", "supervisor", "oversight"])
def test_read_policies_look_every_row_up_through_indexes(scaled, role):
    conn, actors = scaled
    made = scans(db_url(conn.info.dbname), actors[role], READS)
    assert {t for t, (seq, _) in made.items() if seq} & LARGE == set()
    if role != "oversight":  # the per-row checks ran, through the participants' keys
        assert made["case_participants"][1] > 0


def test_the_scan_count_sees_a_policy_lookup_without_its_index(scaled):
    """The check can fail: without the participants' keys, the per-row case check reads the table."""
    conn, actors = scaled
    case = conn.execute("SELECT max(case_id) AS id FROM case_participants").fetchone()["id"]
    made = scans(db_url(conn.info.dbname), actors["caseworker"], [f"SELECT * FROM cases WHERE id = {case}"],
                 before="DROP INDEX case_participants_agency_idx, case_participants_assignee_idx;"
                        " ALTER TABLE case_participants DROP CONSTRAINT case_participants_pkey CASCADE")
    assert made["case_participants"][0] > 0


def test_read_policies_call_no_array_building_helper(scaled):
    """Every SELECT policy checks rows one by one; the qorgau_*_ids() arrays are for writes only."""
    conn, _ = scaled
    rows = conn.execute("SELECT tablename, policyname, qual FROM pg_policies"
                        " WHERE schemaname = 'public' AND cmd = 'SELECT'").fetchall()
    assert len(rows) > 10
    assert [r["policyname"] for r in rows if "_ids()" in (r["qual"] or "")] == []


def test_a_childs_facts_cost_four_statements_at_most_however_long_its_history(scaled):
    """The child, its cases, its referrals, and the cases of other children (siblings) those
    referrals are linked to: one statement each, never one per referral or case."""
    conn, _ = scaled
    with conn.transaction(force_rollback=True):
        child = conn.execute("SELECT c.id, c.region_id, c.created_by_agency_id AS agency FROM children c"
                             " JOIN referral_children rc ON rc.child_id = c.id ORDER BY c.id LIMIT 1").fetchone()
        with statements() as sent:
            short = access.child_facts(conn, child["id"])
        assert len(sent) == 3
        others = [r["id"] for r in conn.execute(
            "SELECT id FROM referrals WHERE id NOT IN (SELECT referral_id FROM referral_children"
            " WHERE child_id = %s) ORDER BY id LIMIT 6", (child["id"],))]
        conn.execute("INSERT INTO referral_children (referral_id, child_id) SELECT unnest(%s::bigint[]), %s",
                     (others, child["id"]))
        cases = [conn.execute(
            "INSERT INTO cases (child_id, region_id, lead_agency_id, state, priority, closed_at)"
            " VALUES (%s, %s, %s, 'closed', 'standard', now()) RETURNING id",
            (child["id"], child["region_id"], child["agency"])).fetchone()["id"] for _ in range(3)]
        conn.execute("INSERT INTO case_referrals (case_id, referral_id) SELECT unnest(%s::bigint[]),"
                     " unnest(%s::bigint[])", (cases, others[:3]))
        with statements() as sent:
            long = access.child_facts(conn, child["id"])
        assert len(sent) <= 4
    assert len(long.referrals) == len(short.referrals) + 6
    assert len(long.cases) == len(short.cases) + 3
    linked = {r.referral_id: {c.case_id for c in r.cases} for r in long.referrals}
    assert all(case in linked[referral] for referral, case in zip(others, cases))
