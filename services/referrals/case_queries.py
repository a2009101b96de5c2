"""The SQL of accepting a referral: open the child's case, or link to the open one, and create its
assessments. Ids are drawn first where the new row is not yet readable by the acting user."""
from __future__ import annotations


def lock_child_cases(conn, child_id: int) -> None:
    """Serialise acceptances about one child, so two cannot both open "the" open case."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('qorgau.child_case', %s))", (child_id,))


def open_case_id(conn, child_id: int) -> int | None:
    return conn.execute("SELECT qorgau_open_case_id(%s) AS id", (child_id,)).fetchone()["id"]


def insert_case(conn, *, child_id: int, region_id: int, district_id: int | None, lead_agency_id: int,
                priority: str) -> int:
    case_id = conn.execute("SELECT nextval('cases_id_seq') AS id").fetchone()["id"]
    conn.execute(
        """INSERT INTO cases (id, child_id, region_id, district_id, lead_agency_id, priority)
           VALUES (%s, %s, %s, %s, %s, %s)""",
        (case_id, child_id, region_id, district_id, lead_agency_id, priority))
    return case_id


def link_referral(conn, case_id: int, referral_id: int) -> None:
    conn.execute("INSERT INTO case_referrals (case_id, referral_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                 (case_id, referral_id))


def add_participant(conn, case_id: int, agency_id: int, assigned_user_id: int | None) -> None:
    conn.execute("""INSERT INTO case_participants (case_id, agency_id, assigned_user_id)
                    VALUES (%s, %s, %s)""", (case_id, agency_id, assigned_user_id))


def rejoin(conn, case_id: int, assigned_user_id: int | None) -> bool:
    """The caller's agency, which had left the case, takes part again (migration 0005)."""
    return conn.execute("SELECT qorgau_rejoin_case(%s, %s) AS ok", (case_id, assigned_user_id)).fetchone()["ok"]


def insert_assessment(conn, *, case_id: int, referral_id: int, kind: str, agency_id: int,
                      assignee_user_id: int | None) -> int:
    assessment_id = conn.execute("SELECT nextval('assessments_id_seq') AS id").fetchone()["id"]
    conn.execute(
        """INSERT INTO assessments (id, case_id, referral_id, kind, agency_id, assignee_user_id)
           OVERRIDING SYSTEM VALUE VALUES (%s, %s, %s, %s, %s, %s)""",
        (assessment_id, case_id, referral_id, kind, agency_id, assignee_user_id))
    return assessment_id

