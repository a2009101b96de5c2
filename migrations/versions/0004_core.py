"""Core: children, referrals, cases, chronology, assessments, approvals, emergency access, and the
row-level security that enforces the access policy (DESIGN.md §2–§4) a second time.

Revision ID: 0004_core
Revises: 0002_audit
"""
from alembic import op

revision = "0004_core"
down_revision = "0002_audit"
branch_labels = None
depends_on = None

ROLES = """
DO $$
BEGIN
  -- Owns the policy helper functions below (SECURITY DEFINER). It bypasses row-level security so
  -- that a policy can ask "which cases does this agency take part in?" without recursing into the
  -- policies of the tables it reads. It cannot log in, and the functions return ids only.
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'qorgau_policy') THEN
    CREATE ROLE qorgau_policy NOLOGIN BYPASSRLS;
  END IF;
END
$$;
"""

TABLES = r"""
CREATE TABLE children (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    iin             text UNIQUE CHECK (iin ~ '^[0-9]{12}$'),
    last_name       text NOT NULL,
    first_name      text NOT NULL,
    patronymic      text,
    date_of_birth   date NOT NULL,
    sex             text CHECK (sex IN ('M', 'F')),
    school_agency_id bigint REFERENCES agencies(id),
    district_id     bigint REFERENCES districts(id),
    region_id       bigint NOT NULL REFERENCES regions(id),
    search_key      text NOT NULL,
    created_by_agency_id bigint NOT NULL REFERENCES agencies(id),
    created_by      bigint REFERENCES users(id),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX children_dob_idx ON children (date_of_birth);
CREATE INDEX children_search_key_idx ON children (search_key text_pattern_ops);
CREATE INDEX children_region_idx ON children (region_id);
CREATE INDEX children_created_by_agency_idx ON children (created_by_agency_id);

CREATE TABLE referrals (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    version         integer NOT NULL DEFAULT 1,
    previous_version_id bigint REFERENCES referrals(id),
    superseded_by_id bigint REFERENCES referrals(id),
    state           text NOT NULL DEFAULT 'draft' CHECK (state IN
                      ('draft', 'submitted', 'screening', 'accepted', 'screened_out', 'redirected')),
    priority        text NOT NULL CHECK (priority IN ('immediate', 'urgent', 'standard', 'low')),
    categories      text[] NOT NULL,
    observed_at     timestamptz NOT NULL,
    observed_place  text,
    observation     text NOT NULL,
    risk            jsonb NOT NULL DEFAULT '{}',
    referring_agency_id bigint NOT NULL REFERENCES agencies(id),
    region_id       bigint NOT NULL REFERENCES regions(id),
    district_id     bigint REFERENCES districts(id),
    created_by      bigint NOT NULL REFERENCES users(id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    submitted_at    timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (cardinality(categories) >= 1)
);
CREATE INDEX referrals_referring_agency_idx ON referrals (referring_agency_id, id DESC);
CREATE INDEX referrals_region_idx ON referrals (region_id, id DESC);
CREATE INDEX referrals_state_idx ON referrals (state, priority);

-- The referrer's identity is a restricted field (DESIGN.md §4): a table of its own, so row-level
-- security can hide it from participants who may read the rest of the referral.
CREATE TABLE referral_referrers (
    referral_id     bigint PRIMARY KEY REFERENCES referrals(id),
    user_id         bigint NOT NULL REFERENCES users(id),
    full_name       text NOT NULL,
    contact         text
);

CREATE TABLE referral_children (
    referral_id     bigint NOT NULL REFERENCES referrals(id),
    child_id        bigint NOT NULL REFERENCES children(id),
    PRIMARY KEY (referral_id, child_id)
);
CREATE INDEX referral_children_child_idx ON referral_children (child_id);

CREATE TABLE referral_recipients (
    referral_id     bigint NOT NULL REFERENCES referrals(id),
    agency_id       bigint NOT NULL REFERENCES agencies(id),
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN
                      ('pending', 'accepted', 'screened_out', 'redirected', 'screen_out_requested')),
    decided_by      bigint REFERENCES users(id),
    decided_at      timestamptz,
    redirected_to   bigint REFERENCES agencies(id),
    PRIMARY KEY (referral_id, agency_id)
);
CREATE INDEX referral_recipients_agency_idx ON referral_recipients (agency_id, status, referral_id DESC);

CREATE TABLE referral_attachments (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    referral_id     bigint NOT NULL REFERENCES referrals(id),
    filename        text NOT NULL,
    content_type    text NOT NULL,
    size_bytes      integer NOT NULL CHECK (size_bytes > 0),
    sha256          text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    data            bytea NOT NULL,
    uploaded_by     bigint NOT NULL REFERENCES users(id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    supersedes_id   bigint REFERENCES referral_attachments(id)
);
CREATE INDEX referral_attachments_referral_idx ON referral_attachments (referral_id);

-- Status-only updates for the referrer (received / accepted / no further action / closed).
CREATE TABLE referrer_updates (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    referral_id     bigint NOT NULL REFERENCES referrals(id),
    referring_agency_id bigint NOT NULL REFERENCES agencies(id),
    status          text NOT NULL CHECK (status IN ('received', 'accepted', 'no_further_action', 'closed')),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX referrer_updates_referral_idx ON referrer_updates (referral_id);
CREATE INDEX referrer_updates_agency_idx ON referrer_updates (referring_agency_id);

CREATE TABLE idempotency_keys (
    user_key        text NOT NULL,
    key             text NOT NULL CHECK (length(key) BETWEEN 8 AND 200),
    request_sha256  text NOT NULL,
    status_code     integer NOT NULL,
    response        jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_key, key)
);

-- The id is drawn by the application before the insert: a new case is invisible under
-- row-level security until its participants exist, so INSERT ... RETURNING cannot be used.
CREATE TABLE cases (
    id              bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    child_id        bigint NOT NULL REFERENCES children(id),
    region_id       bigint NOT NULL REFERENCES regions(id),
    district_id     bigint REFERENCES districts(id),
    lead_agency_id  bigint NOT NULL REFERENCES agencies(id),
    state           text NOT NULL DEFAULT 'open' CHECK (state IN
                      ('open', 'assessment', 'planning', 'monitoring', 'closed')),
    priority        text NOT NULL CHECK (priority IN ('immediate', 'urgent', 'standard', 'low')),
    opened_at       timestamptz NOT NULL DEFAULT now(),
    closed_at       timestamptz,
    version         integer NOT NULL DEFAULT 1
);
-- One open case per child: a new accepted referral links to it.
CREATE UNIQUE INDEX cases_one_open_per_child ON cases (child_id) WHERE state <> 'closed';
CREATE INDEX cases_region_idx ON cases (region_id, id DESC);
CREATE INDEX cases_lead_idx ON cases (lead_agency_id);

CREATE TABLE case_referrals (
    case_id         bigint NOT NULL REFERENCES cases(id),
    referral_id     bigint NOT NULL REFERENCES referrals(id),
    PRIMARY KEY (case_id, referral_id)
);
CREATE INDEX case_referrals_referral_idx ON case_referrals (referral_id);

CREATE TABLE case_participants (
    case_id         bigint NOT NULL REFERENCES cases(id),
    agency_id       bigint NOT NULL REFERENCES agencies(id),
    assigned_user_id bigint REFERENCES users(id),
    joined_at       timestamptz NOT NULL DEFAULT now(),
    left_at         timestamptz,
    PRIMARY KEY (case_id, agency_id)
);
CREATE INDEX case_participants_agency_idx ON case_participants (agency_id, case_id) WHERE left_at IS NULL;
CREATE INDEX case_participants_assignee_idx ON case_participants (assigned_user_id) WHERE left_at IS NULL;

CREATE TABLE assessments (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id         bigint NOT NULL REFERENCES cases(id),
    kind            text NOT NULL CHECK (kind IN ('psychological', 'legal', 'social')),
    agency_id       bigint NOT NULL REFERENCES agencies(id),
    assignee_user_id bigint REFERENCES users(id),
    state           text NOT NULL DEFAULT 'assigned' CHECK (state IN
                      ('assigned', 'completed', 'skip_requested', 'skipped')),
    outcome         text,
    skip_reason     text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz
);
CREATE INDEX assessments_case_idx ON assessments (case_id);

CREATE TABLE chronology_entries (
    id              bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    case_id         bigint NOT NULL REFERENCES cases(id),
    child_id        bigint NOT NULL REFERENCES children(id),
    kind            text NOT NULL CHECK (kind IN
                      ('note', 'contact', 'assessment_result', 'meeting', 'decision', 'instruction')),
    visibility      text NOT NULL CHECK (visibility IN ('all_participants', 'own_agency', 'restricted')),
    author_user_id  bigint NOT NULL REFERENCES users(id),
    agency_id       bigint NOT NULL REFERENCES agencies(id),
    occurred_at     timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    corrects_id     bigint REFERENCES chronology_entries(id)
);
CREATE INDEX chronology_case_idx ON chronology_entries (case_id, occurred_at);
CREATE INDEX chronology_child_idx ON chronology_entries (child_id, occurred_at);

-- What an entry says lives apart from the fact that it exists, so that people who may not read a
-- restricted or own-agency entry still see that there is one (issue: UI, the child's page).
CREATE TABLE chronology_bodies (
    entry_id        bigint PRIMARY KEY REFERENCES chronology_entries(id),
    body            text NOT NULL
);

CREATE TABLE approvals (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('screen_out', 'downgrade', 'closure', 'skip_assessment')),
    agency_id       bigint NOT NULL REFERENCES agencies(id),
    referral_id     bigint REFERENCES referrals(id),
    case_id         bigint REFERENCES cases(id),
    assessment_id   bigint REFERENCES assessments(id),
    requested_by    bigint NOT NULL REFERENCES users(id),
    requested_at    timestamptz NOT NULL DEFAULT now(),
    reason          text NOT NULL,
    proposed_priority text,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'approved', 'rejected')),
    decided_by      bigint REFERENCES users(id),
    decided_at      timestamptz,
    decision_note   text
);
CREATE INDEX approvals_agency_pending_idx ON approvals (agency_id, requested_at) WHERE state = 'pending';

CREATE TABLE access_grants (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users(id),
    agency_id       bigint NOT NULL REFERENCES agencies(id),
    region_id       bigint NOT NULL REFERENCES regions(id),
    child_id        bigint NOT NULL REFERENCES children(id),
    reason          text NOT NULL CHECK (length(reason) >= 20),
    granted_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    reviewed_by     bigint REFERENCES users(id),
    reviewed_at     timestamptz,
    review_note     text
);
CREATE INDEX access_grants_user_idx ON access_grants (user_id, child_id, expires_at);
CREATE INDEX access_grants_review_idx ON access_grants (agency_id) WHERE reviewed_at IS NULL;
"""

# Identity of the acting user, set per transaction by services.db.set_actor.
IDENTITY = """
CREATE FUNCTION qorgau_uid() RETURNS bigint LANGUAGE sql STABLE PARALLEL SAFE AS
  $$ SELECT nullif(current_setting('qorgau.user_id', true), '')::bigint $$;
CREATE FUNCTION qorgau_aid() RETURNS bigint LANGUAGE sql STABLE PARALLEL SAFE AS
  $$ SELECT nullif(current_setting('qorgau.agency_id', true), '')::bigint $$;
CREATE FUNCTION qorgau_rid() RETURNS bigint LANGUAGE sql STABLE PARALLEL SAFE AS
  $$ SELECT nullif(current_setting('qorgau.region_id', true), '')::bigint $$;
CREATE FUNCTION qorgau_has_role(r text) RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS
  $$ SELECT r = ANY (string_to_array(coalesce(current_setting('qorgau.roles', true), ''), ',')) $$;
CREATE FUNCTION qorgau_is_practitioner() RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS
  $$ SELECT qorgau_has_role('caseworker') OR qorgau_has_role('supervisor') $$;
CREATE FUNCTION qorgau_is_oversight_of(region bigint) RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS
  $$ SELECT qorgau_has_role('oversight') AND region = qorgau_rid() $$;
"""

# The relationships the policy is made of, each computed once per statement (policies call them
# inside a scalar sub-select, which PostgreSQL evaluates once as an InitPlan).
POLICY_FUNCTIONS = """
-- Cases the acting practitioner may read: their agency takes part (and has not left); a
-- caseworker only where the case is assigned to them or not yet assigned within the agency; plus
-- cases of children under a live emergency grant of theirs.
CREATE FUNCTION qorgau_visible_case_ids() RETURNS bigint[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT coalesce(array_agg(DISTINCT id), '{}') FROM (
    SELECT p.case_id AS id FROM case_participants p
     WHERE qorgau_is_practitioner() AND p.agency_id = qorgau_aid() AND p.left_at IS NULL
       AND (qorgau_has_role('supervisor') OR p.assigned_user_id IS NULL OR p.assigned_user_id = qorgau_uid())
    UNION ALL
    SELECT c.id FROM access_grants g JOIN cases c ON c.child_id = g.child_id
     WHERE qorgau_has_role('caseworker') AND g.user_id = qorgau_uid() AND g.revoked_at IS NULL
       AND g.expires_at > now()
  ) v
$$;

-- Referrals the acting practitioner may read: sent by their agency and not yet accepted (after
-- that the referrer sees the status only), received by their agency and not redirected away,
-- linked to a case they may read, or about a child under their live emergency grant.
CREATE FUNCTION qorgau_visible_referral_ids() RETURNS bigint[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT coalesce(array_agg(DISTINCT id), '{}') FROM (
    SELECT r.id FROM referrals r
     WHERE qorgau_is_practitioner() AND r.referring_agency_id = qorgau_aid()
       AND r.state IN ('draft', 'submitted', 'screening')
       AND (r.state <> 'draft' OR r.created_by = qorgau_uid())
    UNION ALL
    SELECT t.referral_id FROM referral_recipients t JOIN referrals r ON r.id = t.referral_id
     WHERE qorgau_is_practitioner() AND t.agency_id = qorgau_aid() AND t.status <> 'redirected'
       AND r.state <> 'draft'
    UNION ALL
    SELECT cr.referral_id FROM case_referrals cr WHERE cr.case_id = ANY (qorgau_visible_case_ids())
    UNION ALL
    SELECT rc.referral_id FROM access_grants g JOIN referral_children rc ON rc.child_id = g.child_id
      JOIN referrals r ON r.id = rc.referral_id
     WHERE qorgau_has_role('caseworker') AND g.user_id = qorgau_uid() AND g.revoked_at IS NULL
       AND g.expires_at > now() AND r.state <> 'draft'
  ) v
$$;

-- Children the acting practitioner may read: in a readable case or referral, under a live
-- emergency grant, or recorded by their own agency (so a draft referral can name them).
CREATE FUNCTION qorgau_visible_child_ids() RETURNS bigint[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT coalesce(array_agg(DISTINCT id), '{}') FROM (
    SELECT c.child_id AS id FROM cases c WHERE c.id = ANY (qorgau_visible_case_ids())
    UNION ALL
    SELECT rc.child_id FROM referral_children rc WHERE rc.referral_id = ANY (qorgau_visible_referral_ids())
    UNION ALL
    SELECT g.child_id FROM access_grants g
     WHERE qorgau_has_role('caseworker') AND g.user_id = qorgau_uid() AND g.revoked_at IS NULL
       AND g.expires_at > now()
    UNION ALL
    SELECT ch.id FROM children ch WHERE qorgau_is_practitioner() AND ch.created_by_agency_id = qorgau_aid()
  ) v
$$;

-- Cases whose restricted content the acting user may read (DESIGN.md §4): the lead agency, and a
-- police unit taking part. Emergency grants never reach restricted content.
CREATE FUNCTION qorgau_restricted_case_ids() RETURNS bigint[]
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT coalesce(array_agg(DISTINCT c.id), '{}') FROM cases c
   WHERE qorgau_is_practitioner() AND c.id = ANY (qorgau_visible_case_ids()) AND (
         c.lead_agency_id = qorgau_aid()
      OR EXISTS (SELECT 1 FROM case_participants p JOIN agencies a ON a.id = p.agency_id
                  WHERE p.case_id = c.id AND p.agency_id = qorgau_aid() AND p.left_at IS NULL
                    AND a.kind = 'police'))
     AND EXISTS (SELECT 1 FROM case_participants p
                  WHERE p.case_id = c.id AND p.agency_id = qorgau_aid() AND p.left_at IS NULL)
$$;

-- Candidate duplicates when recording a child: identity fields only, whatever the caller's
-- scope, because a child must not be recorded twice (DESIGN.md §2). The caller audits the search.
CREATE FUNCTION qorgau_child_candidates(p_iin text, p_dob date, p_region bigint)
RETURNS TABLE (id bigint, iin text, last_name text, first_name text, date_of_birth date, sex text,
               search_key text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT id, iin, last_name, first_name, date_of_birth, sex, search_key FROM children
   WHERE qorgau_is_practitioner() AND ((p_iin IS NOT NULL AND iin = p_iin) OR date_of_birth = p_dob)
   ORDER BY id LIMIT 50
$$;

-- Facts the application's own policy module decides on (ids and states, no content).
CREATE FUNCTION qorgau_case_facts(p_case bigint)
RETURNS TABLE (case_id bigint, child_id bigint, region_id bigint, lead_agency_id bigint, state text,
               participants jsonb)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT c.id, c.child_id, c.region_id, c.lead_agency_id, c.state,
         coalesce((SELECT jsonb_agg(jsonb_build_object('agency_id', p.agency_id, 'assigned_user_id',
                    p.assigned_user_id, 'left', p.left_at IS NOT NULL, 'kind', a.kind))
                     FROM case_participants p JOIN agencies a ON a.id = p.agency_id
                    WHERE p.case_id = c.id), '[]')
    FROM cases c WHERE c.id = p_case
$$;

CREATE FUNCTION qorgau_referral_facts(p_referral bigint)
RETURNS TABLE (referral_id bigint, region_id bigint, referring_agency_id bigint, created_by bigint,
               state text, recipients jsonb, case_ids bigint[], child_ids bigint[])
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT r.id, r.region_id, r.referring_agency_id, r.created_by, r.state,
         coalesce((SELECT jsonb_agg(jsonb_build_object('agency_id', t.agency_id, 'status', t.status))
                     FROM referral_recipients t WHERE t.referral_id = r.id), '[]'),
         coalesce((SELECT array_agg(cr.case_id) FROM case_referrals cr WHERE cr.referral_id = r.id), '{}'),
         coalesce((SELECT array_agg(rc.child_id) FROM referral_children rc WHERE rc.referral_id = r.id), '{}')
    FROM referrals r WHERE r.id = p_referral
$$;

CREATE FUNCTION qorgau_child_facts(p_child bigint)
RETURNS TABLE (child_id bigint, region_id bigint, created_by_agency_id bigint, case_ids bigint[],
               referral_ids bigint[])
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT ch.id, ch.region_id, ch.created_by_agency_id,
         coalesce((SELECT array_agg(c.id) FROM cases c WHERE c.child_id = ch.id), '{}'),
         coalesce((SELECT array_agg(rc.referral_id) FROM referral_children rc WHERE rc.child_id = ch.id), '{}')
    FROM children ch WHERE ch.id = p_child
$$;

CREATE FUNCTION qorgau_live_grants(p_user bigint)
RETURNS TABLE (id bigint, child_id bigint, expires_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT id, child_id, expires_at FROM access_grants
   WHERE user_id = p_user AND revoked_at IS NULL AND expires_at > now()
$$;
"""

POLICIES = """
ALTER TABLE children ENABLE ROW LEVEL SECURITY;
ALTER TABLE children FORCE ROW LEVEL SECURITY;
CREATE POLICY children_read ON children FOR SELECT USING (
  qorgau_is_oversight_of(region_id) OR id = ANY ((SELECT qorgau_visible_child_ids())::bigint[]));
CREATE POLICY children_insert ON children FOR INSERT WITH CHECK (
  qorgau_is_practitioner() AND created_by_agency_id = qorgau_aid());

ALTER TABLE referrals ENABLE ROW LEVEL SECURITY;
ALTER TABLE referrals FORCE ROW LEVEL SECURITY;
CREATE POLICY referrals_read ON referrals FOR SELECT USING (
  qorgau_is_oversight_of(region_id) OR id = ANY ((SELECT qorgau_visible_referral_ids())::bigint[]));
CREATE POLICY referrals_insert ON referrals FOR INSERT WITH CHECK (
  qorgau_is_practitioner() AND referring_agency_id = qorgau_aid() AND created_by = qorgau_uid());
CREATE POLICY referrals_update ON referrals FOR UPDATE USING (
  id = ANY ((SELECT qorgau_visible_referral_ids())::bigint[]));

ALTER TABLE referral_referrers ENABLE ROW LEVEL SECURITY;
ALTER TABLE referral_referrers FORCE ROW LEVEL SECURITY;
CREATE POLICY referrers_read ON referral_referrers FOR SELECT USING (
  user_id = qorgau_uid()
  OR EXISTS (SELECT 1 FROM referrals r WHERE r.id = referral_id AND qorgau_is_oversight_of(r.region_id))
  OR EXISTS (SELECT 1 FROM case_referrals cr WHERE cr.referral_id = referral_referrers.referral_id
              AND cr.case_id = ANY ((SELECT qorgau_restricted_case_ids())::bigint[])));
CREATE POLICY referrers_insert ON referral_referrers FOR INSERT WITH CHECK (user_id = qorgau_uid());

ALTER TABLE referral_children ENABLE ROW LEVEL SECURITY;
ALTER TABLE referral_children FORCE ROW LEVEL SECURITY;
CREATE POLICY referral_children_read ON referral_children FOR SELECT USING (
  referral_id = ANY ((SELECT qorgau_visible_referral_ids())::bigint[])
  OR EXISTS (SELECT 1 FROM referrals r WHERE r.id = referral_id AND qorgau_is_oversight_of(r.region_id)));
CREATE POLICY referral_children_insert ON referral_children FOR INSERT WITH CHECK (
  referral_id = ANY ((SELECT qorgau_visible_referral_ids())::bigint[]));

ALTER TABLE referral_recipients ENABLE ROW LEVEL SECURITY;
ALTER TABLE referral_recipients FORCE ROW LEVEL SECURITY;
CREATE POLICY referral_recipients_read ON referral_recipients FOR SELECT USING (
  referral_id = ANY ((SELECT qorgau_visible_referral_ids())::bigint[])
  OR EXISTS (SELECT 1 FROM referrals r WHERE r.id = referral_id AND qorgau_is_oversight_of(r.region_id)));
CREATE POLICY referral_recipients_write ON referral_recipients FOR INSERT WITH CHECK (
  referral_id = ANY ((SELECT qorgau_visible_referral_ids())::bigint[]));
CREATE POLICY referral_recipients_update ON referral_recipients FOR UPDATE USING (
  agency_id = qorgau_aid() AND referral_id = ANY ((SELECT qorgau_visible_referral_ids())::bigint[]));

ALTER TABLE referral_attachments ENABLE ROW LEVEL SECURITY;
ALTER TABLE referral_attachments FORCE ROW LEVEL SECURITY;
CREATE POLICY attachments_read ON referral_attachments FOR SELECT USING (
  referral_id = ANY ((SELECT qorgau_visible_referral_ids())::bigint[])
  OR EXISTS (SELECT 1 FROM referrals r WHERE r.id = referral_id AND qorgau_is_oversight_of(r.region_id)));
CREATE POLICY attachments_insert ON referral_attachments FOR INSERT WITH CHECK (
  uploaded_by = qorgau_uid() AND referral_id = ANY ((SELECT qorgau_visible_referral_ids())::bigint[]));

ALTER TABLE referrer_updates ENABLE ROW LEVEL SECURITY;
ALTER TABLE referrer_updates FORCE ROW LEVEL SECURITY;
CREATE POLICY referrer_updates_read ON referrer_updates FOR SELECT USING (
  (qorgau_is_practitioner() AND referring_agency_id = qorgau_aid())
  OR referral_id = ANY ((SELECT qorgau_visible_referral_ids())::bigint[])
  OR EXISTS (SELECT 1 FROM referrals r WHERE r.id = referral_id AND qorgau_is_oversight_of(r.region_id)));
CREATE POLICY referrer_updates_insert ON referrer_updates FOR INSERT WITH CHECK (
  referral_id = ANY ((SELECT qorgau_visible_referral_ids())::bigint[]));

ALTER TABLE cases ENABLE ROW LEVEL SECURITY;
ALTER TABLE cases FORCE ROW LEVEL SECURITY;
CREATE POLICY cases_read ON cases FOR SELECT USING (
  qorgau_is_oversight_of(region_id) OR id = ANY ((SELECT qorgau_visible_case_ids())::bigint[]));
CREATE POLICY cases_insert ON cases FOR INSERT WITH CHECK (
  qorgau_is_practitioner() AND lead_agency_id IS NOT NULL);
CREATE POLICY cases_update ON cases FOR UPDATE USING (
  qorgau_is_practitioner() AND id = ANY ((SELECT qorgau_visible_case_ids())::bigint[]));

ALTER TABLE case_referrals ENABLE ROW LEVEL SECURITY;
ALTER TABLE case_referrals FORCE ROW LEVEL SECURITY;
CREATE POLICY case_referrals_read ON case_referrals FOR SELECT USING (
  case_id = ANY ((SELECT qorgau_visible_case_ids())::bigint[])
  OR EXISTS (SELECT 1 FROM cases c WHERE c.id = case_id AND qorgau_is_oversight_of(c.region_id)));
CREATE POLICY case_referrals_insert ON case_referrals FOR INSERT WITH CHECK (
  referral_id = ANY ((SELECT qorgau_visible_referral_ids())::bigint[]));

ALTER TABLE case_participants ENABLE ROW LEVEL SECURITY;
ALTER TABLE case_participants FORCE ROW LEVEL SECURITY;
CREATE POLICY participants_read ON case_participants FOR SELECT USING (
  case_id = ANY ((SELECT qorgau_visible_case_ids())::bigint[])
  OR EXISTS (SELECT 1 FROM cases c WHERE c.id = case_id AND qorgau_is_oversight_of(c.region_id)));
CREATE POLICY participants_insert ON case_participants FOR INSERT WITH CHECK (qorgau_is_practitioner());
CREATE POLICY participants_update ON case_participants FOR UPDATE USING (
  qorgau_is_practitioner() AND case_id = ANY ((SELECT qorgau_visible_case_ids())::bigint[]));

ALTER TABLE assessments ENABLE ROW LEVEL SECURITY;
ALTER TABLE assessments FORCE ROW LEVEL SECURITY;
CREATE POLICY assessments_read ON assessments FOR SELECT USING (
  case_id = ANY ((SELECT qorgau_visible_case_ids())::bigint[])
  OR EXISTS (SELECT 1 FROM cases c WHERE c.id = case_id AND qorgau_is_oversight_of(c.region_id)));
CREATE POLICY assessments_insert ON assessments FOR INSERT WITH CHECK (qorgau_is_practitioner());
CREATE POLICY assessments_update ON assessments FOR UPDATE USING (
  qorgau_is_practitioner() AND case_id = ANY ((SELECT qorgau_visible_case_ids())::bigint[]));

ALTER TABLE chronology_entries ENABLE ROW LEVEL SECURITY;
ALTER TABLE chronology_entries FORCE ROW LEVEL SECURITY;
CREATE POLICY chronology_read ON chronology_entries FOR SELECT USING (
  case_id = ANY ((SELECT qorgau_visible_case_ids())::bigint[])
  OR EXISTS (SELECT 1 FROM cases c WHERE c.id = case_id AND qorgau_is_oversight_of(c.region_id)));
CREATE POLICY chronology_insert ON chronology_entries FOR INSERT WITH CHECK (
  author_user_id = qorgau_uid() AND agency_id = qorgau_aid() AND (
    (qorgau_is_practitioner() AND case_id = ANY ((SELECT qorgau_visible_case_ids())::bigint[]))
    OR (kind = 'instruction' AND EXISTS (SELECT 1 FROM cases c WHERE c.id = case_id
                                          AND qorgau_is_oversight_of(c.region_id)))));

ALTER TABLE chronology_bodies ENABLE ROW LEVEL SECURITY;
ALTER TABLE chronology_bodies FORCE ROW LEVEL SECURITY;
CREATE POLICY bodies_read ON chronology_bodies FOR SELECT USING (EXISTS (
  SELECT 1 FROM chronology_entries e JOIN cases c ON c.id = e.case_id
   WHERE e.id = entry_id AND (
        qorgau_is_oversight_of(c.region_id)
     OR (e.visibility = 'all_participants' AND e.case_id = ANY ((SELECT qorgau_visible_case_ids())::bigint[]))
     OR (e.visibility = 'own_agency' AND e.agency_id = qorgau_aid() AND qorgau_is_practitioner()
         AND e.case_id = ANY ((SELECT qorgau_visible_case_ids())::bigint[])
         AND EXISTS (SELECT 1 FROM case_participants p WHERE p.case_id = e.case_id
                      AND p.agency_id = qorgau_aid() AND p.left_at IS NULL))
     OR (e.visibility = 'restricted' AND e.case_id = ANY ((SELECT qorgau_restricted_case_ids())::bigint[])))));
CREATE POLICY bodies_insert ON chronology_bodies FOR INSERT WITH CHECK (EXISTS (
  SELECT 1 FROM chronology_entries e WHERE e.id = entry_id AND e.author_user_id = qorgau_uid()));

ALTER TABLE approvals ENABLE ROW LEVEL SECURITY;
ALTER TABLE approvals FORCE ROW LEVEL SECURITY;
CREATE POLICY approvals_read ON approvals FOR SELECT USING (
  qorgau_is_practitioner() AND agency_id = qorgau_aid());
CREATE POLICY approvals_insert ON approvals FOR INSERT WITH CHECK (
  qorgau_is_practitioner() AND agency_id = qorgau_aid() AND requested_by = qorgau_uid());
CREATE POLICY approvals_update ON approvals FOR UPDATE USING (
  qorgau_has_role('supervisor') AND agency_id = qorgau_aid());

ALTER TABLE access_grants ENABLE ROW LEVEL SECURITY;
ALTER TABLE access_grants FORCE ROW LEVEL SECURITY;
CREATE POLICY grants_read ON access_grants FOR SELECT USING (
  user_id = qorgau_uid()
  OR (qorgau_has_role('supervisor') AND agency_id = qorgau_aid())
  OR qorgau_is_oversight_of(region_id));
CREATE POLICY grants_insert ON access_grants FOR INSERT WITH CHECK (
  qorgau_has_role('caseworker') AND user_id = qorgau_uid() AND agency_id = qorgau_aid());
CREATE POLICY grants_update ON access_grants FOR UPDATE USING (
  qorgau_has_role('supervisor') AND agency_id = qorgau_aid());
"""

CHILD_TABLES = ["children", "referrals", "referral_referrers", "referral_children",
                "referral_recipients", "referral_attachments", "referrer_updates", "cases",
                "case_referrals", "case_participants", "assessments", "chronology_entries",
                "chronology_bodies", "approvals", "access_grants"]

GRANTS = """
GRANT SELECT, INSERT ON children, referral_referrers, referral_children, referral_attachments,
    referrer_updates, case_referrals, chronology_entries, chronology_bodies TO qorgau_app;
GRANT SELECT, INSERT, UPDATE ON referrals, referral_recipients, cases, case_participants,
    assessments, approvals, access_grants TO qorgau_app;
GRANT SELECT, INSERT, DELETE ON idempotency_keys TO qorgau_app;
GRANT USAGE ON SEQUENCE cases_id_seq, chronology_entries_id_seq TO qorgau_app;
GRANT SELECT ON children, referrals, referral_children, referral_recipients, referral_referrers,
    cases, case_participants, case_referrals, chronology_entries, access_grants, agencies
    TO qorgau_policy;
-- Append-only records: nothing may rewrite or remove them, not even the owner by mistake.
CREATE FUNCTION qorgau_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER chronology_append_only BEFORE UPDATE OR DELETE ON chronology_entries
  FOR EACH ROW EXECUTE FUNCTION qorgau_refuse_change();
CREATE TRIGGER bodies_append_only BEFORE UPDATE OR DELETE ON chronology_bodies
  FOR EACH ROW EXECUTE FUNCTION qorgau_refuse_change();
CREATE TRIGGER attachments_append_only BEFORE UPDATE OR DELETE ON referral_attachments
  FOR EACH ROW EXECUTE FUNCTION qorgau_refuse_change();
"""

FUNCTIONS = ["qorgau_visible_case_ids()", "qorgau_visible_referral_ids()", "qorgau_visible_child_ids()",
             "qorgau_restricted_case_ids()", "qorgau_child_candidates(text, date, bigint)",
             "qorgau_case_facts(bigint)", "qorgau_referral_facts(bigint)", "qorgau_child_facts(bigint)",
             "qorgau_live_grants(bigint)"]


def upgrade() -> None:
    op.execute(ROLES)
    op.execute(TABLES)
    op.execute(IDENTITY)
    op.execute(POLICY_FUNCTIONS)
    for fn in FUNCTIONS:
        op.execute(f"ALTER FUNCTION {fn} OWNER TO qorgau_policy")
        op.execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO qorgau_app")
    op.execute(POLICIES)
    for table in CHILD_TABLES + ["idempotency_keys"]:
        op.execute(f"ALTER TABLE {table} OWNER TO qorgau_owner")
    op.execute("GRANT USAGE ON SCHEMA public TO qorgau_policy")
    op.execute(GRANTS)


def downgrade() -> None:
    op.execute("DROP TABLE " + ", ".join(reversed(CHILD_TABLES)) + ", idempotency_keys CASCADE")
    for fn in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    op.execute("DROP FUNCTION qorgau_refuse_change(), qorgau_is_oversight_of(bigint), "
               "qorgau_is_practitioner(), qorgau_has_role(text), qorgau_rid(), qorgau_aid(), qorgau_uid()")
