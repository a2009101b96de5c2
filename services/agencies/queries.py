"""Every SQL statement about regions, districts, agencies and users."""
from __future__ import annotations

from psycopg.rows import class_row

from services.agencies.records import Agency, User

USER_SELECT = """
SELECT u.id, u.agency_id, u.username, u.full_name, u.email, u.preferred_language,
       COALESCE(ARRAY(SELECT role FROM user_roles r WHERE r.user_id = u.id ORDER BY role), '{}')
           AS roles,
       u.disabled_at IS NOT NULL AS disabled,
       u.totp_enrolled_at IS NOT NULL AS totp_enrolled,
       a.region_id
  FROM users u JOIN agencies a ON a.id = u.agency_id
"""


def _user(row) -> User | None:
    if row is None:
        return None
    return User(**{**row, "roles": tuple(row["roles"])})


def get_user(conn, user_id: int) -> User | None:
    return _user(conn.execute(USER_SELECT + " WHERE u.id = %s", (user_id,)).fetchone())


def get_user_by_username(conn, username: str) -> User | None:
    return _user(conn.execute(USER_SELECT + " WHERE lower(u.username) = lower(%s)",
                              (username,)).fetchone())


def list_users(conn, agency_id: int) -> list[User]:
    rows = conn.execute(USER_SELECT + " WHERE u.agency_id = %s ORDER BY u.username", (agency_id,))
    return [_user(r) for r in rows]


def get_credentials(conn, username: str):
    """Password hash, TOTP state and status for sign-in; never leaves the auth package."""
    return conn.execute(
        """SELECT u.id, u.password_hash, u.totp_secret, u.totp_enrolled_at, u.totp_last_step,
                  u.disabled_at, a.is_active AS agency_active
             FROM users u JOIN agencies a ON a.id = u.agency_id
            WHERE lower(u.username) = lower(%s)""",
        (username,),
    ).fetchone()


def get_agency(conn, agency_id: int) -> Agency | None:
    with conn.cursor(row_factory=class_row(Agency)) as cur:
        return cur.execute(
            "SELECT id, code, name, kind, region_id, district_id, is_active FROM agencies WHERE id = %s",
            (agency_id,),
        ).fetchone()


def get_agency_by_code(conn, code: str) -> Agency | None:
    with conn.cursor(row_factory=class_row(Agency)) as cur:
        return cur.execute(
            "SELECT id, code, name, kind, region_id, district_id, is_active FROM agencies WHERE code = %s",
            (code,),
        ).fetchone()


def list_agencies(conn, region_id: int | None = None) -> list[Agency]:
    with conn.cursor(row_factory=class_row(Agency)) as cur:
        if region_id is None:
            return cur.execute("SELECT id, code, name, kind, region_id, district_id, is_active "
                               "FROM agencies ORDER BY code").fetchall()
        return cur.execute("SELECT id, code, name, kind, region_id, district_id, is_active "
                           "FROM agencies WHERE region_id = %s ORDER BY code", (region_id,)).fetchall()


def get_region_by_code(conn, code: str):
    return conn.execute("SELECT id, code, name, timezone FROM regions WHERE code = %s", (code,)).fetchone()


def get_district(conn, region_id: int, code: str):
    return conn.execute("SELECT id, code, name FROM districts WHERE region_id = %s AND code = %s",
                        (region_id, code)).fetchone()


def count_users(conn) -> int:
    return conn.execute("SELECT count(*) AS n FROM users").fetchone()["n"]
