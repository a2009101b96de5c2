"""Every SQL statement about professional disagreements and their stages."""
from __future__ import annotations

from datetime import datetime

from psycopg.rows import class_row

from services.clocks.records import Disagreement

COLUMNS = """d.id, d.case_id, d.child_id, d.region_id, d.decision_type, d.decision_id, d.raised_by,
d.raised_by_agency_id, d.against_agency_id, d.reason, d.stage, d.state, d.opened_at,
d.stage_started_at, d.resolved_at, d.resolved_by, d.resolution_note,
(SELECT s.due_at FROM disagreement_stages s
  WHERE s.disagreement_id = d.id AND s.stage = d.stage) AS stage_due_at"""


def insert(conn, *, case_id: int, child_id: int | None, region_id: int, decision_type: str,
           decision_id: int | None, raised_by: int, raised_by_agency_id: int,
           against_agency_id: int, reason: str, at: datetime) -> int:
    return conn.execute(
        """INSERT INTO disagreements (case_id, child_id, region_id, decision_type, decision_id,
                  raised_by, raised_by_agency_id, against_agency_id, reason, opened_at,
                  stage_started_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
        (case_id, child_id, region_id, decision_type, decision_id, raised_by, raised_by_agency_id,
         against_agency_id, reason, at, at)).fetchone()["id"]


def add_stage(conn, disagreement_id: int, stage: int, *, at: datetime, by: int | None,
              reason: str | None, clock_id: int, due_at: datetime) -> None:
    conn.execute("""INSERT INTO disagreement_stages (disagreement_id, stage, started_at, started_by,
                           reason, clock_id, due_at) VALUES (%s, %s, %s, %s, %s, %s, %s)""",
                 (disagreement_id, stage, at, by, reason, clock_id, due_at))


def get(conn, disagreement_id: int, *, lock: bool = False) -> Disagreement | None:
    with conn.cursor(row_factory=class_row(Disagreement)) as cur:
        return cur.execute(f"SELECT {COLUMNS} FROM disagreements d WHERE d.id = %s"
                           + (" FOR UPDATE OF d" if lock else ""), (disagreement_id,)).fetchone()


def listing(conn, case_id: int | None, limit: int) -> list[Disagreement]:
    with conn.cursor(row_factory=class_row(Disagreement)) as cur:
        return cur.execute(f"""SELECT {COLUMNS} FROM disagreements d
                                WHERE %(case)s::bigint IS NULL OR d.case_id = %(case)s
                                ORDER BY d.state = 'resolved', d.stage DESC, d.opened_at, d.id
                                LIMIT %(limit)s""", {"case": case_id, "limit": limit}).fetchall()


def set_stage(conn, disagreement_id: int, stage: int, at: datetime) -> None:
    conn.execute("UPDATE disagreements SET stage = %s, stage_started_at = %s WHERE id = %s",
                 (stage, at, disagreement_id))


def resolve(conn, disagreement_id: int, *, by: int, at: datetime, note: str) -> None:
    conn.execute("UPDATE disagreements SET state = 'resolved', resolved_at = %s, resolved_by = %s,"
                 " resolution_note = %s WHERE id = %s", (at, by, note, disagreement_id))


def stages(conn, disagreement_id: int) -> list[dict]:
    return conn.execute("SELECT stage, started_at, started_by, clock_id, due_at"
                        " FROM disagreement_stages WHERE disagreement_id = %s ORDER BY stage",
                        (disagreement_id,)).fetchall()
