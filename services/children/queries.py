"""Every SQL statement about children. Reads run under row-level security unless they call one of
the ``qorgau_*`` policy functions, which return identity fields or yes/no only."""
from __future__ import annotations

from datetime import date

from psycopg.rows import class_row

from services.children.records import Candidate, Child, ChildDetails

CHILD_COLUMNS = """id, iin, last_name, first_name, patronymic, date_of_birth, sex, school_agency_id,
                   district_id, region_id, created_at"""


def get_child(conn, child_id: int) -> Child | None:
    with conn.cursor(row_factory=class_row(Child)) as cur:
        return cur.execute(f"SELECT {CHILD_COLUMNS} FROM children WHERE id = %s",
                           (child_id,)).fetchone()


def children_with_iin(conn, iin: str) -> list[Child]:
    with conn.cursor(row_factory=class_row(Child)) as cur:
        return cur.execute(f"SELECT {CHILD_COLUMNS} FROM children WHERE iin = %s", (iin,)).fetchall()


def children_born_on(conn, day: date) -> list[Child]:
    with conn.cursor(row_factory=class_row(Child)) as cur:
        return cur.execute(f"SELECT {CHILD_COLUMNS} FROM children WHERE date_of_birth = %s ORDER BY id",
                           (day,)).fetchall()


def children_by_ids(conn, ids: list[int]) -> list[Child]:
    with conn.cursor(row_factory=class_row(Child)) as cur:
        return cur.execute(f"SELECT {CHILD_COLUMNS} FROM children WHERE id = ANY(%s) ORDER BY id",
                           (ids,)).fetchall()


def duplicate_candidates(conn, iin: str | None, day: date | None) -> list[Candidate]:
    """Children with this IIN or born on this day, whoever recorded them (identity fields only)."""
    with conn.cursor(row_factory=class_row(Candidate)) as cur:
        return cur.execute("SELECT * FROM qorgau_duplicate_candidates(%s, %s)", (iin, day)).fetchall()


def child_matches(conn, child_id: int, iin: str | None, day: date | None) -> bool:
    row = conn.execute("SELECT qorgau_child_matches(%s, %s, %s) AS ok", (child_id, iin, day)).fetchone()
    return bool(row["ok"])


def insert_child(conn, child: ChildDetails, *, region_id: int, search_key: str, agency_id: int,
                 user_id: int | None) -> int:
    """Record a child; the id is drawn first because the new row is not yet readable."""
    child_id = conn.execute("SELECT nextval('children_id_seq') AS id").fetchone()["id"]
    conn.execute(
        """INSERT INTO children (id, iin, last_name, first_name, patronymic, date_of_birth, sex,
                                 school_agency_id, district_id, region_id, search_key,
                                 created_by_agency_id, created_by)
           OVERRIDING SYSTEM VALUE
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (child_id, child.iin, child.last_name, child.first_name, child.patronymic,
         child.date_of_birth, child.sex, child.school_agency_id, child.district_id, region_id,
         search_key, agency_id, user_id))
    return child_id


def district_region(conn, district_id: int) -> int | None:
    row = conn.execute("SELECT region_id FROM districts WHERE id = %s", (district_id,)).fetchone()
    return row["region_id"] if row else None
