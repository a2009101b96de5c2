"""Statistics for the regional coordination council and oversight (DESIGN.md §1, §4, §7), and the
merge of the two revisions that grew from 0010_merge (agency systems; clock write policies).

Row-level security shows the council no child row at all, so the figures are computed here, by
SECURITY DEFINER functions owned by the NOLOGIN policy role, that return counts and durations
only. Each function first asks who is acting (the transaction's ``qorgau.roles``,
``qorgau.region_id`` and ``qorgau.actor_kind``, set by services.db.set_actor): a person holding
``oversight`` or ``council`` in the region asked about, nobody else; anyone else gets an
insufficient_privilege error. For the council every count below 5 (zero included) and every
duration computed over fewer than 5 cases comes back as NULL, so the small numbers never leave
PostgreSQL; services/statistics/suppression.py then hides complementary cells so that no total or
difference recovers one (DESIGN.md §4: "small counts (< 5) suppressed so no child can be
re-identified from published figures"). Oversight gets exact figures.

Periods are calendar days [from, to] in the region's own time zone (regions.timezone).

Revision ID: 0012_statistics
Revises: 0011_agency_systems, 0011_clock_write_policies
"""
from alembic import op

revision = "0012_statistics"
down_revision = ("0011_agency_systems", "0011_clock_write_policies")
branch_labels = None
depends_on = None

READER_SQL = r"""
-- 'oversight' or 'council': how the acting person may read the region's statistics; refuses
-- everyone else (practitioners, admins, agency systems, another region's oversight or council).
CREATE FUNCTION qorgau_statistics_reader(p_region bigint) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  IF coalesce(current_setting('qorgau.actor_kind', true), '') <> 'user'
     OR p_region IS NULL OR p_region IS DISTINCT FROM qorgau_rid() THEN
    RAISE EXCEPTION 'statistics are for oversight and the council of the region'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF qorgau_has_role('oversight') THEN
    RETURN 'oversight';
  END IF;
  IF qorgau_has_role('council') THEN
    RETURN 'council';
  END IF;
  RAISE EXCEPTION 'statistics are for oversight and the council of the region'
    USING ERRCODE = 'insufficient_privilege';
END $$;

-- A count as the reader may see it: exact for oversight, NULL below 5 for the council.
CREATE FUNCTION qorgau_statistics_count(p_reader text, p_count bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN p_reader = 'oversight' OR p_count >= 5 THEN p_count END
$$;
"""


def statistics_function(name: str, returns: str, body: str) -> str:
    """A statistics function of (region, first day, last day, district or NULL): it checks the
    reader first, and ``body`` (one query) sees ``reader`` and the region's time ``zone``."""
    return f"""
CREATE FUNCTION {name}(p_region bigint, p_from date, p_to date, p_district bigint)
RETURNS TABLE ({returns})
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
#variable_conflict use_column
DECLARE
  reader text := qorgau_statistics_reader(p_region);
  zone text := (SELECT timezone FROM regions WHERE id = p_region);
BEGIN
  RETURN QUERY
{body};
END $$;
"""


# Submitted referrals (current versions, not drafts) of the region, the period and the district.
SUBMITTED = """r.region_id = p_region AND r.state <> 'draft' AND r.superseded_by_id IS NULL
             AND r.submitted_at IS NOT NULL
             AND (r.submitted_at AT TIME ZONE zone)::date BETWEEN p_from AND p_to
             AND (p_district IS NULL OR r.district_id = p_district)"""

# The region's clocks and the agencies owning them, in the district (the owning agency's).
CLOCKS = """clocks k JOIN agencies a ON a.id = k.agency_id
           WHERE k.region_id = p_region AND (p_district IS NULL OR a.district_id = p_district)"""

# Referrals by ISO week of submission (its Monday), district and category, with every margin (a
# NULL key with its *_all flag set means "all"). A referral with two categories counts once in
# each, and once in a margin over categories.
REFERRALS = statistics_function(
    "qorgau_statistics_referrals",
    "week date, week_all boolean, district_id bigint, district_all boolean, category text,"
    " category_all boolean, referrals bigint", f"""
  SELECT s.week, GROUPING(s.week) = 1, s.district_id, GROUPING(s.district_id) = 1,
         s.category, GROUPING(s.category) = 1,
         qorgau_statistics_count(reader, count(DISTINCT s.id))
    FROM (SELECT r.id, date_trunc('week', r.submitted_at AT TIME ZONE zone)::date AS week,
                 r.district_id, c.category
            FROM referrals r CROSS JOIN LATERAL unnest(r.categories) AS c(category)
           WHERE {SUBMITTED}) s
   GROUP BY GROUPING SETS ((s.week, s.district_id, s.category), (s.week, s.district_id),
                           (s.week, s.category), (s.week), (s.district_id, s.category),
                           (s.district_id), (s.category), ())""")

# Referrals by priority and where screening stands (submitted and screening: still deciding).
OUTCOMES = statistics_function(
    "qorgau_statistics_outcomes",
    "priority text, priority_all boolean, outcome text, outcome_all boolean, referrals bigint", f"""
  SELECT s.priority, GROUPING(s.priority) = 1, s.outcome, GROUPING(s.outcome) = 1,
         qorgau_statistics_count(reader, count(*))
    FROM (SELECT r.priority,
                 CASE WHEN r.state IN ('submitted', 'screening') THEN 'pending' ELSE r.state END AS outcome
            FROM referrals r
           WHERE {SUBMITTED}) s
   GROUP BY GROUPING SETS ((s.priority, s.outcome), (s.priority), (s.outcome), ())""")

# Deadlines falling due in the period, by clock kind: stopped on time, stopped late, still open
# and overdue (cancelled and superseded clocks, and open ones not yet due, are left out).
COMPLIANCE = statistics_function(
    "qorgau_statistics_compliance",
    "kind text, kind_all boolean, status text, status_all boolean, clocks bigint", f"""
  SELECT s.kind, GROUPING(s.kind) = 1, s.status, GROUPING(s.status) = 1,
         qorgau_statistics_count(reader, count(*))
    FROM (SELECT k.kind,
                 CASE WHEN k.stopped_at IS NULL THEN 'open_overdue'
                      WHEN k.stopped_at <= k.due_at THEN 'on_time'
                      ELSE 'late' END AS status
            FROM {CLOCKS}
             AND (k.due_at AT TIME ZONE zone)::date BETWEEN p_from AND p_to
             AND ((k.stopped_at IS NOT NULL AND k.stop_reason = 'completed')
                  OR (k.stopped_at IS NULL AND k.due_at < now()))) s
   GROUP BY GROUPING SETS ((s.kind, s.status), (s.kind), ())""")

# Time to first contact, in hours, from the start of the first_contact clock (a case opened from
# an accepted referral) to the contact that completed it, for clocks started in the period: how
# many, the median and the 90th percentile, by priority and over all. For the council a duration
# over fewer than 5 contacts is NULL (one child's wait must not be published).
FIRST_CONTACT = statistics_function(
    "qorgau_statistics_first_contact",
    "priority text, priority_all boolean, contacts bigint, median_hours numeric, p90_hours numeric", f"""
  SELECT s.priority, GROUPING(s.priority) = 1,
         qorgau_statistics_count(reader, count(*)),
         CASE WHEN reader = 'oversight' OR count(*) >= 5 THEN
           round((percentile_cont(0.5) WITHIN GROUP (ORDER BY s.hours))::numeric, 1) END,
         CASE WHEN reader = 'oversight' OR count(*) >= 5 THEN
           round((percentile_cont(0.9) WITHIN GROUP (ORDER BY s.hours))::numeric, 1) END
    FROM (SELECT k.priority, extract(epoch FROM k.stopped_at - k.started_at) / 3600 AS hours
            FROM {CLOCKS}
             AND k.kind = 'first_contact' AND k.stopped_at IS NOT NULL AND k.stop_reason = 'completed'
             AND (k.started_at AT TIME ZONE zone)::date BETWEEN p_from AND p_to) s
   GROUP BY GROUPING SETS ((s.priority), ())""")

FUNCTIONS = ["qorgau_statistics_reader(bigint)",
             "qorgau_statistics_referrals(bigint, date, date, bigint)",
             "qorgau_statistics_outcomes(bigint, date, date, bigint)",
             "qorgau_statistics_compliance(bigint, date, date, bigint)",
             "qorgau_statistics_first_contact(bigint, date, date, bigint)"]


def upgrade() -> None:
    # The functions read these as their owner; everything else they read it already may.
    op.execute("GRANT SELECT ON regions, districts TO qorgau_policy")
    for sql in (READER_SQL, REFERRALS, OUTCOMES, COMPLIANCE, FIRST_CONTACT):
        op.execute(sql)
    op.execute("REVOKE ALL ON FUNCTION qorgau_statistics_count(text, bigint) FROM PUBLIC")
    op.execute("GRANT EXECUTE ON FUNCTION qorgau_statistics_count(text, bigint) TO qorgau_policy")
    for fn in FUNCTIONS:
        op.execute(f"ALTER FUNCTION {fn} OWNER TO qorgau_policy")
        op.execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO qorgau_app")


def downgrade() -> None:
    for fn in reversed(FUNCTIONS):
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    op.execute("DROP FUNCTION IF EXISTS qorgau_statistics_count(text, bigint)")
    op.execute("REVOKE SELECT ON regions, districts FROM qorgau_policy")
