"""Reads that cost what they return: row-level security checks each row it is asked about instead of
building, on every statement, the array of everything the acting user may read.

The read policies of 0004 and 0007 compared each row with ``qorgau_visible_case_ids()`` and its
siblings: an InitPlan that collects every case (referral, child) the acting user may read into an
array, then ``id = ANY (array)``, a linear scan of that array for every row. For a caseworker of an
agency with a thousand cases that is a thousand-row lookup on every statement, and for a list of
that agency's participations a thousand times a thousand comparisons: the cost followed the
agency's caseload, not the page asked for (bench/RESULTS.md).

The read (SELECT) policies now call ``qorgau_can_read_case(id)``, ``qorgau_can_read_referral(id)``,
``qorgau_can_read_child(id)`` and ``qorgau_can_read_restricted(case_id)``: the same rules, asked
of one row through the primary keys and the indexes the rules join on. Where a row's own columns
already prove the rule (the actor's agency's participation in a case; a referral the actor's
agency sent; a child the actor's agency recorded) the policy says so first, without a call.
The rules themselves are unchanged, rule for rule (services/policy.py, authz/model.yaml).

The array helpers stay: the INSERT and UPDATE policies still call them.

The read policies of clocks and escalations spell out clocks_may_see() (0003), which PostgreSQL
cannot inline and so ran as a function call per row, with the acting identity read once per
statement: the supervisor's escalation queue cost twice as much under row-level security as
without it once its own N+1 was gone.

The facts the application's policy module decides on are also served for many ids at once
(``qorgau_cases_facts(bigint[])``, ``qorgau_referrals_facts(bigint[])``), so that a child's
history is loaded in a fixed number of statements instead of one per referral and case.

Every new function is PL/pgSQL, which keeps its plans for the session (0007 explains why).

Revision ID: 0009_read_speed
Revises: 0008_merge
"""
import importlib.util
import re
from pathlib import Path

from alembic import op

revision = "0009_read_speed"
down_revision = "0008_merge"
branch_labels = None
depends_on = None

HELPER = "LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp"

# The practitioner's participation scope, as a condition on a case_participants row ``p``.
IN_SCOPE = """p.agency_id = qorgau_aid() AND p.left_at IS NULL
       AND (qorgau_has_role('supervisor') OR p.assigned_user_id IS NULL OR p.assigned_user_id = qorgau_uid())"""

# The same in a policy, about the row itself. The identity functions stand in scalar sub-selects
# (InitPlans): evaluated once per statement instead of once per row, which is most of what a policy
# costs on a list of a thousand participations.
def in_scope(p: str = "") -> str:
    return f"""(SELECT qorgau_is_practitioner()) AND {p}agency_id = (SELECT qorgau_aid()) AND {p}left_at IS NULL
      AND ((SELECT qorgau_has_role('supervisor')) OR {p}assigned_user_id IS NULL
           OR {p}assigned_user_id = (SELECT qorgau_uid()))"""


OVERSIGHT_ROW = "((SELECT qorgau_has_role('oversight')) AND region_id = (SELECT qorgau_rid()))"

# A live emergency grant of the acting caseworker, on the child in ``g``.
LIVE_GRANT = "g.user_id = qorgau_uid() AND g.revoked_at IS NULL AND g.expires_at > now()"

FUNCTIONS = f"""
-- May the acting practitioner read this case? Their agency takes part and has not left (a
-- caseworker: the case is assigned to them or not yet assigned within the agency), or the case's
-- child is under a live emergency grant of theirs. qorgau_visible_case_ids(), for one case.
CREATE FUNCTION qorgau_can_read_case(p_case bigint) RETURNS boolean {HELPER} AS $$
BEGIN
  IF NOT qorgau_is_practitioner() THEN
    RETURN false;
  END IF;
  RETURN EXISTS (SELECT 1 FROM case_participants p WHERE p.case_id = p_case AND {IN_SCOPE})
      OR (qorgau_has_role('caseworker') AND EXISTS (
            SELECT 1 FROM cases c JOIN access_grants g ON g.child_id = c.child_id
             WHERE c.id = p_case AND {LIVE_GRANT}));
END
$$;

-- May the acting practitioner read this referral? Sent by their agency and not yet accepted (a
-- draft: its author only); received by their agency and not redirected away; linked to a case
-- they may read; or about a child under their live emergency grant.
-- qorgau_visible_referral_ids(), for one referral.
CREATE FUNCTION qorgau_can_read_referral(p_referral bigint) RETURNS boolean {HELPER} AS $$
DECLARE
  r record;
BEGIN
  IF NOT qorgau_is_practitioner() THEN
    RETURN false;
  END IF;
  SELECT state, referring_agency_id, created_by INTO r FROM referrals WHERE id = p_referral;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  IF r.referring_agency_id = qorgau_aid() AND r.state IN ('draft', 'submitted', 'screening')
     AND (r.state <> 'draft' OR r.created_by = qorgau_uid()) THEN
    RETURN true;
  END IF;
  IF r.state <> 'draft' AND EXISTS (
       SELECT 1 FROM referral_recipients t
        WHERE t.referral_id = p_referral AND t.agency_id = qorgau_aid() AND t.status <> 'redirected') THEN
    RETURN true;
  END IF;
  IF EXISTS (SELECT 1 FROM case_referrals cr
              WHERE cr.referral_id = p_referral AND qorgau_can_read_case(cr.case_id)) THEN
    RETURN true;
  END IF;
  RETURN r.state <> 'draft' AND qorgau_has_role('caseworker') AND EXISTS (
    SELECT 1 FROM referral_children rc JOIN access_grants g ON g.child_id = rc.child_id
     WHERE rc.referral_id = p_referral AND {LIVE_GRANT});
END
$$;

-- May the acting practitioner read this child? Recorded by their agency, under their live
-- emergency grant, or named in a case or a referral they may read.
-- qorgau_visible_child_ids(), for one child.
CREATE FUNCTION qorgau_can_read_child(p_child bigint) RETURNS boolean {HELPER} AS $$
BEGIN
  IF NOT qorgau_is_practitioner() THEN
    RETURN false;
  END IF;
  RETURN EXISTS (SELECT 1 FROM children ch WHERE ch.id = p_child AND ch.created_by_agency_id = qorgau_aid())
      OR (qorgau_has_role('caseworker') AND EXISTS (
            SELECT 1 FROM access_grants g WHERE g.child_id = p_child AND {LIVE_GRANT}))
      OR EXISTS (SELECT 1 FROM cases c WHERE c.child_id = p_child AND qorgau_can_read_case(c.id))
      OR EXISTS (SELECT 1 FROM referral_children rc
                  WHERE rc.child_id = p_child AND qorgau_can_read_referral(rc.referral_id));
END
$$;

-- May the acting practitioner read this case's restricted content? The lead agency and a police
-- unit taking part, within their participation scope; emergency grants never count.
-- qorgau_restricted_case_ids(), for one case.
CREATE FUNCTION qorgau_can_read_restricted(p_case bigint) RETURNS boolean {HELPER} AS $$
BEGIN
  IF NOT qorgau_is_practitioner() THEN
    RETURN false;
  END IF;
  RETURN EXISTS (SELECT 1 FROM case_participants p JOIN cases c ON c.id = p.case_id
                   JOIN agencies a ON a.id = p.agency_id
                  WHERE p.case_id = p_case AND {IN_SCOPE}
                    AND (c.lead_agency_id = qorgau_aid() OR a.kind = 'police'));
END
$$;

-- Is this case in the acting oversight's region? For the policy of case_participants, which may
-- not read cases under row-level security: the policy of cases reads case_participants.
CREATE FUNCTION qorgau_oversight_case(p_case bigint) RETURNS boolean {HELPER} AS $$
BEGIN
  RETURN qorgau_has_role('oversight')
     AND EXISTS (SELECT 1 FROM cases c WHERE c.id = p_case AND c.region_id = qorgau_rid());
END
$$;

-- qorgau_case_facts() for many cases in one call.
CREATE FUNCTION qorgau_cases_facts(p_cases bigint[])
RETURNS TABLE (case_id bigint, child_id bigint, region_id bigint, lead_agency_id bigint, state text,
               participants jsonb) {HELPER} AS $$
BEGIN
  RETURN QUERY
  SELECT c.id, c.child_id, c.region_id, c.lead_agency_id, c.state,
         coalesce((SELECT jsonb_agg(jsonb_build_object('agency_id', p.agency_id, 'assigned_user_id',
                    p.assigned_user_id, 'left', p.left_at IS NOT NULL, 'kind', a.kind))
                     FROM case_participants p JOIN agencies a ON a.id = p.agency_id
                    WHERE p.case_id = c.id), '[]'::jsonb)
    FROM cases c WHERE c.id = ANY (p_cases);
END
$$;

-- qorgau_referral_facts() for many referrals in one call.
CREATE FUNCTION qorgau_referrals_facts(p_referrals bigint[])
RETURNS TABLE (referral_id bigint, region_id bigint, referring_agency_id bigint, created_by bigint,
               state text, recipients jsonb, case_ids bigint[], child_ids bigint[]) {HELPER} AS $$
BEGIN
  RETURN QUERY
  SELECT r.id, r.region_id, r.referring_agency_id, r.created_by, r.state,
         coalesce((SELECT jsonb_agg(jsonb_build_object('agency_id', t.agency_id, 'status', t.status))
                     FROM referral_recipients t WHERE t.referral_id = r.id), '[]'::jsonb),
         coalesce((SELECT array_agg(cr.case_id) FROM case_referrals cr WHERE cr.referral_id = r.id), '{{}}'),
         coalesce((SELECT array_agg(rc.child_id) FROM referral_children rc WHERE rc.referral_id = r.id), '{{}}')
    FROM referrals r WHERE r.id = ANY (p_referrals);
END
$$;
"""

NEW_FUNCTIONS = ["qorgau_can_read_case(bigint)", "qorgau_can_read_referral(bigint)",
                 "qorgau_can_read_child(bigint)", "qorgau_can_read_restricted(bigint)",
                 "qorgau_oversight_case(bigint)",
                 "qorgau_cases_facts(bigint[])", "qorgau_referrals_facts(bigint[])"]

OVERSIGHT_OF_REFERRAL = ("EXISTS (SELECT 1 FROM referrals r WHERE r.id = referral_id"
                         " AND qorgau_is_oversight_of(r.region_id))")
OVERSIGHT_OF_CASE = "EXISTS (SELECT 1 FROM cases c WHERE c.id = case_id AND qorgau_is_oversight_of(c.region_id))"

# The read policies this revision replaces: (table, policy, its USING from now on).
POLICIES = [
    ("children", "children_read",
     """qorgau_is_oversight_of(region_id)
  OR (qorgau_is_practitioner() AND created_by_agency_id = qorgau_aid())
  OR qorgau_can_read_child(id)
  OR (qorgau_has_role('oversight') AND qorgau_oversight_child(id))"""),
    ("referrals", "referrals_read",
     """qorgau_is_oversight_of(region_id)
  OR (qorgau_is_practitioner() AND referring_agency_id = qorgau_aid()
      AND state IN ('draft', 'submitted', 'screening') AND (state <> 'draft' OR created_by = qorgau_uid()))
  OR qorgau_can_read_referral(id)"""),
    ("referral_referrers", "referrers_read",
     f"""user_id = qorgau_uid()
  OR {OVERSIGHT_OF_REFERRAL}
  OR EXISTS (SELECT 1 FROM case_referrals cr JOIN cases c ON c.id = cr.case_id
              WHERE cr.referral_id = referral_referrers.referral_id
                AND (qorgau_can_read_restricted(cr.case_id) OR qorgau_is_oversight_of(c.region_id)))"""),
    ("referral_children", "referral_children_read",
     f"qorgau_can_read_referral(referral_id) OR {OVERSIGHT_OF_REFERRAL}"),
    ("referral_recipients", "referral_recipients_read",
     f"qorgau_can_read_referral(referral_id) OR {OVERSIGHT_OF_REFERRAL}"),
    ("referral_attachments", "attachments_read",
     f"qorgau_can_read_referral(referral_id) OR {OVERSIGHT_OF_REFERRAL}"),
    ("referrer_updates", "referrer_updates_read",
     f"""(qorgau_is_practitioner() AND referring_agency_id = qorgau_aid())
  OR qorgau_can_read_referral(referral_id) OR {OVERSIGHT_OF_REFERRAL}"""),
    # A participation of the actor's agency within their scope proves the case theirs without a
    # call (an index probe instead); the call decides the rest (emergency grants).
    ("cases", "cases_read",
     f"""{OVERSIGHT_ROW}
  OR EXISTS (SELECT 1 FROM case_participants p WHERE p.case_id = cases.id AND {in_scope("p.")})
  OR qorgau_can_read_case(id)"""),
    ("case_referrals", "case_referrals_read",
     f"qorgau_can_read_case(case_id) OR {OVERSIGHT_OF_CASE}"),
    # A participation of the actor's own agency within their scope is itself the proof that the
    # case is theirs to read: the agency's list of cases is checked without a call per row.
    ("case_participants", "participants_read",
     f"""({in_scope()})
  OR qorgau_can_read_case(case_id)
  OR ((SELECT qorgau_has_role('oversight')) AND qorgau_oversight_case(case_id))"""),
    ("assessments", "assessments_read",
     f"qorgau_can_read_case(case_id) OR {OVERSIGHT_OF_CASE}"),
    ("chronology_entries", "chronology_read",
     f"qorgau_can_read_case(case_id) OR {OVERSIGHT_OF_CASE}"),
    ("chronology_bodies", "bodies_read",
     """EXISTS (
  SELECT 1 FROM chronology_entries e JOIN cases c ON c.id = e.case_id
   WHERE e.id = entry_id AND (
        qorgau_is_oversight_of(c.region_id)
     OR (e.visibility = 'all_participants' AND qorgau_can_read_case(e.case_id))
     OR (e.visibility = 'own_agency' AND e.agency_id = qorgau_aid() AND qorgau_is_practitioner()
         AND qorgau_can_read_case(e.case_id)
         AND EXISTS (SELECT 1 FROM case_participants p WHERE p.case_id = e.case_id
                      AND p.agency_id = qorgau_aid() AND p.left_at IS NULL))
     OR (e.visibility = 'restricted' AND qorgau_can_read_restricted(e.case_id))))"""),
]

# clocks_may_see() (0003) cannot be inlined (its EXISTS is a sub-link), so PostgreSQL runs it as a
# function per row, twice per escalation in the queue (escalations and clocks). The read policies
# spell out the same rule, with the actor's identity and headships read once per statement.
CLOCKS_MAY_SEE = """(SELECT clocks_actor_has('system'))
  OR (assignee_user_id IS NOT NULL AND assignee_user_id = (SELECT clocks_actor_id()))
  OR (agency_id = (SELECT clocks_actor_agency()) AND (SELECT clocks_actor_has('supervisor')))
  OR (agency_id = (SELECT clocks_actor_agency()) AND assignee_user_id IS NULL
      AND (SELECT clocks_actor_has('caseworker')))
  OR ((SELECT clocks_actor_has('oversight')) AND region_id = (SELECT clocks_actor_region()))
  OR agency_id = ANY ((SELECT coalesce(array_agg(h.agency_id), '{}') FROM agency_heads h
                        WHERE h.user_id = clocks_actor_id())::bigint[])"""
POLICIES += [(table, name, CLOCKS_MAY_SEE)
             for table, name in (("clocks", "clocks_read"), ("escalations", "escalations_read"))]


def _previous_policies() -> dict[str, str]:
    """{policy: USING} of the read policies as 0003, 0004 and 0007 (later wins) left them, read
    from those revisions, for the downgrade."""
    found = {}
    for name in ("0003_clocks", "0004_core", "0007_policy_fixes"):
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found.update(re.findall(r"CREATE POLICY (\w+) ON \w+ FOR SELECT\s+USING \((.*?)\);\n",
                                module.POLICIES, re.S))
    return found


def _policies(using: dict[str, str]) -> str:
    return "\n".join(f"DROP POLICY {name} ON {table};\n"
                     f"CREATE POLICY {name} ON {table} FOR SELECT USING (\n  {using[name]});"
                     for table, name, _ in POLICIES)


def upgrade() -> None:
    op.execute(FUNCTIONS)
    for fn in NEW_FUNCTIONS:
        op.execute(f"ALTER FUNCTION {fn} OWNER TO qorgau_policy")
        op.execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO qorgau_app")
    op.execute(_policies({name: using for _, name, using in POLICIES}))


def downgrade() -> None:
    op.execute(_policies(_previous_policies()))
    for fn in reversed(NEW_FUNCTIONS):
        op.execute(f"DROP FUNCTION {fn}")
