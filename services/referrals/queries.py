"""Every SQL statement about referrals, their children, receiving agencies, referrer, attachments
and status updates. All of them run under row-level security as the acting user."""
from __future__ import annotations

from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from services.referrals.records import Recipient

REFERRAL_COLUMNS = """id, version, previous_version_id, superseded_by_id, state, priority, categories,
    observed_at, observed_place, observation, risk, referring_agency_id, region_id, district_id,
    created_by, created_at, submitted_at, updated_at"""


def get_referral(conn, referral_id: int, *, lock: bool = False) -> dict | None:
    return conn.execute(f"SELECT {REFERRAL_COLUMNS} FROM referrals WHERE id = %s"
                        + (" FOR UPDATE" if lock else ""), (referral_id,)).fetchone()


def insert_referral(conn, *, agency_id: int, region_id: int, district_id: int | None, user_id: int,
                    priority: str, categories: list[str], observed_at, observed_place: str | None,
                    observation: str, risk: dict, version: int = 1,
                    previous_version_id: int | None = None) -> int:
    """A new draft; the id is drawn first because the row is not readable while it is inserted."""
    referral_id = conn.execute("SELECT nextval('referrals_id_seq') AS id").fetchone()["id"]
    conn.execute(
        """INSERT INTO referrals (id, version, previous_version_id, state, priority, categories,
                                  observed_at, observed_place, observation, risk,
                                  referring_agency_id, region_id, district_id, created_by)
           OVERRIDING SYSTEM VALUE
           VALUES (%s, %s, %s, 'draft', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (referral_id, version, previous_version_id, priority, categories, observed_at,
         observed_place, observation, Jsonb(risk), agency_id, region_id, district_id, user_id))
    return referral_id


def update_draft(conn, referral_id: int, *, priority: str, categories: list[str], observed_at,
                 observed_place: str | None, observation: str, risk: dict,
                 district_id: int | None) -> None:
    conn.execute(
        """UPDATE referrals SET priority = %s, categories = %s, observed_at = %s, observed_place = %s,
                  observation = %s, risk = %s, district_id = %s, updated_at = now()
            WHERE id = %s AND state = 'draft'""",
        (priority, categories, observed_at, observed_place, observation, Jsonb(risk), district_id,
         referral_id))


def mark_submitted(conn, referral_id: int) -> None:
    conn.execute("""UPDATE referrals SET state = 'submitted', submitted_at = now(), updated_at = now()
                     WHERE id = %s AND state = 'draft'""", (referral_id,))


def set_state(conn, referral_id: int, state: str) -> None:
    conn.execute("UPDATE referrals SET state = %s, updated_at = now() WHERE id = %s",
                 (state, referral_id))


def set_priority(conn, referral_id: int, priority: str) -> None:
    conn.execute("UPDATE referrals SET priority = %s, updated_at = now() WHERE id = %s",
                 (priority, referral_id))


def mark_superseded(conn, referral_id: int, by_id: int) -> int:
    return conn.execute("""UPDATE referrals SET superseded_by_id = %s, updated_at = now()
                            WHERE id = %s AND superseded_by_id IS NULL""", (by_id, referral_id)).rowcount


def concern_district(conn, child_ids: list[int], agency_id: int) -> int | None:
    """The first named child's district (as far as the caller reads it), else the agency's."""
    return conn.execute(
        """SELECT coalesce((SELECT c.district_id FROM children c WHERE c.id = ANY(%s)
                             AND c.district_id IS NOT NULL ORDER BY c.id LIMIT 1),
                           (SELECT a.district_id FROM agencies a WHERE a.id = %s)) AS district_id""",
        (child_ids, agency_id)).fetchone()["district_id"]


# --- Children, receiving agencies, referrer -----------------------------------------------------

def child_ids(conn, referral_id: int) -> list[int]:
    rows = conn.execute("SELECT child_id FROM referral_children WHERE referral_id = %s ORDER BY child_id",
                        (referral_id,)).fetchall()
    return [r["child_id"] for r in rows]


def children_of(conn, referral_id: int) -> list[dict]:
    """The children named, with the identity fields a reader of the referral may see."""
    return conn.execute(
        """SELECT rc.child_id AS id, c.last_name, c.first_name, c.date_of_birth
             FROM referral_children rc LEFT JOIN children c ON c.id = rc.child_id
            WHERE rc.referral_id = %s ORDER BY rc.child_id""", (referral_id,)).fetchall()


def set_children(conn, referral_id: int, ids: list[int]) -> None:
    conn.execute("DELETE FROM referral_children WHERE referral_id = %s", (referral_id,))
    conn.execute("INSERT INTO referral_children (referral_id, child_id) SELECT %s, unnest(%s::bigint[])",
                 (referral_id, ids))


def recipients_of(conn, referral_id: int) -> list[Recipient]:
    with conn.cursor(row_factory=class_row(Recipient)) as cur:
        return cur.execute(
            """SELECT agency_id, status, decided_at, redirected_to, decision_note
                 FROM referral_recipients WHERE referral_id = %s ORDER BY agency_id""",
            (referral_id,)).fetchall()


def set_recipients(conn, referral_id: int, agency_ids: list[int]) -> None:
    conn.execute("DELETE FROM referral_recipients WHERE referral_id = %s", (referral_id,))
    conn.execute("""INSERT INTO referral_recipients (referral_id, agency_id)
                    SELECT %s, unnest(%s::bigint[])""", (referral_id, agency_ids))


def copy_recipients(conn, from_id: int, to_id: int) -> None:
    """A correction keeps every receiving agency and the decisions already made."""
    conn.execute(
        """INSERT INTO referral_recipients (referral_id, agency_id, status, decided_by, decided_at,
                                            redirected_to, decision_note)
           SELECT %s, agency_id, status, decided_by, decided_at, redirected_to, decision_note
             FROM referral_recipients WHERE referral_id = %s""", (to_id, from_id))


def add_recipient(conn, referral_id: int, agency_id: int) -> None:
    conn.execute("INSERT INTO referral_recipients (referral_id, agency_id) VALUES (%s, %s)",
                 (referral_id, agency_id))


def set_recipient_status(conn, referral_id: int, agency_id: int, status: str, *, from_status: str,
                         decided_by: int, redirected_to: int | None = None,
                         note: str | None = None) -> int:
    return conn.execute(
        """UPDATE referral_recipients
              SET status = %s, decided_by = %s, decided_at = now(), redirected_to = %s,
                  decision_note = %s
            WHERE referral_id = %s AND agency_id = %s AND status = %s""",
        (status, decided_by, redirected_to, note, referral_id, agency_id, from_status)).rowcount


def reopen_recipient(conn, referral_id: int, agency_id: int) -> int:
    """A rejected screen-out: the agency is deciding again."""
    return conn.execute(
        """UPDATE referral_recipients SET status = 'pending', decided_by = NULL, decided_at = NULL
            WHERE referral_id = %s AND agency_id = %s AND status = 'screen_out_requested'""",
        (referral_id, agency_id)).rowcount


def insert_referrer(conn, referral_id: int, user_id: int, contact: str | None) -> None:
    conn.execute(
        """INSERT INTO referral_referrers (referral_id, user_id, full_name, contact)
           SELECT %s, u.id, u.full_name, %s FROM users u WHERE u.id = %s""",
        (referral_id, contact, user_id))


def referrer_of(conn, referral_id: int) -> dict | None:
    return conn.execute("SELECT user_id, full_name, contact FROM referral_referrers WHERE referral_id = %s",
                        (referral_id,)).fetchone()


# --- Attachments -------------------------------------------------------------------------------

ATTACHMENT_COLUMNS = """a.id, a.referral_id, a.filename, a.content_type, a.size_bytes, a.sha256,
    a.created_at, a.supersedes_id,
    (SELECT min(n.id) FROM referral_attachments n WHERE n.supersedes_id = a.id) AS superseded_by_id"""


def attachment(conn, attachment_id: int, *, with_data: bool = False) -> dict | None:
    return conn.execute(f"SELECT {ATTACHMENT_COLUMNS}{', a.data' if with_data else ''}"
                        " FROM referral_attachments a WHERE a.id = %s", (attachment_id,)).fetchone()


def attachments_of(conn, referral_ids: list[int]) -> list[dict]:
    return conn.execute(f"SELECT {ATTACHMENT_COLUMNS} FROM referral_attachments a"
                        " WHERE a.referral_id = ANY(%s) ORDER BY a.id", (referral_ids,)).fetchall()


def insert_attachment(conn, referral_id: int, *, filename: str, content_type: str, data: bytes,
                      sha256: str, uploaded_by: int, supersedes_id: int | None) -> int:
    return conn.execute(
        """INSERT INTO referral_attachments (referral_id, filename, content_type, size_bytes, sha256,
                                             data, uploaded_by, supersedes_id)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
        (referral_id, filename, content_type, len(data), sha256, data, uploaded_by,
         supersedes_id)).fetchone()["id"]


# --- Status updates for the referrer ------------------------------------------------------------

def insert_referrer_update(conn, referral_id: int, agency_id: int, status: str) -> int:
    return conn.execute(
        """INSERT INTO referrer_updates (referral_id, referring_agency_id, status)
           VALUES (%s, %s, %s) RETURNING id""", (referral_id, agency_id, status)).fetchone()["id"]


def referrer_updates(conn, referral_ids: list[int]) -> list[dict]:
    return conn.execute(
        """SELECT referral_id, status, created_at FROM referrer_updates
            WHERE referral_id = ANY(%s) ORDER BY id""", (referral_ids,)).fetchall()


def current_version_id(conn, referral_id: int) -> int:
    """The latest version of the referral (approvals may name an earlier one)."""
    row = conn.execute(
        """WITH RECURSIVE later(id, superseded_by_id, depth) AS (
               SELECT id, superseded_by_id, 0 FROM referrals WHERE id = %s
               UNION ALL
               SELECT r.id, r.superseded_by_id, l.depth + 1 FROM referrals r
                 JOIN later l ON r.id = l.superseded_by_id)
           SELECT id FROM later ORDER BY depth DESC LIMIT 1""", (referral_id,)).fetchone()
    return row["id"] if row else referral_id


def version_chain(conn, referral_id: int) -> list[int]:
    """The ids of every version before this one (readable ones), oldest first."""
    rows = conn.execute(
        """WITH RECURSIVE chain(id, previous_version_id) AS (
               SELECT id, previous_version_id FROM referrals WHERE id = %s
               UNION ALL
               SELECT r.id, r.previous_version_id FROM referrals r JOIN chain c ON r.id = c.previous_version_id)
           SELECT id FROM chain ORDER BY id""", (referral_id,)).fetchall()
    return [r["id"] for r in rows]


# --- Agencies -----------------------------------------------------------------------------------

def agencies(conn, ids: list[int]) -> dict[int, dict]:
    rows = conn.execute("SELECT id, kind, region_id, district_id, is_active FROM agencies WHERE id = ANY(%s)",
                        (ids,)).fetchall()
    return {r["id"]: r for r in rows}


# --- Approvals ----------------------------------------------------------------------------------

def insert_approval(conn, *, kind: str, agency_id: int, referral_id: int, requested_by: int,
                    reason: str, proposed_priority: str | None = None) -> int:
    return conn.execute(
        """INSERT INTO approvals (kind, agency_id, referral_id, requested_by, reason, proposed_priority)
           VALUES (%s, %s, %s, %s, %s, %s) RETURNING id""",
        (kind, agency_id, referral_id, requested_by, reason, proposed_priority)).fetchone()["id"]


def pending_approval(conn, referral_ids: list[int], agency_id: int, kind: str) -> int | None:
    """The agency's undecided request of this kind on any version of the referral."""
    row = conn.execute(
        """SELECT id FROM approvals WHERE referral_id = ANY(%s) AND agency_id = %s AND kind = %s
              AND state = 'pending'""", (referral_ids, agency_id, kind)).fetchone()
    return row["id"] if row else None


# --- Lists --------------------------------------------------------------------------------------
# Each box restates, in SQL, the rule of services/policy.py that makes a referral readable, so a
# list never depends on row-level security alone (which filters it again).
BOXES = {
    "incoming": """r.state <> 'draft' AND EXISTS (
        SELECT 1 FROM referral_recipients t WHERE t.referral_id = r.id
           AND t.agency_id = %(agency)s AND t.status <> 'redirected')""",
    "sent": """r.referring_agency_id = %(agency)s AND (r.state IN ('submitted', 'screening')
        OR (r.state = 'draft' AND r.created_by = %(user)s))""",
    "cases": """EXISTS (
        SELECT 1 FROM case_referrals cr JOIN case_participants p ON p.case_id = cr.case_id
         WHERE cr.referral_id = r.id AND p.agency_id = %(agency)s AND p.left_at IS NULL
           AND (%(supervisor)s OR p.assigned_user_id IS NULL OR p.assigned_user_id = %(user)s))""",
    "region": "r.region_id = %(region)s",
}

LIST = """
SELECT r.id, r.version, r.state, r.priority, r.categories, r.observed_at, r.referring_agency_id,
       r.district_id, r.created_at, r.submitted_at,
       ARRAY(SELECT rc.child_id FROM referral_children rc WHERE rc.referral_id = r.id
              ORDER BY rc.child_id) AS child_ids,
       coalesce((SELECT jsonb_agg(jsonb_build_object('agency_id', t.agency_id, 'status', t.status)
                                  ORDER BY t.agency_id)
                   FROM referral_recipients t WHERE t.referral_id = r.id), '[]') AS recipients
  FROM referrals r
 WHERE ({boxes})
   AND r.superseded_by_id IS NULL
   AND (%(state)s::text IS NULL OR r.state = %(state)s)
   AND (%(priority)s::text IS NULL OR r.priority = %(priority)s)
   AND (%(district)s::bigint IS NULL OR r.district_id = %(district)s)
   AND (%(other)s::bigint IS NULL OR r.referring_agency_id = %(other)s OR EXISTS (
        SELECT 1 FROM referral_recipients o WHERE o.referral_id = r.id AND o.agency_id = %(other)s))
   AND (%(since)s::timestamptz IS NULL OR r.created_at >= %(since)s)
   AND (%(until)s::timestamptz IS NULL OR r.created_at < %(until)s)
   AND (%(after)s::bigint IS NULL OR r.id < %(after)s)
 ORDER BY r.id DESC
 LIMIT %(limit)s
"""


def list_referrals(conn, boxes: list[str], params: dict) -> list[dict]:
    """Newest first; ``boxes`` names the BOXES any of which admits a referral."""
    if not boxes:
        return []
    where = " OR ".join(f"({BOXES[b]})" for b in boxes)
    return conn.execute(LIST.format(boxes=where), params).fetchall()
