"""Every SQL statement about region calendars, deadline policies and agency heads."""
from __future__ import annotations

from datetime import date, datetime, time

from psycopg.rows import class_row

from services.clocks.records import Policy, Rule

POLICY_LOCK = 3003  # advisory lock class for saving a policy version

POLICY_COLUMNS = """id, region_id, version, reminder_percent, level_2_after_wd, level_3_after_wd,
unacknowledged_after, unacknowledged_repeat, reason, created_at"""


def region(conn, region_id: int):
    return conn.execute("SELECT id, code, name, timezone FROM regions WHERE id = %s",
                        (region_id,)).fetchone()


def region_by_code(conn, code: str):
    return conn.execute("SELECT id, code, name, timezone FROM regions WHERE code = %s",
                        (code,)).fetchone()


def working_hours(conn, region_id: int) -> tuple[time, time] | None:
    row = conn.execute("SELECT day_start, day_end FROM region_calendars WHERE region_id = %s",
                       (region_id,)).fetchone()
    return (row["day_start"], row["day_end"]) if row else None


def set_working_hours(conn, region_id: int, start: time, end: time, by: int | None) -> None:
    conn.execute("""INSERT INTO region_calendars (region_id, day_start, day_end, updated_by)
                    VALUES (%s, %s, %s, %s)
                    ON CONFLICT (region_id) DO UPDATE
                    SET day_start = EXCLUDED.day_start, day_end = EXCLUDED.day_end,
                        updated_by = EXCLUDED.updated_by, updated_at = now()""",
                 (region_id, start, end, by))


def calendar_rows(conn, region_id: int) -> list[dict]:
    """The effective entries of a region: its own rows, and national rows on the other dates."""
    return conn.execute(
        """SELECT DISTINCT ON (day) day, kind, name, source,
                  CASE WHEN region_id IS NULL THEN 'national' ELSE 'region' END AS origin
             FROM calendar_days
            WHERE region_id = %s OR region_id IS NULL
            ORDER BY day, region_id NULLS LAST""", (region_id,)).fetchall()


def put_region_day(conn, region_id: int, day: date, kind: str, name: str, source: str | None,
                   by: int | None) -> None:
    conn.execute("""INSERT INTO calendar_days (region_id, day, kind, name, source, created_by)
                    VALUES (%s, %s, %s, %s, %s, %s)
                    ON CONFLICT (region_id, day) WHERE region_id IS NOT NULL DO UPDATE
                    SET kind = EXCLUDED.kind, name = EXCLUDED.name, source = EXCLUDED.source,
                        created_by = EXCLUDED.created_by, created_at = now()""",
                 (region_id, day, kind, name, source, by))


def delete_region_day(conn, region_id: int, day: date) -> bool:
    return conn.execute("DELETE FROM calendar_days WHERE region_id = %s AND day = %s",
                        (region_id, day)).rowcount == 1


# --- deadline policies --------------------------------------------------------------------------


def _with_rules(conn, policy: Policy | None) -> Policy | None:
    if policy is None:
        return None
    with conn.cursor(row_factory=class_row(Rule)) as cur:
        rules = cur.execute("SELECT clock_kind, priority, amount, unit FROM deadline_rules"
                            " WHERE policy_id = %s ORDER BY clock_kind, priority",
                            (policy.id,)).fetchall()
    return Policy(**{**policy.__dict__, "rules": tuple(rules)})


def current_policy(conn, region_id: int) -> Policy | None:
    """The region's latest version, or the national default's when the region has none."""
    with conn.cursor(row_factory=class_row(Policy)) as cur:
        policy = cur.execute(
            f"""SELECT {POLICY_COLUMNS} FROM deadline_policies
                 WHERE region_id = %s OR region_id IS NULL
                 ORDER BY region_id NULLS LAST, version DESC LIMIT 1""", (region_id,)).fetchone()
    return _with_rules(conn, policy)


def policy_by_id(conn, policy_id: int) -> Policy | None:
    with conn.cursor(row_factory=class_row(Policy)) as cur:
        policy = cur.execute(f"SELECT {POLICY_COLUMNS} FROM deadline_policies WHERE id = %s",
                             (policy_id,)).fetchone()
    return _with_rules(conn, policy)


def policy_versions(conn, region_id: int) -> list[dict]:
    return conn.execute(
        """SELECT id, region_id, version, reason, created_by, created_at FROM deadline_policies
            WHERE region_id = %s OR region_id IS NULL
            ORDER BY region_id NULLS FIRST, version""", (region_id,)).fetchall()


def insert_policy(conn, region_id: int, policy: Policy, *, by: int | None, at: datetime) -> int:
    """A new version of the region's policy with ``policy``'s ladder and rules; its id."""
    # A lock per region for the rest of the transaction serialises two admins saving at once,
    # so their versions never collide.
    conn.execute("SELECT pg_advisory_xact_lock(%s, %s::int)", (POLICY_LOCK, region_id))
    row = conn.execute(
        """INSERT INTO deadline_policies (region_id, version, reminder_percent, level_2_after_wd,
                  level_3_after_wd, unacknowledged_after, unacknowledged_repeat, reason,
                  created_by, created_at)
           SELECT %s, coalesce(max(version), 0) + 1, %s, %s, %s, %s, %s, %s, %s, %s
             FROM deadline_policies WHERE region_id = %s
           RETURNING id""",
        (region_id, policy.reminder_percent, policy.level_2_after_wd, policy.level_3_after_wd,
         policy.unacknowledged_after, policy.unacknowledged_repeat, policy.reason, by, at,
         region_id)).fetchone()
    # One statement for all the rules: row-level security gives a version its rules only while it
    # has none (migration 0011_clock_write_policies), so a saved version is never edited.
    conn.execute("INSERT INTO deadline_rules (policy_id, clock_kind, priority, amount, unit)"
                 " SELECT %s, * FROM unnest(%s::text[], %s::text[], %s::int[], %s::text[])",
                 (row["id"], [r.clock_kind for r in policy.rules], [r.priority for r in policy.rules],
                  [r.amount for r in policy.rules], [r.unit for r in policy.rules]))
    return row["id"]


# --- agency heads -------------------------------------------------------------------------------


def heads_of(conn, agency_id: int) -> list[int]:
    return [r["user_id"] for r in conn.execute(
        "SELECT user_id FROM agency_heads WHERE agency_id = %s ORDER BY user_id", (agency_id,))]


def replace_heads(conn, agency_id: int, user_ids: list[int], by: int | None) -> None:
    conn.execute("DELETE FROM agency_heads WHERE agency_id = %s", (agency_id,))
    with conn.cursor() as cur:
        cur.executemany("INSERT INTO agency_heads (agency_id, user_id, assigned_by) VALUES (%s, %s, %s)",
                        [(agency_id, u, by) for u in user_ids])
