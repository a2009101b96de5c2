"""Referrals: ids the application draws, draft-only deletes, a frozen submitted referral, the
assessment's referral, a note on a redirect, and the two policy functions acceptance needs.

Revision ID: 0005_referrals
Revises: 0004_core
"""
from alembic import op

revision = "0005_referrals"
down_revision = "0004_core"
branch_labels = None
depends_on = None

UPGRADE = """
-- A new child, referral or assessment is not yet visible to its writer under row-level security
-- while the INSERT runs (the policy functions see the statement's snapshot), so INSERT ...
-- RETURNING is refused; the application draws the id first, as it does for cases.
GRANT USAGE ON SEQUENCE children_id_seq, referrals_id_seq, assessments_id_seq TO qorgau_app;

-- Which accepted referral an assessment answers (DESIGN.md §2: every accepted referral gets a
-- psychological and a legal assessment).
ALTER TABLE assessments ADD COLUMN referral_id bigint REFERENCES referrals(id);
CREATE INDEX assessments_referral_idx ON assessments (referral_id);

-- Why a receiving agency redirected a referral, for the agency it goes to.
ALTER TABLE referral_recipients ADD COLUMN decision_note text;

CREATE INDEX referrals_district_idx ON referrals (district_id, id DESC);
CREATE INDEX referrals_previous_version_idx ON referrals (previous_version_id);

-- A draft's author may change its children and receiving agencies; nothing else is ever deleted.
GRANT DELETE ON referral_children, referral_recipients TO qorgau_app;
CREATE POLICY referral_children_draft_delete ON referral_children FOR DELETE USING (
  EXISTS (SELECT 1 FROM referrals r WHERE r.id = referral_id AND r.state = 'draft'
           AND r.created_by = qorgau_uid()));
CREATE POLICY referral_recipients_draft_delete ON referral_recipients FOR DELETE USING (
  EXISTS (SELECT 1 FROM referrals r WHERE r.id = referral_id AND r.state = 'draft'
           AND r.created_by = qorgau_uid()));

-- DESIGN.md §2: a referral once submitted is never edited; corrections are new versions. After
-- submission only its state, priority and the link to its correction may change.
CREATE FUNCTION qorgau_referral_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.state <> 'draft' AND (
       (NEW.categories, NEW.observed_at, NEW.observed_place, NEW.observation, NEW.risk,
        NEW.referring_agency_id, NEW.region_id, NEW.district_id, NEW.created_by, NEW.created_at,
        NEW.version, NEW.previous_version_id, NEW.submitted_at)
       IS DISTINCT FROM
       (OLD.categories, OLD.observed_at, OLD.observed_place, OLD.observation, OLD.risk,
        OLD.referring_agency_id, OLD.region_id, OLD.district_id, OLD.created_by, OLD.created_at,
        OLD.version, OLD.previous_version_id, OLD.submitted_at)
       OR (OLD.superseded_by_id IS NOT NULL AND NEW.superseded_by_id IS DISTINCT FROM OLD.superseded_by_id)
       OR NEW.state = 'draft') THEN
    RAISE EXCEPTION 'a submitted referral is never edited' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER referrals_frozen_after_submit BEFORE UPDATE ON referrals
  FOR EACH ROW EXECUTE FUNCTION qorgau_referral_frozen();

-- The open case of a child whose record the caller may read, so that accepting a referral links
-- to it (one open case per child) even when the caller's agency does not take part in it yet.
CREATE FUNCTION qorgau_open_case_id(p_child bigint) RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT c.id FROM cases c
   WHERE c.child_id = p_child AND c.state <> 'closed' AND qorgau_is_practitioner()
     AND p_child = ANY (qorgau_visible_child_ids())
$$;

-- An agency that left a case takes part again when it accepts a new referral linked to that case.
-- Only the caller's own agency, only after its acceptance of a referral linked to the case.
CREATE FUNCTION qorgau_rejoin_case(p_case bigint, p_assignee bigint) RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  WITH rejoined AS (
    UPDATE case_participants p SET left_at = NULL, assigned_user_id = p_assignee
     WHERE p.case_id = p_case AND p.agency_id = qorgau_aid() AND p.left_at IS NOT NULL
       AND qorgau_is_practitioner()
       AND (p_assignee IS NULL OR EXISTS (SELECT 1 FROM users u WHERE u.id = p_assignee
                                           AND u.agency_id = qorgau_aid()))
       AND EXISTS (SELECT 1 FROM case_referrals cr JOIN referral_recipients t
                     ON t.referral_id = cr.referral_id
                    WHERE cr.case_id = p_case AND t.agency_id = qorgau_aid() AND t.status = 'accepted')
    RETURNING 1)
  SELECT EXISTS (SELECT 1 FROM rejoined)
$$;
GRANT SELECT ON users TO qorgau_policy;

-- Possible duplicates of a child being recorded: the same IIN anywhere, or the same date of birth
-- (names are compared by the application, services/children/names.py). 0004's lookup stops at 50
-- rows, fewer than the children born on one day in a region, so this one reads them all.
CREATE FUNCTION qorgau_duplicate_candidates(p_iin text, p_dob date)
RETURNS TABLE (id bigint, iin text, last_name text, first_name text, date_of_birth date, sex text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT id, iin, last_name, first_name, date_of_birth, sex FROM children
   WHERE qorgau_is_practitioner() AND ((p_iin IS NOT NULL AND iin = p_iin) OR date_of_birth = p_dob)
   ORDER BY id LIMIT 20000
$$;

-- Does the child with this id have this IIN and/or date of birth? How a referral names a child
-- its author cannot read yet: with the facts the duplicate lookup needed to find it.
CREATE FUNCTION qorgau_child_matches(p_child bigint, p_iin text, p_dob date) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT EXISTS (SELECT 1 FROM children
                  WHERE id = p_child AND qorgau_is_practitioner()
                    AND (p_iin IS NOT NULL OR p_dob IS NOT NULL)
                    AND (p_iin IS NULL OR iin = p_iin)
                    AND (p_dob IS NULL OR date_of_birth = p_dob))
$$;
GRANT UPDATE (left_at, assigned_user_id) ON case_participants TO qorgau_policy;
"""

FUNCTIONS = ["qorgau_open_case_id(bigint)", "qorgau_rejoin_case(bigint, bigint)",
             "qorgau_duplicate_candidates(text, date)", "qorgau_child_matches(bigint, text, date)"]


def upgrade() -> None:
    op.execute(UPGRADE)
    for fn in FUNCTIONS:
        op.execute(f"ALTER FUNCTION {fn} OWNER TO qorgau_policy")
        op.execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO qorgau_app")


def downgrade() -> None:
    op.execute("""
    DROP FUNCTION qorgau_child_matches(bigint, text, date);
    DROP FUNCTION qorgau_duplicate_candidates(text, date);
    DROP FUNCTION qorgau_rejoin_case(bigint, bigint);
    DROP FUNCTION qorgau_open_case_id(bigint);
    REVOKE UPDATE (left_at, assigned_user_id) ON case_participants FROM qorgau_policy;
    REVOKE SELECT ON users FROM qorgau_policy;
    DROP TRIGGER referrals_frozen_after_submit ON referrals;
    DROP FUNCTION qorgau_referral_frozen();
    DROP POLICY referral_recipients_draft_delete ON referral_recipients;
    DROP POLICY referral_children_draft_delete ON referral_children;
    REVOKE DELETE ON referral_children, referral_recipients FROM qorgau_app;
    DROP INDEX referrals_previous_version_idx;
    DROP INDEX referrals_district_idx;
    ALTER TABLE referral_recipients DROP COLUMN decision_note;
    ALTER TABLE assessments DROP COLUMN referral_id;
    REVOKE USAGE ON SEQUENCE children_id_seq, referrals_id_seq, assessments_id_seq FROM qorgau_app;
    """)
