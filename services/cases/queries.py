"""Every SQL statement about cases, participants, assessments and chronology entries.

Each runs as the application role under row-level security, so a query can only ever return
what PostgreSQL also agrees the acting user may see; the list queries add the same rules as
explicit conditions so that they walk the indexes instead of filtering everything.
"""
from __future__ import annotations

from datetime import date, datetime

from psycopg.rows import class_row

from services.cases.records import Assessment, Case, CaseParticipant, Entry
from services.errors import NotFound

CASE_COLUMNS = """c.id, c.child_id, c.region_id, c.district_id, c.lead_agency_id, c.state, c.priority,
    c.opened_at, c.closed_at, c.version, c.closure_requested_at, c.closure_requested_by,
    c.reopen_count, c.updated_at"""


def get_case(conn, case_id: int, *, lock: bool = False) -> Case | None:
    """The case row (locked for the rest of the transaction when ``lock``)."""
    with conn.cursor(row_factory=class_row(Case)) as cur:
        return cur.execute(f"SELECT {CASE_COLUMNS} FROM cases c WHERE c.id = %s"
                           + (" FOR UPDATE" if lock else ""), (case_id,)).fetchone()


def update_case(conn, case_id: int, **values) -> Case:
    """Set ``values`` on the case, bump its version and return the new row."""
    sets = ", ".join(f"{column} = %({column})s" for column in values)
    with conn.cursor(row_factory=class_row(Case)) as cur:
        case = cur.execute(
            f"UPDATE cases c SET {sets}{', ' if sets else ''}version = version + 1, updated_at = now()"
            f" WHERE c.id = %(case_id)s RETURNING {CASE_COLUMNS}",
            {**values, "case_id": case_id}).fetchone()
    if case is None:  # row-level security refused what the policy allowed: fail closed
        raise NotFound("No such record, or it is not yours to see.")
    return case


PARTICIPANTS = """SELECT p.agency_id, a.kind AS agency_kind, a.name AS agency_name, p.assigned_user_id,
                          p.joined_at, p.left_at
                     FROM case_participants p JOIN agencies a ON a.id = p.agency_id
                    WHERE p.case_id = %(case)s AND (%(left)s OR p.left_at IS NULL)"""
REFERRAL_IDS = "ARRAY(SELECT referral_id FROM case_referrals WHERE case_id = %(case)s ORDER BY referral_id)"


def participants(conn, case_id: int, *, include_left: bool = True) -> list[CaseParticipant]:
    with conn.cursor(row_factory=class_row(CaseParticipant)) as cur:
        return cur.execute(PARTICIPANTS + " ORDER BY p.joined_at, p.agency_id",
                           {"case": case_id, "left": include_left}).fetchall()


def participants_and_referrals(conn, case_id: int) -> tuple[list[CaseParticipant], list[int]]:
    """The case's agencies (those who left included) and its referrals' ids, in one statement."""
    rows = conn.execute(
        f"""SELECT p.*, r.referral_ids FROM (SELECT {REFERRAL_IDS} AS referral_ids) r
              LEFT JOIN LATERAL ({PARTICIPANTS}) p ON true
             ORDER BY p.joined_at, p.agency_id""", {"case": case_id, "left": True}).fetchall()
    people = [CaseParticipant(**{k: v for k, v in r.items() if k != "referral_ids"})
              for r in rows if r["agency_id"] is not None]
    return people, rows[0]["referral_ids"]


def agency(conn, agency_id: int):
    return conn.execute("SELECT id, kind, region_id, is_active FROM agencies WHERE id = %s",
                        (agency_id,)).fetchone()


def add_participant(conn, case_id: int, agency_id: int) -> bool:
    """Add the agency, or bring it back if it left; True if it had left before."""
    row = conn.execute(
        """INSERT INTO case_participants (case_id, agency_id) VALUES (%s, %s)
           ON CONFLICT (case_id, agency_id) DO NOTHING RETURNING agency_id""",
        (case_id, agency_id)).fetchone()
    if row is not None:
        return False
    conn.execute("""UPDATE case_participants SET left_at = NULL, joined_at = now(), assigned_user_id = NULL
                     WHERE case_id = %s AND agency_id = %s""", (case_id, agency_id))
    return True


def mark_left(conn, case_id: int, agency_id: int) -> None:
    conn.execute("""UPDATE case_participants SET left_at = now(), assigned_user_id = NULL
                     WHERE case_id = %s AND agency_id = %s AND left_at IS NULL""", (case_id, agency_id))


def set_assignee(conn, case_id: int, agency_id: int, user_id: int | None) -> None:
    conn.execute("""UPDATE case_participants SET assigned_user_id = %s
                     WHERE case_id = %s AND agency_id = %s AND left_at IS NULL""",
                 (user_id, case_id, agency_id))


def assignable_user(conn, user_id: int, agency_id: int) -> bool:
    """Is ``user_id`` an enabled caseworker or supervisor of ``agency_id``?"""
    row = conn.execute(
        """SELECT 1 FROM users u JOIN user_roles r ON r.user_id = u.id
            WHERE u.id = %s AND u.agency_id = %s AND u.disabled_at IS NULL
              AND r.role IN ('caseworker', 'supervisor') LIMIT 1""", (user_id, agency_id)).fetchone()
    return row is not None


# --- Lists --------------------------------------------------------------------------------------

_FILTERS = """
   AND (%(state)s::text IS NULL OR c.state = %(state)s)
   AND (%(priority)s::text IS NULL OR c.priority = %(priority)s)
   AND (%(district_id)s::bigint IS NULL OR c.district_id = %(district_id)s)
   AND (%(opened_from)s::date IS NULL OR c.opened_at >= %(opened_from)s::date)
   AND (%(opened_to)s::date IS NULL OR c.opened_at < %(opened_to)s::date + 1)
   AND (%(agency_id)s::bigint IS NULL OR EXISTS (
        SELECT 1 FROM case_participants f WHERE f.case_id = c.id AND f.agency_id = %(agency_id)s
           AND f.left_at IS NULL))
   AND (%(before_id)s::bigint IS NULL OR c.id < %(before_id)s)"""

# A practitioner's cases, by DESIGN.md §4 (services.policy.case_in_scope): those their agency
# takes part in (a caseworker: assigned to them or not yet assigned in the agency), plus the cases
# of children under their live emergency grant.
#
# The agency's participations are walked newest first on case_participants_agency_idx and each
# case is fetched by its key, stopping at the page size. Both subqueries are fenced (OFFSET 0):
# left to itself the planner underestimates how many cases the row-level security filter keeps
# and reads the whole cases table instead (0.5 s rather than 1 ms for 20,000 cases).
PRACTITIONER_LIST = f"""
SELECT * FROM (
  (SELECT c.*, false AS via_grant
     FROM (SELECT p.case_id FROM case_participants p
            WHERE p.agency_id = %(agency)s AND p.left_at IS NULL
              AND (%(supervisor)s OR p.assigned_user_id IS NULL OR p.assigned_user_id = %(user)s)
              AND (%(before_id)s::bigint IS NULL OR p.case_id < %(before_id)s)
            ORDER BY p.case_id DESC OFFSET 0) p
     CROSS JOIN LATERAL (SELECT {CASE_COLUMNS} FROM cases c WHERE c.id = p.case_id {_FILTERS} OFFSET 0) c
    ORDER BY p.case_id DESC LIMIT %(limit)s)
  UNION ALL
  (SELECT {CASE_COLUMNS}, true AS via_grant
     FROM access_grants g JOIN cases c ON c.child_id = g.child_id
    WHERE %(caseworker)s AND g.user_id = %(user)s AND g.revoked_at IS NULL AND g.expires_at > now()
      {_FILTERS}
    ORDER BY c.id DESC LIMIT %(limit)s)
) u
ORDER BY id DESC, via_grant
"""

OVERSIGHT_LIST = f"""
SELECT {CASE_COLUMNS}, false AS via_grant FROM cases c
 WHERE c.region_id = %(region)s {_FILTERS}
 ORDER BY c.id DESC LIMIT %(limit)s
"""


def list_cases(conn, *, scope: str, user_id: int | None, agency_id: int | None, region_id: int | None,
               supervisor: bool, caseworker: bool, limit: int, before_id: int | None,
               state: str | None = None, priority: str | None = None, agency_filter: int | None = None,
               district_id: int | None = None, opened_from: date | None = None,
               opened_to: date | None = None) -> list[dict]:
    """One page of the cases ``scope`` ("practitioner" or "oversight") may read, newest first."""
    params = {"user": user_id, "agency": agency_id, "region": region_id, "supervisor": supervisor,
              "caseworker": caseworker, "limit": limit, "before_id": before_id, "state": state,
              "priority": priority, "agency_id": agency_filter, "district_id": district_id,
              "opened_from": opened_from, "opened_to": opened_to}
    sql = OVERSIGHT_LIST if scope == "oversight" else PRACTITIONER_LIST
    rows = conn.execute(sql, params).fetchall()
    seen, page = set(), []
    for row in rows:  # a case both in the agency's scope and under a grant appears once
        if row["id"] not in seen:
            seen.add(row["id"])
            page.append(row)
    return page[:limit]


# --- Assessments --------------------------------------------------------------------------------

ASSESSMENT_COLUMNS = """id, case_id, kind, agency_id, assignee_user_id, state, outcome, created_at,
    completed_at, result_entry_id"""


def assessments(conn, case_id: int) -> list[Assessment]:
    with conn.cursor(row_factory=class_row(Assessment)) as cur:
        return cur.execute(f"SELECT {ASSESSMENT_COLUMNS} FROM assessments WHERE case_id = %s ORDER BY id",
                           (case_id,)).fetchall()


def get_assessment(conn, case_id: int, assessment_id: int, *, lock: bool = False) -> Assessment | None:
    with conn.cursor(row_factory=class_row(Assessment)) as cur:
        return cur.execute(f"SELECT {ASSESSMENT_COLUMNS} FROM assessments WHERE id = %s AND case_id = %s"
                           + (" FOR UPDATE" if lock else ""), (assessment_id, case_id)).fetchone()


def insert_assessment(conn, case_id: int, kind: str, agency_id: int, assignee_user_id: int | None) -> Assessment:
    with conn.cursor(row_factory=class_row(Assessment)) as cur:
        return cur.execute(
            f"""INSERT INTO assessments (case_id, kind, agency_id, assignee_user_id)
                VALUES (%s, %s, %s, %s) RETURNING {ASSESSMENT_COLUMNS}""",
            (case_id, kind, agency_id, assignee_user_id)).fetchone()


def update_assessment(conn, assessment_id: int, **values) -> None:
    sets = ", ".join(f"{column} = %({column})s" for column in values)
    conn.execute(f"UPDATE assessments SET {sets}, updated_at = now() WHERE id = %(assessment_id)s",
                 {**values, "assessment_id": assessment_id})


def outstanding_assessments(conn, case_id: int, agency_id: int | None = None) -> list[int]:
    rows = conn.execute(
        """SELECT id FROM assessments WHERE case_id = %s AND state IN ('assigned', 'skip_requested')
              AND (%s::bigint IS NULL OR agency_id = %s) ORDER BY id""",
        (case_id, agency_id, agency_id)).fetchall()
    return [r["id"] for r in rows]


# --- Approvals belonging to cases --------------------------------------------------------------

def insert_approval(conn, *, kind: str, agency_id: int, case_id: int, requested_by: int, reason: str,
                    assessment_id: int | None = None) -> int:
    row = conn.execute(
        """INSERT INTO approvals (kind, agency_id, case_id, assessment_id, requested_by, reason)
           VALUES (%s, %s, %s, %s, %s, %s) RETURNING id""",
        (kind, agency_id, case_id, assessment_id, requested_by, reason)).fetchone()
    return row["id"]


def pending_approval_id(conn, kind: str, case_id: int) -> int | None:
    row = conn.execute("SELECT id FROM approvals WHERE kind = %s AND case_id = %s AND state = 'pending'",
                       (kind, case_id)).fetchone()
    return row["id"] if row else None


# --- Chronology ---------------------------------------------------------------------------------

ENTRY_COLUMNS = """e.id, e.case_id, e.child_id, e.kind, e.visibility, e.author_user_id, e.agency_id,
    e.occurred_at, e.created_at, e.corrects_id, e.addressed_agency_id, e.due_at, b.body,
    ARRAY(SELECT k.id FROM chronology_entries k WHERE k.corrects_id = e.id ORDER BY k.id) AS corrected_by"""


def insert_entry(conn, *, case_id: int, child_id: int, kind: str, visibility: str, author_user_id: int,
                 agency_id: int, occurred_at: datetime, body: str, corrects_id: int | None = None,
                 addressed_agency_id: int | None = None, due_at: datetime | None = None) -> int:
    """Append an entry and its body; the id is drawn first because an entry's author may not be
    allowed to read it back (own-agency or restricted entries of a grantee)."""
    entry_id = conn.execute("SELECT nextval('chronology_entries_id_seq') AS id").fetchone()["id"]
    conn.execute(
        """INSERT INTO chronology_entries (id, case_id, child_id, kind, visibility, author_user_id,
               agency_id, occurred_at, corrects_id, addressed_agency_id, due_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (entry_id, case_id, child_id, kind, visibility, author_user_id, agency_id, occurred_at,
         corrects_id, addressed_agency_id, due_at))
    conn.execute("INSERT INTO chronology_bodies (entry_id, body) VALUES (%s, %s)", (entry_id, body))
    return entry_id


def get_entry(conn, entry_id: int) -> Entry | None:
    with conn.cursor(row_factory=class_row(Entry)) as cur:
        return cur.execute(
            f"""SELECT {ENTRY_COLUMNS} FROM chronology_entries e
                  LEFT JOIN chronology_bodies b ON b.entry_id = e.id WHERE e.id = %s""",
            (entry_id,)).fetchone()


def entries(conn, *, case_ids: list[int], child_id: int | None = None, agency_id: int | None = None,
            kind: str | None = None, after: tuple[datetime, int] | None = None, limit: int) -> list[Entry]:
    """One page of the entries of ``case_ids`` (or of the child across them), oldest first."""
    where = "e.child_id = %(child)s AND e.case_id = ANY(%(cases)s)" if child_id is not None \
        else "e.case_id = ANY(%(cases)s)"
    with conn.cursor(row_factory=class_row(Entry)) as cur:
        return cur.execute(
            f"""SELECT {ENTRY_COLUMNS} FROM chronology_entries e
                  LEFT JOIN chronology_bodies b ON b.entry_id = e.id
                 WHERE {where}
                   AND (%(agency)s::bigint IS NULL OR e.agency_id = %(agency)s)
                   AND (%(kind)s::text IS NULL OR e.kind = %(kind)s)
                   AND (%(after_t)s::timestamptz IS NULL
                        OR (e.occurred_at, e.id) > (%(after_t)s::timestamptz, %(after_id)s::bigint))
                 ORDER BY e.occurred_at, e.id LIMIT %(limit)s""",
            {"child": child_id, "cases": case_ids, "agency": agency_id, "kind": kind,
             "after_t": after[0] if after else None, "after_id": after[1] if after else None,
             "limit": limit}).fetchall()
