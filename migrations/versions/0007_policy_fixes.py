"""Row-level security brought back in line with the access policy (DESIGN.md §4), where the
three-way checks of tests/access/ (policy module, PostgreSQL, HTTP) found the two apart.

- Restricted content: qorgau_restricted_case_ids() took the caller's scope from
  qorgau_visible_case_ids(), which includes emergency grants. A caseworker of the lead agency (or
  of a participating police unit) whose case is assigned to a colleague could read restricted
  entries and the referrer's identity through a grant. Emergency grants never reach restricted
  content: the scope is now participation alone, as in services/policy.py.
- Instructions: any practitioner who could write to a case could insert an `instruction` entry.
  Instructions are oversight's alone; practitioners write every other kind.
- Oversight and the child: oversight reads every case and referral in its region, and so the
  child it is about, even when the child's record belongs to another region.
- Oversight and the referrer's identity: likewise for the referrer of a referral linked to a case
  in oversight's region.

And two fixes of cost, not of meaning. qorgau_visible_referral_ids() and qorgau_visible_child_ids()
called qorgau_visible_case_ids() bare inside a WHERE clause, where PostgreSQL may evaluate it once
per row scanned; they now call it through a scalar sub-select (an InitPlan, once per statement),
as the policies do. And the helper functions are PL/pgSQL instead of SQL: an SQL function that
cannot be inlined (these are SECURITY DEFINER) is planned again at every call, about 1 ms each,
several times per statement; PL/pgSQL keeps its plans for the session.

Revision ID: 0007_policy_fixes
Revises: 0004_core
"""
import importlib.util
import re
from pathlib import Path

from alembic import op

revision = "0007_policy_fixes"
down_revision = "0004_core"
branch_labels = None
depends_on = None

HELPER = "LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp"

FUNCTIONS = f"""
-- Cases the acting practitioner may read (unchanged rule): their agency takes part and has not
-- left; a caseworker only where the case is assigned to them or not yet assigned; plus the cases
-- of children under a live emergency grant of theirs.
CREATE OR REPLACE FUNCTION qorgau_visible_case_ids() RETURNS bigint[] {HELPER} AS $$
BEGIN
  RETURN (SELECT coalesce(array_agg(DISTINCT id), '{{}}') FROM (
    SELECT p.case_id AS id FROM case_participants p
     WHERE qorgau_is_practitioner() AND p.agency_id = qorgau_aid() AND p.left_at IS NULL
       AND (qorgau_has_role('supervisor') OR p.assigned_user_id IS NULL OR p.assigned_user_id = qorgau_uid())
    UNION ALL
    SELECT c.id FROM access_grants g JOIN cases c ON c.child_id = g.child_id
     WHERE qorgau_has_role('caseworker') AND g.user_id = qorgau_uid() AND g.revoked_at IS NULL
       AND g.expires_at > now()
  ) v);
END
$$;

-- Referrals the acting practitioner may read (unchanged rule).
CREATE OR REPLACE FUNCTION qorgau_visible_referral_ids() RETURNS bigint[] {HELPER} AS $$
BEGIN
  RETURN (SELECT coalesce(array_agg(DISTINCT id), '{{}}') FROM (
    SELECT r.id FROM referrals r
     WHERE qorgau_is_practitioner() AND r.referring_agency_id = qorgau_aid()
       AND r.state IN ('draft', 'submitted', 'screening')
       AND (r.state <> 'draft' OR r.created_by = qorgau_uid())
    UNION ALL
    SELECT t.referral_id FROM referral_recipients t JOIN referrals r ON r.id = t.referral_id
     WHERE qorgau_is_practitioner() AND t.agency_id = qorgau_aid() AND t.status <> 'redirected'
       AND r.state <> 'draft'
    UNION ALL
    SELECT cr.referral_id FROM case_referrals cr
     WHERE cr.case_id = ANY ((SELECT qorgau_visible_case_ids())::bigint[])
    UNION ALL
    SELECT rc.referral_id FROM access_grants g JOIN referral_children rc ON rc.child_id = g.child_id
      JOIN referrals r ON r.id = rc.referral_id
     WHERE qorgau_has_role('caseworker') AND g.user_id = qorgau_uid() AND g.revoked_at IS NULL
       AND g.expires_at > now() AND r.state <> 'draft'
  ) v);
END
$$;

-- Children the acting practitioner may read (unchanged rule).
CREATE OR REPLACE FUNCTION qorgau_visible_child_ids() RETURNS bigint[] {HELPER} AS $$
BEGIN
  RETURN (SELECT coalesce(array_agg(DISTINCT id), '{{}}') FROM (
    SELECT c.child_id AS id FROM cases c WHERE c.id = ANY ((SELECT qorgau_visible_case_ids())::bigint[])
    UNION ALL
    SELECT rc.child_id FROM referral_children rc
     WHERE rc.referral_id = ANY ((SELECT qorgau_visible_referral_ids())::bigint[])
    UNION ALL
    SELECT g.child_id FROM access_grants g
     WHERE qorgau_has_role('caseworker') AND g.user_id = qorgau_uid() AND g.revoked_at IS NULL
       AND g.expires_at > now()
    UNION ALL
    SELECT ch.id FROM children ch WHERE qorgau_is_practitioner() AND ch.created_by_agency_id = qorgau_aid()
  ) v);
END
$$;

-- Cases whose restricted content the acting practitioner may read: the lead agency and a police
-- unit taking part, within their participation scope. Emergency grants never count here.
CREATE OR REPLACE FUNCTION qorgau_restricted_case_ids() RETURNS bigint[] {HELPER} AS $$
BEGIN
  RETURN (SELECT coalesce(array_agg(DISTINCT c.id), '{{}}') FROM case_participants p
    JOIN cases c ON c.id = p.case_id
    JOIN agencies a ON a.id = p.agency_id
   WHERE qorgau_is_practitioner() AND p.agency_id = qorgau_aid() AND p.left_at IS NULL
     AND (qorgau_has_role('supervisor') OR p.assigned_user_id IS NULL OR p.assigned_user_id = qorgau_uid())
     AND (c.lead_agency_id = qorgau_aid() OR a.kind = 'police'));
END
$$;

-- Is the child named by a case or a referral in the acting oversight's region?
CREATE FUNCTION qorgau_oversight_child(p_child bigint) RETURNS boolean {HELPER} AS $$
BEGIN
  RETURN qorgau_has_role('oversight') AND (
       EXISTS (SELECT 1 FROM cases c WHERE c.child_id = p_child AND c.region_id = qorgau_rid())
    OR EXISTS (SELECT 1 FROM referral_children rc JOIN referrals r ON r.id = rc.referral_id
                WHERE rc.child_id = p_child AND r.region_id = qorgau_rid()));
END
$$;
ALTER FUNCTION qorgau_oversight_child(bigint) OWNER TO qorgau_policy;
REVOKE ALL ON FUNCTION qorgau_oversight_child(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION qorgau_oversight_child(bigint) TO qorgau_app;
"""

POLICIES = """
DROP POLICY chronology_insert ON chronology_entries;
CREATE POLICY chronology_insert ON chronology_entries FOR INSERT WITH CHECK (
  author_user_id = qorgau_uid() AND agency_id = qorgau_aid() AND (
    (kind <> 'instruction' AND qorgau_is_practitioner()
     AND case_id = ANY ((SELECT qorgau_visible_case_ids())::bigint[]))
    OR (kind = 'instruction' AND EXISTS (SELECT 1 FROM cases c WHERE c.id = case_id
                                          AND qorgau_is_oversight_of(c.region_id)))));

DROP POLICY children_read ON children;
CREATE POLICY children_read ON children FOR SELECT USING (
  qorgau_is_oversight_of(region_id) OR id = ANY ((SELECT qorgau_visible_child_ids())::bigint[])
  OR (qorgau_has_role('oversight') AND qorgau_oversight_child(id)));

DROP POLICY referrers_read ON referral_referrers;
CREATE POLICY referrers_read ON referral_referrers FOR SELECT USING (
  user_id = qorgau_uid()
  OR EXISTS (SELECT 1 FROM referrals r WHERE r.id = referral_id AND qorgau_is_oversight_of(r.region_id))
  OR EXISTS (SELECT 1 FROM case_referrals cr JOIN cases c ON c.id = cr.case_id
              WHERE cr.referral_id = referral_referrers.referral_id
                AND (cr.case_id = ANY ((SELECT qorgau_restricted_case_ids())::bigint[])
                     OR qorgau_is_oversight_of(c.region_id))));
"""

# 0004's policies, restored by the downgrade.
OLD_POLICIES = """
DROP POLICY referrers_read ON referral_referrers;
CREATE POLICY referrers_read ON referral_referrers FOR SELECT USING (
  user_id = qorgau_uid()
  OR EXISTS (SELECT 1 FROM referrals r WHERE r.id = referral_id AND qorgau_is_oversight_of(r.region_id))
  OR EXISTS (SELECT 1 FROM case_referrals cr WHERE cr.referral_id = referral_referrers.referral_id
              AND cr.case_id = ANY ((SELECT qorgau_restricted_case_ids())::bigint[])));

DROP POLICY children_read ON children;
CREATE POLICY children_read ON children FOR SELECT USING (
  qorgau_is_oversight_of(region_id) OR id = ANY ((SELECT qorgau_visible_child_ids())::bigint[]));
DROP FUNCTION qorgau_oversight_child(bigint);

DROP POLICY chronology_insert ON chronology_entries;
CREATE POLICY chronology_insert ON chronology_entries FOR INSERT WITH CHECK (
  author_user_id = qorgau_uid() AND agency_id = qorgau_aid() AND (
    (qorgau_is_practitioner() AND case_id = ANY ((SELECT qorgau_visible_case_ids())::bigint[]))
    OR (kind = 'instruction' AND EXISTS (SELECT 1 FROM cases c WHERE c.id = case_id
                                          AND qorgau_is_oversight_of(c.region_id)))));
"""


def _functions_of_0004() -> str:
    """0004's definitions of the four helpers, as CREATE OR REPLACE (for the downgrade)."""
    spec = importlib.util.spec_from_file_location("core_0004", Path(__file__).with_name("0004_core.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    names = ("qorgau_visible_case_ids", "qorgau_visible_referral_ids", "qorgau_visible_child_ids",
             "qorgau_restricted_case_ids")
    bodies = re.findall(r"CREATE FUNCTION (\w+)\(\).*?\n\$\$;", module.POLICY_FUNCTIONS, re.S)
    found = dict(zip(bodies, re.findall(r"(CREATE FUNCTION \w+\(\).*?\n\$\$;)", module.POLICY_FUNCTIONS, re.S)))
    return "\n".join(found[n].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1) for n in names)


def upgrade() -> None:
    op.execute(FUNCTIONS)
    op.execute(POLICIES)


def downgrade() -> None:
    op.execute(OLD_POLICIES)
    op.execute(_functions_of_0004())
