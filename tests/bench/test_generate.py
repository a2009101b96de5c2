"""The benchmark generator, on a data set small enough for seconds: same seed, same rows; valid
IINs; every row consistent with the access rules the application and row-level security apply;
an audit log that verifies. No timing here: speed is measured by bench/run.py."""
from __future__ import annotations

import hashlib

import psycopg

from audit.verify import verify
from bench.generate import Plan, generate
from services.children.iin import validate_iin
from tests.bench.conftest import TINY

# Ordered digests of the tables whose rows the seed fixes.
DIGESTS = {
    "children": "SELECT id, iin, last_name, first_name, patronymic, date_of_birth, sex, school_agency_id,"
                " district_id FROM children ORDER BY id",
    "referrals": "SELECT id, state, priority, categories, referring_agency_id, created_by, created_at"
                 " FROM referrals ORDER BY id",
    "referral_recipients": "SELECT * FROM referral_recipients ORDER BY referral_id, agency_id",
    "cases": "SELECT id, child_id, lead_agency_id, state, opened_at, closed_at FROM cases ORDER BY id",
    "case_participants": "SELECT case_id, agency_id, assigned_user_id FROM case_participants ORDER BY 1, 2",
    "clocks": "SELECT id, kind, subject_id, due_at, stopped_at, next_action_at FROM clocks ORDER BY id",
    "audit": "SELECT id, chain, seq, hash FROM audit.events ORDER BY id",
}


def _digests(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return {name: hashlib.sha256(repr(conn.execute(sql).fetchall()).encode()).hexdigest()
                for name, sql in DIGESTS.items()}


def test_the_same_seed_gives_the_same_rows(generated, empty_bench_db):
    url, _ = generated
    generate(empty_bench_db, TINY)
    assert _digests(empty_bench_db) == _digests(url)


def test_another_seed_gives_other_rows(generated, empty_bench_db):
    url, _ = generated
    other = Plan(children=TINY.children, referrals=TINY.referrals, audit_events=TINY.audit_events,
                 seed=TINY.seed + 1, as_of=TINY.as_of)
    generate(empty_bench_db, other)
    mine, theirs = _digests(url), _digests(empty_bench_db)
    assert mine["children"] != theirs["children"] and mine["audit"] != theirs["audit"]


def test_it_writes_the_sizes_asked_for(generated):
    url, result = generated
    counts = result["counts"]
    assert counts["children"] == TINY.children
    assert counts["referrals"] == TINY.referrals
    assert counts["audit.events"] == TINY.audit_events
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM audit.events").fetchone()[0] == TINY.audit_events


def test_a_generated_database_is_refused_a_second_load(generated):
    url, _ = generated
    try:
        generate(url, TINY)
    except RuntimeError as exc:
        assert "not empty" in str(exc)
    else:
        raise AssertionError("a second load into a filled database was accepted")


def test_iins_are_valid_and_encode_birth_date_and_sex(generated):
    url, _ = generated
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT iin, date_of_birth, sex FROM children WHERE iin IS NOT NULL").fetchall()
        unique = conn.execute("SELECT count(DISTINCT iin) = count(iin) FROM children").fetchone()[0]
    assert len(rows) >= TINY.children * 0.9 and unique
    for iin, dob, sex in rows:
        validate_iin(iin, date_of_birth=dob, sex=sex, today=TINY.as_of.date())


def test_children_live_in_their_schools_district(generated):
    url, _ = generated
    with psycopg.connect(url) as conn:
        wrong = conn.execute(
            """SELECT count(*) FROM children c JOIN agencies s ON s.id = c.school_agency_id
                JOIN districts d ON d.id = c.district_id
               WHERE s.kind <> 'school' OR s.district_id <> c.district_id OR d.region_id <> c.region_id
                  OR c.created_by_agency_id <> c.school_agency_id""").fetchone()[0]
    assert wrong == 0


# Each query counts rows that break one access rule (DESIGN.md §4); all must be 0.
INVARIANTS = {
    "filed by a caseworker of the referring agency": """
        SELECT count(*) FROM referrals r JOIN users u ON u.id = r.created_by
         WHERE u.agency_id <> r.referring_agency_id
            OR NOT EXISTS (SELECT 1 FROM user_roles x WHERE x.user_id = u.id AND x.role = 'caseworker')""",
    "the referrer on record is the filer": """
        SELECT count(*) FROM referrals r JOIN referral_referrers f ON f.referral_id = r.id
         WHERE f.user_id <> r.created_by""",
    "received by other agencies of the same region": """
        SELECT count(*) FROM referral_recipients t JOIN referrals r ON r.id = t.referral_id
          JOIN agencies a ON a.id = t.agency_id
         WHERE t.agency_id = r.referring_agency_id OR a.region_id <> r.region_id""",
    "decided by staff of the deciding agency": """
        SELECT count(*) FROM referral_recipients t JOIN users u ON u.id = t.decided_by
         WHERE u.agency_id <> t.agency_id""",
    "cases only from accepted referrals": """
        SELECT count(*) FROM case_referrals cr JOIN referrals r ON r.id = cr.referral_id
         WHERE r.state <> 'accepted'""",
    "the lead agency takes part": """
        SELECT count(*) FROM cases c WHERE NOT EXISTS (
          SELECT 1 FROM case_participants p WHERE p.case_id = c.id AND p.agency_id = c.lead_agency_id)""",
    "workers are assigned within their own agency": """
        SELECT count(*) FROM case_participants p JOIN users u ON u.id = p.assigned_user_id
         WHERE u.agency_id <> p.agency_id""",
    "a case's child is a child of its referrals": """
        SELECT count(*) FROM case_referrals cr JOIN cases c ON c.id = cr.case_id
         WHERE NOT EXISTS (SELECT 1 FROM referral_children rc
                            WHERE rc.referral_id = cr.referral_id AND rc.child_id = c.child_id)""",
    "one open case per child": """
        SELECT count(*) FROM (SELECT child_id FROM cases WHERE state <> 'closed'
                               GROUP BY 1 HAVING count(*) > 1) x""",
    "chronology written by participants": """
        SELECT count(*) FROM chronology_entries e WHERE NOT EXISTS (
          SELECT 1 FROM case_participants p JOIN users u ON u.id = e.author_user_id
           WHERE p.case_id = e.case_id AND p.agency_id = e.agency_id AND u.agency_id = e.agency_id)""",
    "audit actors belong to the agency and region recorded": """
        SELECT count(*) FROM audit.events e JOIN users u ON u.id = e.actor_user_id
          JOIN agencies a ON a.id = u.agency_id
         WHERE e.actor_agency_id <> u.agency_id OR e.actor_region_id <> a.region_id""",
    "allowed case events by participants or the region's oversight": """
        SELECT count(*) FROM audit.events e JOIN cases c ON c.id = e.object_id::bigint
         WHERE e.object_type = 'case' AND e.outcome = 'allowed' AND e.actor_kind = 'user'
           AND NOT EXISTS (SELECT 1 FROM case_participants p
                            WHERE p.case_id = c.id AND p.agency_id = e.actor_agency_id)
           AND NOT ('oversight' = ANY (e.actor_roles) AND e.actor_region_id = c.region_id)""",
    "denied case events by outsiders": """
        SELECT count(*) FROM audit.events e
         WHERE e.object_type = 'case' AND e.outcome = 'denied' AND EXISTS (
           SELECT 1 FROM case_participants p
            WHERE p.case_id = e.object_id::bigint AND p.agency_id = e.actor_agency_id)""",
    "referral events by the referring or a receiving agency": """
        SELECT count(*) FROM audit.events e JOIN referrals r ON r.id = e.object_id::bigint
         WHERE e.object_type = 'referral' AND e.actor_kind = 'user'
           AND e.actor_agency_id <> r.referring_agency_id
           AND NOT EXISTS (SELECT 1 FROM referral_recipients t
                            WHERE t.referral_id = r.id AND t.agency_id = e.actor_agency_id)""",
    "events no later than the referral they follow": """
        SELECT count(*) FROM audit.events e JOIN referrals r ON r.id = e.object_id::bigint
         WHERE e.object_type = 'referral' AND e.action <> 'sign_in' AND e.occurred_at < r.created_at""",
    "clocks owned by the agency that must act": """
        SELECT count(*) FROM clocks k JOIN referral_recipients t
            ON k.subject_type = 'referral' AND t.referral_id = k.subject_id AND t.agency_id = k.agency_id
         RIGHT JOIN clocks k2 ON k2.id = k.id
         WHERE k2.subject_type = 'referral' AND k.id IS NULL""",
}


def test_rows_follow_the_access_rules(generated):
    url, _ = generated
    with psycopg.connect(url) as conn:
        broken = {rule: conn.execute(sql).fetchone()[0] for rule, sql in INVARIANTS.items()}
    assert broken == {rule: 0 for rule in INVARIANTS}


def _as(conn, user_id: int):
    agency, region = conn.execute("SELECT u.agency_id, a.region_id FROM users u JOIN agencies a"
                                  " ON a.id = u.agency_id WHERE u.id = %s", (user_id,)).fetchone()
    roles = ",".join(r for (r,) in conn.execute("SELECT role FROM user_roles WHERE user_id = %s", (user_id,)))
    conn.execute("SELECT set_config('qorgau.user_id', %s, true), set_config('qorgau.agency_id', %s, true),"
                 " set_config('qorgau.region_id', %s, true), set_config('qorgau.roles', %s, true),"
                 " set_config('qorgau.actor_kind', 'user', true)", (str(user_id), str(agency), str(region), roles))


def test_row_level_security_shows_workers_their_cases(generated):
    url, _ = generated
    with psycopg.connect(url) as admin:
        pairs = admin.execute(
            """SELECT DISTINCT ON (assigned_user_id) assigned_user_id, case_id FROM case_participants
                WHERE assigned_user_id IS NOT NULL ORDER BY assigned_user_id, case_id LIMIT 10""").fetchall()
        screened = admin.execute(
            """SELECT k.assignee_user_id, k.subject_id FROM clocks k JOIN referrals r ON r.id = k.subject_id
                WHERE k.kind = 'screening_decision' AND r.state <> 'redirected'  -- a redirect hands it on
                ORDER BY k.id LIMIT 10""").fetchall()
    assert pairs and screened
    with psycopg.connect(url.replace("postgres@", "qorgau_app@", 1)) as conn:
        for user_id, case_id in pairs:
            with conn.transaction():
                _as(conn, user_id)
                assert conn.execute("SELECT count(*) FROM cases WHERE id = %s", (case_id,)).fetchone()[0] == 1
        for user_id, referral_id in screened:
            with conn.transaction():
                _as(conn, user_id)
                assert conn.execute("SELECT count(*) FROM referrals WHERE id = %s",
                                    (referral_id,)).fetchone()[0] == 1


def test_about_half_of_decided_referrals_are_screened_in(generated):
    url, _ = generated
    with psycopg.connect(url) as conn:
        accepted, decided = conn.execute(
            "SELECT count(*) FILTER (WHERE state = 'accepted'), count(*) FILTER (WHERE state IN"
            " ('accepted', 'screened_out', 'redirected')) FROM referrals").fetchone()
        open_clocks, stopped, overdue = conn.execute(
            "SELECT count(*) FILTER (WHERE stopped_at IS NULL), count(*) FILTER (WHERE stopped_at IS NOT NULL),"
            " count(*) FILTER (WHERE stopped_at IS NULL AND escalation_level > 0) FROM clocks").fetchone()
    assert 0.35 < accepted / decided < 0.60  # PRACTICE.md §5: 47.5%
    assert stopped > open_clocks > 0 and overdue > 0


def test_the_audit_log_verifies(generated):
    url, _ = generated
    report = verify(url, workers=1)
    assert report.ok, report.problems[:3]
    assert report.events == TINY.audit_events


def test_flask_bench_generate_fills_a_database(empty_bench_db):
    from services.app import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings(empty_bench_db))
    result = app.test_cli_runner().invoke(args=[
        "bench", "generate", "--children", "40", "--referrals", "60", "--audit-events", "500",
        "--seed", "3", "--as-of", "2026-06-01"])
    app.extensions["qorgau_db"].close()
    assert result.exit_code == 0, result.output
    assert "generated in" in result.output
    with psycopg.connect(empty_bench_db) as conn:
        assert conn.execute("SELECT count(*) FROM audit.events").fetchone()[0] == 500
