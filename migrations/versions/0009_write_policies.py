"""Row-level security for writes: every INSERT and UPDATE on child data allowed only where the
access policy (services/policy.py, DESIGN.md §4) allows the change the application makes.

0004 checked reads closely and writes loosely: any practitioner could insert a case, add their own
agency to any case as a participant, insert assessments and chronology entries on cases they do
not work, link any referral they could read to any case, and a holder of an emergency grant could
update the cases it opened. Each write policy now states who may make that change:

- cases: opened only by an agency that accepted a referral naming the child, not yet linked to a
  case of that child (acceptance, services/referrals/screening.py); the lead is that agency or
  another active agency of the region that is not the prosecutor's office. Updated only by the
  agencies working the case (participation within scope, never an emergency grant).
- case_referrals: a referral is linked to an open case of a child it names, by an agency that
  accepted it.
- case_participants: the lead agency brings other agencies of the region in (unassigned); the
  accepting agency joins a case linked to the referral it accepted (with a worker of its own), and
  names the lead. Updated: an agency's own row (a caseworker only takes the case for themselves; a
  supervisor assigns and withdraws), and the lead's rows of other agencies (withdraw, bring back;
  never assigning their workers).
- assessments: created by the lead agency, or on acceptance for the referral accepted, for an
  agency taking part and a worker of that agency; updated only by the assessing agency.
- chronology: entries by the agencies working the case, on that case's child, correcting an entry
  of the same case; instructions by oversight of the case's region only, for all participants.
  A body is written in the transaction that wrote its entry, by its author.
- referrals: a draft of one's own agency in one's own region, a correction only of one's own
  referral being screened; updated by their author (draft, submission, correction) or by a
  receiving agency (state and priority; the frozen-after-submit trigger of 0005 keeps the rest).
- referral children, recipients and referrer: added to one's own draft; a receiving agency adds
  the agency it redirects to. A receiving agency updates only its own row while deciding; a
  screen-out is final only by a supervisor, and a decision names its decider.
- attachments: by the referring agency while the referral is a current draft or being screened.
- referrer updates: by a receiving agency, or the referrer, for the referral's referring agency.
- approvals: asked by the agency that may make the request (a receiving agency; the lead agency
  for closure; the assessing agency for a skip), decided by another supervisor of that agency.
- access grants: a caseworker's own, for a child of their region, for at most four hours; the
  review by another supervisor of the agency; a trigger keeps everything but the review and the
  revocation unchangeable.
- Emergency grants are read-only (authz/model.yaml): they open the child's record, never a write.

Some rules compare a row with what it was, which an UPDATE policy cannot: for the application role,
triggers keep the identity columns of cases, participants, assessments, approvals and receiving
agencies for life (a participation is never moved to another agency, an approval never changes
who asked for it), and let only the lead agency move a case (state, lead, closure, reopening),
a supervisor alone close it.

idempotency_keys kept answers that carry child data with no row-level security: each row now
belongs to the acting user (or agency system) whose request stored it, the key services/
idempotency.py computes, and no one else reads or writes it; Qorgau's own system actor (a role no
user can hold) may read and delete any, to remove expired keys.

The helpers are per-row PL/pgSQL functions (SECURITY DEFINER, owned by qorgau_policy, ids in and
booleans out), like 0009_read_speed's read helpers: a write asks about one row, so building the
array of every case the actor works would cost more than the row being written. Called inside a
statement they see its starting snapshot, so an UPDATE is judged on what the row was before it.

JIT: ``ALTER ROLE qorgau_app SET jit = off`` was considered, measured and not adopted. EXPLAIN
ANALYZE as qorgau_app, jit on and off, three runs each, of the case list (PRACTITIONER_LIST of
services/cases/queries.py, and the lists of tests/access/test_rls_plans.py): on the generated data
of test_rls_plans.py (4,000 cases) and on the bench database (16,024 cases, the caseworker of the
busiest agency), no list query reached jit_above_cost (100,000): the costliest estimate was
2,034, so PostgreSQL compiled nothing and the two settings ran the same plans in the same time
(the practitioner list 2.5 ms either way on the bench data, the cases list 8.0 ms). JIT engaged only
on an unbounded scan of chronology_entries on the bench data (not a query the application runs;
estimated cost 282,959): 7.5 ms of compilation in runs of 420-480 ms, against 413-457 ms without
it, within the noise of a shared machine. Compilation dominates no query the application runs, so
a setting that applies wherever the role logs in buys nothing measurable; the one statement seen
to compile, the authorization probe of tests/access/checks.py, already turns JIT off for itself.

Revision ID: 0009_write_policies
Revises: 0008_merge
"""
from alembic import op

revision = "0009_write_policies"
down_revision = "0008_merge"
branch_labels = None
depends_on = None

HELPER = "LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp"

# The practitioner's own participation within scope, for a case_participants row ``p``: what
# services.policy.case_in_scope() allows without an emergency grant.
IN_SCOPE = """p.agency_id = qorgau_aid() AND p.left_at IS NULL
       AND (qorgau_has_role('supervisor') OR p.assigned_user_id IS NULL OR p.assigned_user_id = qorgau_uid())"""

FUNCTIONS = f"""
-- Does the acting practitioner work this case: their agency takes part (and has not left) and,
-- for a caseworker, the case is assigned to them or not yet assigned? Emergency grants never count.
CREATE FUNCTION qorgau_works_case(p_case bigint) RETURNS boolean {HELPER} AS $$
BEGIN
  RETURN qorgau_is_practitioner()
     AND EXISTS (SELECT 1 FROM case_participants p WHERE p.case_id = p_case AND {IN_SCOPE});
END
$$;

-- ... and is their agency the case's lead?
CREATE FUNCTION qorgau_leads_case(p_case bigint) RETURNS boolean {HELPER} AS $$
BEGIN
  RETURN qorgau_works_case(p_case)
     AND EXISTS (SELECT 1 FROM cases c WHERE c.id = p_case AND c.lead_agency_id = qorgau_aid());
END
$$;

-- Did the acting practitioner's agency receive this referral (submitted, not redirected away)?
CREATE FUNCTION qorgau_receives_referral(p_referral bigint) RETURNS boolean {HELPER} AS $$
BEGIN
  RETURN qorgau_is_practitioner() AND EXISTS (
    SELECT 1 FROM referral_recipients t JOIN referrals r ON r.id = t.referral_id
     WHERE t.referral_id = p_referral AND t.agency_id = qorgau_aid() AND t.status <> 'redirected'
       AND r.state <> 'draft');
END
$$;

-- May the acting practitioner open a case for this child in this region, led by this agency?
-- Their agency accepted a referral of the region naming the child that no case of the child is
-- linked to yet; the lead is their agency or an active agency of the region that works cases.
CREATE FUNCTION qorgau_may_open_case(p_child bigint, p_region bigint, p_lead bigint)
RETURNS boolean {HELPER} AS $$
BEGIN
  RETURN qorgau_is_practitioner()
     AND EXISTS (
       SELECT 1 FROM referral_recipients t
         JOIN referral_children rc ON rc.referral_id = t.referral_id
         JOIN referrals r ON r.id = t.referral_id
        WHERE t.agency_id = qorgau_aid() AND t.status = 'accepted' AND rc.child_id = p_child
          AND r.region_id = p_region
          AND NOT EXISTS (SELECT 1 FROM case_referrals cr JOIN cases c ON c.id = cr.case_id
                           WHERE cr.referral_id = t.referral_id AND c.child_id = p_child))
     AND (p_lead = qorgau_aid() OR EXISTS (
       SELECT 1 FROM agencies a WHERE a.id = p_lead AND a.region_id = p_region AND a.is_active
          AND a.kind <> 'prosecutor'));
END
$$;

-- May the acting practitioner link this referral to this case? Their agency accepted it, and the
-- case is an open case of a child the referral names.
CREATE FUNCTION qorgau_may_link_referral(p_case bigint, p_referral bigint) RETURNS boolean {HELPER} AS $$
BEGIN
  RETURN qorgau_is_practitioner()
     AND EXISTS (SELECT 1 FROM referral_recipients t
                  WHERE t.referral_id = p_referral AND t.agency_id = qorgau_aid() AND t.status = 'accepted')
     AND EXISTS (SELECT 1 FROM cases c JOIN referral_children rc ON rc.child_id = c.child_id
                  WHERE c.id = p_case AND c.state <> 'closed' AND rc.referral_id = p_referral);
END
$$;

-- Is this case linked to a referral (this one, when given) that the acting agency accepted?
CREATE FUNCTION qorgau_accepted_into(p_case bigint, p_referral bigint) RETURNS boolean {HELPER} AS $$
BEGIN
  RETURN qorgau_is_practitioner() AND EXISTS (
    SELECT 1 FROM case_referrals cr JOIN referral_recipients t ON t.referral_id = cr.referral_id
     WHERE cr.case_id = p_case AND (p_referral IS NULL OR cr.referral_id = p_referral)
       AND t.agency_id = qorgau_aid() AND t.status = 'accepted');
END
$$;

-- Does this agency take part in this case (and has not left)?
CREATE FUNCTION qorgau_takes_part(p_case bigint, p_agency bigint) RETURNS boolean {HELPER} AS $$
BEGIN
  RETURN EXISTS (SELECT 1 FROM case_participants p
                  WHERE p.case_id = p_case AND p.agency_id = p_agency AND p.left_at IS NULL);
END
$$;

-- May this agency be brought into this case: active, of the case's region, not the prosecutor's
-- office (which oversees cases and takes part in none)?
CREATE FUNCTION qorgau_may_join(p_case bigint, p_agency bigint) RETURNS boolean {HELPER} AS $$
BEGIN
  RETURN EXISTS (SELECT 1 FROM cases c JOIN agencies a ON a.region_id = c.region_id
                  WHERE c.id = p_case AND a.id = p_agency AND a.is_active AND a.kind <> 'prosecutor');
END
$$;

CREATE FUNCTION qorgau_case_lead(p_case bigint) RETURNS bigint {HELPER} AS $$
BEGIN
  RETURN (SELECT lead_agency_id FROM cases WHERE id = p_case);
END
$$;

CREATE FUNCTION qorgau_case_child(p_case bigint) RETURNS bigint {HELPER} AS $$
BEGIN
  RETURN (SELECT child_id FROM cases WHERE id = p_case);
END
$$;

-- The case of a chronology entry (a correction stays on the case of what it corrects).
CREATE FUNCTION qorgau_entry_case(p_entry bigint) RETURNS bigint {HELPER} AS $$
BEGIN
  RETURN (SELECT case_id FROM chronology_entries WHERE id = p_entry);
END
$$;

-- The referring agency of an attachment's referral (a file replaces one of the same agency's).
CREATE FUNCTION qorgau_attachment_agency(p_attachment bigint) RETURNS bigint {HELPER} AS $$
BEGIN
  RETURN (SELECT r.referring_agency_id FROM referral_attachments a JOIN referrals r ON r.id = a.referral_id
           WHERE a.id = p_attachment);
END
$$;

-- Is this one of the acting user's own referrals, being screened (what a correction follows)?
CREATE FUNCTION qorgau_own_referral_in_screening(p_referral bigint) RETURNS boolean {HELPER} AS $$
BEGIN
  RETURN EXISTS (SELECT 1 FROM referrals r
                  WHERE r.id = p_referral AND r.created_by = qorgau_uid()
                    AND r.referring_agency_id = qorgau_aid() AND r.state IN ('submitted', 'screening'));
END
$$;

-- Is this user one of this agency's people?
CREATE FUNCTION qorgau_user_of(p_user bigint, p_agency bigint) RETURNS boolean {HELPER} AS $$
BEGIN
  RETURN EXISTS (SELECT 1 FROM users u WHERE u.id = p_user AND u.agency_id = p_agency);
END
$$;
"""

NEW_FUNCTIONS = ["qorgau_works_case(bigint)", "qorgau_leads_case(bigint)",
                 "qorgau_receives_referral(bigint)", "qorgau_may_open_case(bigint, bigint, bigint)",
                 "qorgau_may_link_referral(bigint, bigint)", "qorgau_accepted_into(bigint, bigint)",
                 "qorgau_takes_part(bigint, bigint)", "qorgau_may_join(bigint, bigint)",
                 "qorgau_case_lead(bigint)", "qorgau_case_child(bigint)", "qorgau_entry_case(bigint)",
                 "qorgau_attachment_agency(bigint)", "qorgau_own_referral_in_screening(bigint)",
                 "qorgau_user_of(bigint, bigint)"]

# The key services/idempotency.py stores a response under: the user's, or an agency system's.
IDEMPOTENCY_OWNER = """
CREATE FUNCTION qorgau_idempotency_owner() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN qorgau_uid() IS NOT NULL THEN 'user:' || qorgau_uid()
              ELSE coalesce(nullif(current_setting('qorgau.actor_kind', true), ''), 'system') || ':'
                   || coalesce(qorgau_aid()::text, 'None') END
$$;
"""

OWN_DRAFT = """EXISTS (SELECT 1 FROM referrals r WHERE r.id = referral_id AND r.state = 'draft'
                 AND r.created_by = qorgau_uid() AND r.referring_agency_id = qorgau_aid())"""

# (table, policy, command, USING, WITH CHECK) after this revision. USING is None for an INSERT;
# WITH CHECK is None where the USING expression checks the new row as well.
POLICIES = [
    ("children", "children_insert", "INSERT", None,
     """qorgau_is_practitioner() AND created_by_agency_id = qorgau_aid()
  AND (created_by IS NULL OR created_by = qorgau_uid())"""),

    ("referrals", "referrals_insert", "INSERT", None,
     """qorgau_is_practitioner() AND referring_agency_id = qorgau_aid() AND created_by = qorgau_uid()
  AND region_id = qorgau_rid() AND state = 'draft' AND superseded_by_id IS NULL
  AND (previous_version_id IS NULL OR qorgau_own_referral_in_screening(previous_version_id))"""),
    ("referrals", "referrals_update", "UPDATE",
     """qorgau_is_practitioner() AND (
      (created_by = qorgau_uid() AND referring_agency_id = qorgau_aid()
       AND state IN ('draft', 'submitted', 'screening'))
   OR qorgau_receives_referral(id))""", None),

    ("referral_referrers", "referrers_insert", "INSERT", None,
     f"user_id = qorgau_uid() AND {OWN_DRAFT}"),

    ("referral_children", "referral_children_insert", "INSERT", None, OWN_DRAFT),

    ("referral_recipients", "referral_recipients_write", "INSERT", None,
     f"""{OWN_DRAFT}
  OR (status = 'pending' AND decided_by IS NULL AND qorgau_receives_referral(referral_id)
      AND EXISTS (SELECT 1 FROM referrals r WHERE r.id = referral_id
                   AND r.state IN ('submitted', 'screening')))"""),
    ("referral_recipients", "referral_recipients_update", "UPDATE",
     """qorgau_is_practitioner() AND agency_id = qorgau_aid()
  AND status IN ('pending', 'screen_out_requested') AND qorgau_receives_referral(referral_id)""",
     """qorgau_is_practitioner() AND agency_id = qorgau_aid() AND qorgau_receives_referral(referral_id)
  AND (status IN ('pending', 'screen_out_requested') OR decided_by = qorgau_uid())
  AND (status <> 'screened_out' OR qorgau_has_role('supervisor'))"""),

    ("referral_attachments", "attachments_insert", "INSERT", None,
     """qorgau_is_practitioner() AND uploaded_by = qorgau_uid()
  AND EXISTS (SELECT 1 FROM referrals r WHERE r.id = referral_id AND r.referring_agency_id = qorgau_aid()
               AND r.state IN ('draft', 'submitted', 'screening') AND r.superseded_by_id IS NULL)
  AND (supersedes_id IS NULL OR qorgau_attachment_agency(supersedes_id) = qorgau_aid())"""),

    ("referrer_updates", "referrer_updates_insert", "INSERT", None,
     """qorgau_is_practitioner() AND EXISTS (
    SELECT 1 FROM referrals r WHERE r.id = referral_id
       AND r.referring_agency_id = referrer_updates.referring_agency_id
       AND (qorgau_receives_referral(r.id)
            OR (r.created_by = qorgau_uid() AND r.referring_agency_id = qorgau_aid())))"""),

    ("cases", "cases_insert", "INSERT", None,
     """qorgau_is_practitioner() AND state = 'open' AND closed_at IS NULL
  AND qorgau_may_open_case(child_id, region_id, lead_agency_id)"""),
    ("cases", "cases_update", "UPDATE", "qorgau_works_case(id)", None),

    ("case_referrals", "case_referrals_insert", "INSERT", None,
     "qorgau_may_link_referral(case_id, referral_id)"),

    ("case_participants", "participants_insert", "INSERT", None,
     """qorgau_is_practitioner() AND left_at IS NULL AND (
      (assigned_user_id IS NULL AND qorgau_leads_case(case_id) AND qorgau_may_join(case_id, agency_id))
   OR (qorgau_accepted_into(case_id, NULL) AND (
          (agency_id = qorgau_aid()
           AND (assigned_user_id IS NULL OR qorgau_user_of(assigned_user_id, agency_id)))
       OR (assigned_user_id IS NULL AND agency_id = qorgau_case_lead(case_id)))))"""),
    ("case_participants", "participants_update", "UPDATE",
     """qorgau_works_case(case_id) AND (agency_id = qorgau_aid() OR qorgau_leads_case(case_id))""",
     """qorgau_works_case(case_id) AND (
      (agency_id = qorgau_aid()
       AND (assigned_user_id IS NULL OR qorgau_user_of(assigned_user_id, agency_id))
       AND (qorgau_has_role('supervisor') OR (left_at IS NULL AND assigned_user_id = qorgau_uid())))
   OR (agency_id <> qorgau_aid() AND qorgau_leads_case(case_id) AND assigned_user_id IS NULL
       AND (left_at IS NULL OR qorgau_has_role('supervisor'))))"""),

    ("assessments", "assessments_insert", "INSERT", None,
     """qorgau_is_practitioner() AND state = 'assigned' AND qorgau_takes_part(case_id, agency_id)
  AND (assignee_user_id IS NULL OR qorgau_user_of(assignee_user_id, agency_id))
  AND ((referral_id IS NULL AND qorgau_leads_case(case_id))
       OR (referral_id IS NOT NULL AND qorgau_accepted_into(case_id, referral_id)))"""),
    # USING stays the read scope, so that locking an assessment of a case one reads finds the row
    # and the application answers why it refuses (services/cases/actions.py); changing it is for
    # the assessing agency alone.
    ("assessments", "assessments_update", "UPDATE",
     """qorgau_is_practitioner() AND case_id = ANY ((SELECT qorgau_visible_case_ids())::bigint[])""",
     """qorgau_works_case(case_id) AND agency_id = qorgau_aid()"""),

    ("chronology_entries", "chronology_insert", "INSERT", None,
     """author_user_id = qorgau_uid() AND agency_id = qorgau_aid()
  AND child_id = qorgau_case_child(case_id)
  AND (corrects_id IS NULL OR qorgau_entry_case(corrects_id) = case_id)
  AND ((kind <> 'instruction' AND qorgau_works_case(case_id))
       OR (kind = 'instruction' AND visibility = 'all_participants'
           AND EXISTS (SELECT 1 FROM cases c WHERE c.id = case_id AND qorgau_is_oversight_of(c.region_id))))"""),
    ("chronology_bodies", "bodies_insert", "INSERT", None,
     """EXISTS (SELECT 1 FROM chronology_entries e WHERE e.id = entry_id
                 AND e.author_user_id = qorgau_uid() AND e.created_at = now())"""),

    ("approvals", "approvals_insert", "INSERT", None,
     """qorgau_is_practitioner() AND agency_id = qorgau_aid() AND requested_by = qorgau_uid()
  AND state = 'pending' AND decided_by IS NULL AND (
      (kind IN ('screen_out', 'downgrade') AND case_id IS NULL AND qorgau_receives_referral(referral_id))
   OR (kind = 'closure' AND qorgau_leads_case(case_id))
   OR (kind = 'skip_assessment' AND qorgau_works_case(case_id)
       AND EXISTS (SELECT 1 FROM assessments s WHERE s.id = assessment_id AND s.case_id = approvals.case_id
                    AND s.agency_id = qorgau_aid())))"""),
    ("approvals", "approvals_update", "UPDATE",
     "qorgau_has_role('supervisor') AND agency_id = qorgau_aid()",
     """qorgau_has_role('supervisor') AND agency_id = qorgau_aid()
  AND (state = 'pending' OR (decided_by = qorgau_uid() AND requested_by <> qorgau_uid()))"""),

    ("access_grants", "grants_insert", "INSERT", None,
     """qorgau_has_role('caseworker') AND user_id = qorgau_uid() AND agency_id = qorgau_aid()
  AND region_id = qorgau_rid() AND (SELECT f.region_id FROM qorgau_child_facts(child_id) f) = region_id
  AND granted_at <= clock_timestamp() AND expires_at <= clock_timestamp() + interval '4 hours 5 minutes'
  AND revoked_at IS NULL AND reviewed_at IS NULL AND reviewed_by IS NULL AND review_outcome IS NULL"""),
    ("access_grants", "grants_update", "UPDATE",
     "qorgau_has_role('supervisor') AND agency_id = qorgau_aid()",
     """qorgau_has_role('supervisor') AND agency_id = qorgau_aid() AND user_id <> qorgau_uid()
  AND reviewed_by = qorgau_uid()"""),
]

# The same policies before this revision (0004_core), for the downgrade.
OLD_POLICIES = {
    "children_insert": (None, "qorgau_is_practitioner() AND created_by_agency_id = qorgau_aid()"),
    "referrals_insert": (None, "qorgau_is_practitioner() AND referring_agency_id = qorgau_aid() "
                               "AND created_by = qorgau_uid()"),
    "referrals_update": ("id = ANY ((SELECT qorgau_visible_referral_ids())::bigint[])", None),
    "referrers_insert": (None, "user_id = qorgau_uid()"),
    "referral_children_insert": (None, "referral_id = ANY ((SELECT qorgau_visible_referral_ids())::bigint[])"),
    "referral_recipients_write": (None, "referral_id = ANY ((SELECT qorgau_visible_referral_ids())::bigint[])"),
    "referral_recipients_update": ("agency_id = qorgau_aid() AND referral_id = ANY "
                                   "((SELECT qorgau_visible_referral_ids())::bigint[])", None),
    "attachments_insert": (None, "uploaded_by = qorgau_uid() AND referral_id = ANY "
                                 "((SELECT qorgau_visible_referral_ids())::bigint[])"),
    "referrer_updates_insert": (None, "referral_id = ANY ((SELECT qorgau_visible_referral_ids())::bigint[])"),
    "cases_insert": (None, "qorgau_is_practitioner() AND lead_agency_id IS NOT NULL"),
    "cases_update": ("qorgau_is_practitioner() AND id = ANY ((SELECT qorgau_visible_case_ids())::bigint[])", None),
    "case_referrals_insert": (None, "referral_id = ANY ((SELECT qorgau_visible_referral_ids())::bigint[])"),
    "participants_insert": (None, "qorgau_is_practitioner()"),
    "participants_update": ("qorgau_is_practitioner() AND case_id = ANY "
                            "((SELECT qorgau_visible_case_ids())::bigint[])", None),
    "assessments_insert": (None, "qorgau_is_practitioner()"),
    "assessments_update": ("qorgau_is_practitioner() AND case_id = ANY "
                           "((SELECT qorgau_visible_case_ids())::bigint[])", None),
    "chronology_insert": (None, """author_user_id = qorgau_uid() AND agency_id = qorgau_aid() AND (
    (kind <> 'instruction' AND qorgau_is_practitioner()
     AND case_id = ANY ((SELECT qorgau_visible_case_ids())::bigint[]))
    OR (kind = 'instruction' AND EXISTS (SELECT 1 FROM cases c WHERE c.id = case_id
                                          AND qorgau_is_oversight_of(c.region_id))))"""),
    "bodies_insert": (None, "EXISTS (SELECT 1 FROM chronology_entries e WHERE e.id = entry_id "
                            "AND e.author_user_id = qorgau_uid())"),
    "approvals_insert": (None, "qorgau_is_practitioner() AND agency_id = qorgau_aid() "
                               "AND requested_by = qorgau_uid()"),
    "approvals_update": ("qorgau_has_role('supervisor') AND agency_id = qorgau_aid()", None),
    "grants_insert": (None, "qorgau_has_role('caseworker') AND user_id = qorgau_uid() "
                            "AND agency_id = qorgau_aid()"),
    "grants_update": ("qorgau_has_role('supervisor') AND agency_id = qorgau_aid()", None),
}

# A grant's holder, child, reason and duration never change; a review is written once; a grant
# is revoked once, never in the future. Row-level security cannot compare a row with what it was,
# so a trigger does, for the application role.
GRANT_FROZEN = """
CREATE FUNCTION qorgau_grant_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_user <> 'qorgau_app' THEN
    RETURN NEW;  -- the owner's maintenance and the tests' tampering
  END IF;
  IF (NEW.user_id, NEW.agency_id, NEW.region_id, NEW.child_id, NEW.reason, NEW.granted_at, NEW.expires_at)
       IS DISTINCT FROM
     (OLD.user_id, OLD.agency_id, OLD.region_id, OLD.child_id, OLD.reason, OLD.granted_at, OLD.expires_at)
     OR (OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS DISTINCT FROM OLD.revoked_at)
     OR (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL AND NEW.revoked_at > clock_timestamp())
     OR (OLD.reviewed_at IS NOT NULL AND (NEW.reviewed_at, NEW.reviewed_by, NEW.review_outcome, NEW.review_note)
           IS DISTINCT FROM (OLD.reviewed_at, OLD.reviewed_by, OLD.review_outcome, OLD.review_note)) THEN
    RAISE EXCEPTION 'an emergency grant is changed only by its review' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER access_grants_frozen BEFORE UPDATE ON access_grants
  FOR EACH ROW EXECUTE FUNCTION qorgau_grant_frozen();
"""

# What row-level security cannot say either, for the application role: which columns a row keeps
# for life, and that only the lead agency moves a case (its state, lead, closure; a supervisor
# closes it). An UPDATE policy sees the new row only; these triggers compare it with the old one.
KEEP_COLUMNS = {
    "cases": ("id", "child_id", "region_id", "opened_at"),
    "case_participants": ("case_id", "agency_id"),
    "assessments": ("id", "case_id", "kind", "agency_id", "referral_id", "created_at"),
    "approvals": ("id", "kind", "agency_id", "referral_id", "case_id", "assessment_id", "requested_by",
                  "requested_at", "reason", "proposed_priority"),
    "referral_recipients": ("referral_id", "agency_id"),
}

TRIGGERS = """
CREATE FUNCTION qorgau_keep_columns() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  col text;
BEGIN
  IF current_user <> 'qorgau_app' THEN
    RETURN NEW;
  END IF;
  FOREACH col IN ARRAY TG_ARGV LOOP
    IF (to_jsonb(NEW) -> col) IS DISTINCT FROM (to_jsonb(OLD) -> col) THEN
      RAISE EXCEPTION '%.% never changes', TG_TABLE_NAME, col USING ERRCODE = 'insufficient_privilege';
    END IF;
  END LOOP;
  RETURN NEW;
END $$;

CREATE FUNCTION qorgau_case_moved_by_lead() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_user <> 'qorgau_app' THEN
    RETURN NEW;
  END IF;
  IF (NEW.state, NEW.lead_agency_id, NEW.closed_at, NEW.closure_requested_at, NEW.closure_requested_by,
      NEW.reopen_count, NEW.priority, NEW.district_id)
     IS DISTINCT FROM
     (OLD.state, OLD.lead_agency_id, OLD.closed_at, OLD.closure_requested_at, OLD.closure_requested_by,
      OLD.reopen_count, OLD.priority, OLD.district_id)
     AND OLD.lead_agency_id IS DISTINCT FROM qorgau_aid() THEN
    RAISE EXCEPTION 'only the lead agency moves a case' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW.state = 'closed' AND OLD.state <> 'closed' AND NOT qorgau_has_role('supervisor') THEN
    RAISE EXCEPTION 'a supervisor closes a case' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER cases_moved_by_lead BEFORE UPDATE ON cases
  FOR EACH ROW EXECUTE FUNCTION qorgau_case_moved_by_lead();
""" + "\n".join(
    f"CREATE TRIGGER {table}_keep_columns BEFORE UPDATE ON {table} FOR EACH ROW"
    f" EXECUTE FUNCTION qorgau_keep_columns({', '.join(repr(c) for c in cols)});"
    for table, cols in KEEP_COLUMNS.items())

IDEMPOTENCY = """
ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY idempotency_own ON idempotency_keys FOR ALL
  USING (user_key = qorgau_idempotency_owner()) WITH CHECK (user_key = qorgau_idempotency_owner());
-- Qorgau itself (the system actor of beat tasks; no user holds the role) removes expired keys.
CREATE POLICY idempotency_expire ON idempotency_keys FOR SELECT USING (qorgau_has_role('system'));
CREATE POLICY idempotency_purge ON idempotency_keys FOR DELETE USING (qorgau_has_role('system'));
"""

TABLE_OF = {name: table for table, name, *_ in POLICIES}


def _policy(table: str, name: str, command: str, using: str | None, check: str | None) -> str:
    return (f"DROP POLICY {name} ON {table};\nCREATE POLICY {name} ON {table} FOR {command}"
            + (f"\n  USING ({using})" if using else "")
            + (f"\n  WITH CHECK ({check})" if check else "") + ";")


def upgrade() -> None:
    op.execute(FUNCTIONS)
    for fn in NEW_FUNCTIONS:
        op.execute(f"ALTER FUNCTION {fn} OWNER TO qorgau_policy")
        op.execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO qorgau_app")
    op.execute("GRANT SELECT ON referral_attachments TO qorgau_policy")
    op.execute("\n".join(_policy(*p) for p in POLICIES))
    op.execute(GRANT_FROZEN)
    op.execute(TRIGGERS)
    op.execute(IDEMPOTENCY_OWNER)
    op.execute(IDEMPOTENCY)


def downgrade() -> None:
    op.execute("DROP POLICY idempotency_purge ON idempotency_keys;"
               " DROP POLICY idempotency_expire ON idempotency_keys;"
               " DROP POLICY idempotency_own ON idempotency_keys;"
               " ALTER TABLE idempotency_keys NO FORCE ROW LEVEL SECURITY;"
               " ALTER TABLE idempotency_keys DISABLE ROW LEVEL SECURITY;"
               " DROP FUNCTION qorgau_idempotency_owner();")
    op.execute("DROP TRIGGER access_grants_frozen ON access_grants; DROP FUNCTION qorgau_grant_frozen();")
    op.execute("".join(f"DROP TRIGGER {table}_keep_columns ON {table};" for table in KEEP_COLUMNS)
               + "DROP TRIGGER cases_moved_by_lead ON cases; DROP FUNCTION qorgau_case_moved_by_lead();"
               " DROP FUNCTION qorgau_keep_columns();")
    commands = {name: command for _, name, command, *_ in POLICIES}
    op.execute("\n".join(_policy(TABLE_OF[name], name, commands[name], using, check)
                         for name, (using, check) in OLD_POLICIES.items()))
    op.execute("REVOKE SELECT ON referral_attachments FROM qorgau_policy")
    for fn in reversed(NEW_FUNCTIONS):
        op.execute(f"DROP FUNCTION {fn}")
