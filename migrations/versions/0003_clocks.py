"""Clocks: working calendars, deadline policies, clocks, escalations, professional disagreements,
the outbox, in-app notifications and e-mail deliveries.

Revision ID: 0003_clocks
Revises: 0002_audit

DESIGN.md §3 and §6, PRACTICE.md §1–§3 and §7, issue 5. Clocks point at their subject
generically (``subject_type``, ``subject_id``) so that this revision needs nothing from Core.
Rows that name a child (clocks, their steps, escalations, disagreements, notifications) are under
row-level security; calendars, policies and the outbox hold no child data (the outbox carries ids
only) and are protected here by grants alone; later revisions add write policies for them
(0011_clock_write_policies: calendars and policies; 0013_outbox_policies: the outbox).
"""
from alembic import op

revision = "0003_clocks"
down_revision = "0002_audit"
branch_labels = None
depends_on = None

TABLES = r"""
-- A region's working hours; a region without a row works 09:00-18:00 (issue 5 item 1).
CREATE TABLE region_calendars (
    region_id   bigint PRIMARY KEY REFERENCES regions(id),
    day_start   time NOT NULL DEFAULT '09:00',
    day_end     time NOT NULL DEFAULT '18:00',
    updated_by  bigint REFERENCES users(id),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (day_end > day_start)
);

-- Dated calendar entries. region_id NULL is the national calendar every region starts from; a
-- region's own row for the same date replaces the national one there (a 'working_day' row can
-- cancel a national holiday locally). Carried-over days are not stored: services/calendar.py
-- derives them from the holidays, so adding or removing a holiday moves its carry-over with it.
CREATE TABLE calendar_days (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    region_id   bigint REFERENCES regions(id),
    day         date NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('holiday', 'religious', 'day_off', 'working_day')),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    source      text CHECK (length(source) <= 300),
    created_by  bigint REFERENCES users(id),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX calendar_days_national_key ON calendar_days (day) WHERE region_id IS NULL;
CREATE UNIQUE INDEX calendar_days_region_key ON calendar_days (region_id, day)
    WHERE region_id IS NOT NULL;

-- Deadline policies, versioned: a change is a new version, never an edit (the application role
-- may insert but not update or delete), and a clock keeps the version it started under.
-- region_id NULL is the national default a region uses until it has a version of its own.
CREATE TABLE deadline_policies (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    region_id           bigint REFERENCES regions(id),
    version             integer NOT NULL CHECK (version > 0),
    reminder_percent    smallint NOT NULL DEFAULT 75 CHECK (reminder_percent BETWEEN 1 AND 99),
    level_2_after_wd    smallint NOT NULL DEFAULT 1 CHECK (level_2_after_wd BETWEEN 0 AND 60),
    level_3_after_wd    smallint NOT NULL DEFAULT 3 CHECK (level_3_after_wd BETWEEN 0 AND 60),
    unacknowledged_after interval NOT NULL DEFAULT '15 minutes',
    unacknowledged_repeat interval NOT NULL DEFAULT '15 minutes'
                        CHECK (unacknowledged_repeat >= interval '1 minute'),
    reason              text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
    created_by          bigint REFERENCES users(id),
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX deadline_policies_version_key
    ON deadline_policies (coalesce(region_id, 0), version);

-- priority 'any' applies to every priority that has no row of its own.
CREATE TABLE deadline_rules (
    policy_id   bigint NOT NULL REFERENCES deadline_policies(id),
    clock_kind  text NOT NULL CHECK (clock_kind ~ '^[a-z][a-z0-9_]{2,40}$'),
    priority    text NOT NULL CHECK (priority IN ('immediate', 'urgent', 'standard', 'low', 'any')),
    amount      integer NOT NULL CHECK (amount > 0 AND amount <= 100000),
    unit        text NOT NULL CHECK (unit IN ('minutes', 'hours', 'working_hours', 'working_days',
                                              'months')),
    PRIMARY KEY (policy_id, clock_kind, priority)
);

-- The agency's senior supervisor(s): level 2 of the ladder. An agency without one falls back
-- to its supervisors.
CREATE TABLE agency_heads (
    agency_id   bigint NOT NULL REFERENCES agencies(id),
    user_id     bigint NOT NULL REFERENCES users(id),
    assigned_by bigint REFERENCES users(id),
    assigned_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agency_id, user_id)
);
CREATE INDEX agency_heads_user_idx ON agency_heads (user_id);

-- One row per deadline. The ladder's instants are computed once, when the clock starts or its
-- due time changes; next_action_at is the earliest step still to take (NULL when none is left),
-- so the sweep reads only due rows through the partial index below.
CREATE TABLE clocks (
    id               bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    kind             text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{2,40}$'),
    subject_type     text NOT NULL CHECK (subject_type IN ('referral', 'case', 'assessment',
                       'instruction', 'meeting', 'disagreement', 'feedback')),
    subject_id       bigint NOT NULL,
    child_id         bigint,
    region_id        bigint NOT NULL REFERENCES regions(id),
    agency_id        bigint NOT NULL REFERENCES agencies(id),
    assignee_user_id bigint REFERENCES users(id),
    priority         text NOT NULL CHECK (priority IN ('immediate', 'urgent', 'standard', 'low')),
    policy_id        bigint NOT NULL REFERENCES deadline_policies(id),
    amount           integer NOT NULL,
    unit             text NOT NULL,
    started_at       timestamptz NOT NULL,
    started_by       bigint REFERENCES users(id),
    due_at           timestamptz NOT NULL,
    reminder_at      timestamptz NOT NULL,
    level_2_at       timestamptz NOT NULL,
    level_3_at       timestamptz NOT NULL,
    unacknowledged_at timestamptz,
    round            integer NOT NULL DEFAULT 1,
    reminded_at      timestamptz,
    escalation_level smallint NOT NULL DEFAULT 0 CHECK (escalation_level BETWEEN 0 AND 3),
    escalation_state text NOT NULL DEFAULT 'none'
                     CHECK (escalation_state IN ('none', 'open', 'acknowledged', 'resolved')),
    repeats          integer NOT NULL DEFAULT 0,
    next_action_at   timestamptz,
    stopped_at       timestamptz,
    stopped_by       bigint REFERENCES users(id),
    stop_reason      text CHECK (stop_reason IN ('completed', 'cancelled', 'superseded')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (stopped_at IS NULL OR next_action_at IS NULL),
    CHECK (due_at >= started_at)
);
CREATE INDEX clocks_next_action_idx ON clocks (next_action_at) WHERE next_action_at IS NOT NULL;
CREATE UNIQUE INDEX clocks_running_key ON clocks (subject_type, subject_id, kind)
    WHERE stopped_at IS NULL;
CREATE INDEX clocks_subject_idx ON clocks (subject_type, subject_id);
CREATE INDEX clocks_agency_idx ON clocks (agency_id);
CREATE INDEX clocks_assignee_idx ON clocks (assignee_user_id) WHERE assignee_user_id IS NOT NULL;
CREATE INDEX clocks_region_idx ON clocks (region_id);

-- Every change of a running clock's due time; an extension must say why (issue 5 item 4).
CREATE TABLE clock_changes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    clock_id    bigint NOT NULL REFERENCES clocks(id),
    old_due_at  timestamptz NOT NULL,
    new_due_at  timestamptz NOT NULL,
    reason      text CHECK (length(reason) <= 2000),
    changed_by  bigint REFERENCES users(id),
    changed_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (new_due_at <= old_due_at OR length(btrim(coalesce(reason, ''))) > 0)
);
CREATE INDEX clock_changes_clock_idx ON clock_changes (clock_id);

-- The escalation of one round of a clock (a round ends when the due time is changed). It climbs
-- the ladder in place: level 1 the owning agency's supervisors, level 2 the agency head, level 3
-- oversight of the region. Subject, owner and assignee are copied from the clock for the queue
-- and for row-level security.
CREATE TABLE escalations (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    clock_id            bigint NOT NULL REFERENCES clocks(id),
    round               integer NOT NULL,
    cause               text NOT NULL CHECK (cause IN ('deadline_breached', 'not_acknowledged')),
    level               smallint NOT NULL CHECK (level BETWEEN 1 AND 3),
    clock_kind          text NOT NULL,
    priority            text NOT NULL,
    subject_type        text NOT NULL,
    subject_id          bigint NOT NULL,
    child_id            bigint,
    region_id           bigint NOT NULL REFERENCES regions(id),
    agency_id           bigint NOT NULL REFERENCES agencies(id),
    assignee_user_id    bigint REFERENCES users(id),
    raised_at           timestamptz NOT NULL,
    level_changed_at    timestamptz NOT NULL,
    state               text NOT NULL DEFAULT 'open'
                        CHECK (state IN ('open', 'acknowledged', 'resolved')),
    acknowledged_at     timestamptz,
    acknowledged_by     bigint REFERENCES users(id),
    acknowledged_level  smallint,
    resolved_at         timestamptz,
    resolved_by         bigint REFERENCES users(id),
    resolution          text CHECK (resolution IN ('resolved', 'clock_stopped', 'due_changed')),
    resolution_note     text CHECK (length(resolution_note) <= 4000),
    UNIQUE (clock_id, round),
    CHECK ((state = 'resolved') = (resolved_at IS NOT NULL))
);
CREATE INDEX escalations_agency_queue_idx ON escalations (agency_id, level DESC, raised_at)
    WHERE state <> 'resolved';
CREATE INDEX escalations_region_queue_idx ON escalations (region_id, level DESC, raised_at)
    WHERE state <> 'resolved';
CREATE INDEX escalations_assignee_idx ON escalations (assignee_user_id)
    WHERE assignee_user_id IS NOT NULL;

-- Professional disagreements (PRACTICE.md §3): stage 1 between practitioners, stage 2 between
-- supervisors, stage 3 to oversight; each stage runs a clock of its own. case_id points at
-- Core's cases table, which a later revision creates.
CREATE TABLE disagreements (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id             bigint NOT NULL,
    child_id            bigint,
    region_id           bigint NOT NULL REFERENCES regions(id),
    decision_type       text NOT NULL CHECK (decision_type ~ '^[a-z][a-z0-9_]{2,40}$'),
    decision_id         bigint,
    raised_by           bigint NOT NULL REFERENCES users(id),
    raised_by_agency_id bigint NOT NULL REFERENCES agencies(id),
    against_agency_id   bigint NOT NULL REFERENCES agencies(id),
    reason              text NOT NULL CHECK (length(btrim(reason)) BETWEEN 1 AND 4000),
    stage               smallint NOT NULL DEFAULT 1 CHECK (stage BETWEEN 1 AND 3),
    state               text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved')),
    opened_at           timestamptz NOT NULL,
    stage_started_at    timestamptz NOT NULL,
    resolved_at         timestamptz,
    resolved_by         bigint REFERENCES users(id),
    resolution_note     text CHECK (length(resolution_note) <= 4000),
    CHECK ((state = 'resolved') = (resolved_at IS NOT NULL))
);
CREATE INDEX disagreements_case_idx ON disagreements (case_id);
CREATE INDEX disagreements_raised_by_agency_idx ON disagreements (raised_by_agency_id);
CREATE INDEX disagreements_against_agency_idx ON disagreements (against_agency_id);
CREATE INDEX disagreements_region_idx ON disagreements (region_id);

CREATE TABLE disagreement_stages (
    disagreement_id bigint NOT NULL REFERENCES disagreements(id),
    stage           smallint NOT NULL CHECK (stage BETWEEN 1 AND 3),
    started_at      timestamptz NOT NULL,
    started_by      bigint REFERENCES users(id),
    reason          text CHECK (length(reason) <= 4000),
    clock_id        bigint REFERENCES clocks(id),
    due_at          timestamptz NOT NULL,
    PRIMARY KEY (disagreement_id, stage)
);

-- The transactional outbox (DESIGN.md §2, §6): a row written in the same transaction as the
-- change that causes it, relayed to Celery after commit. Ids only in the payload. A row is due
-- for (re)publication while undelivered, not dead and next_attempt_at has passed; publishing
-- pushes next_attempt_at forward by a lease, so a message the broker lost is published again.
CREATE TABLE outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic           text NOT NULL CHECK (topic ~ '^[a-z][a-z0-9_.]{2,60}$'),
    payload         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(payload) = 'object'
                                                      AND length(payload::text) <= 4096),
    created_at      timestamptz NOT NULL DEFAULT now(),
    published_at    timestamptz,
    publish_count   integer NOT NULL DEFAULT 0,
    delivered_at    timestamptz,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    dead_at         timestamptz,
    last_error      text CHECK (length(last_error) <= 2000)
);
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at)
    WHERE delivered_at IS NULL AND dead_at IS NULL;
CREATE INDEX outbox_dead_idx ON outbox (dead_at) WHERE dead_at IS NOT NULL;

-- The ladder steps taken, one row each: the proof that a step happened once.
CREATE TABLE clock_steps (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    clock_id        bigint NOT NULL REFERENCES clocks(id),
    round           integer NOT NULL,
    step            text NOT NULL CHECK (step IN ('reminder', 'level_1', 'level_2', 'level_3',
                                                  'repeat')),
    repeat_no       integer NOT NULL DEFAULT 0,
    scheduled_at    timestamptz NOT NULL,
    done_at         timestamptz NOT NULL,
    escalation_id   bigint REFERENCES escalations(id),
    outbox_id       bigint REFERENCES outbox(id),
    recipient_ids   bigint[] NOT NULL DEFAULT '{}',
    UNIQUE (clock_id, round, step, repeat_no)
);
CREATE INDEX clock_steps_escalation_idx ON clock_steps (escalation_id);

-- In-app notifications; (outbox_id, user_id) is unique so a redelivered task adds nothing.
CREATE TABLE notifications (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox_id       bigint NOT NULL REFERENCES outbox(id),
    user_id         bigint NOT NULL REFERENCES users(id),
    kind            text NOT NULL,
    subject_type    text,
    subject_id      bigint,
    child_id        bigint,
    refs            jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    read_at         timestamptz,
    UNIQUE (outbox_id, user_id)
);
CREATE INDEX notifications_user_idx ON notifications (user_id, created_at DESC);
CREATE INDEX notifications_unread_idx ON notifications (user_id) WHERE read_at IS NULL;

-- One e-mail per (outbox row, recipient): the key that keeps a redelivered task from sending
-- twice (workflows/notifications.py explains the protocol).
CREATE TABLE deliveries (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox_id         bigint NOT NULL REFERENCES outbox(id),
    channel           text NOT NULL CHECK (channel IN ('email')),
    recipient_user_id bigint NOT NULL REFERENCES users(id),
    state             text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'rejected')),
    attempts          integer NOT NULL DEFAULT 0,
    message_id        text,
    sent_at           timestamptz,
    last_error        text CHECK (length(last_error) <= 2000),
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (outbox_id, channel, recipient_user_id)
);
"""

# Who is acting, as services.db.set_actor left it for this transaction. Named clocks_* so that
# they stay this revision's own.
IDENTITY = """
CREATE FUNCTION clocks_actor_id() RETURNS bigint LANGUAGE sql STABLE PARALLEL SAFE AS
  $$ SELECT nullif(current_setting('qorgau.user_id', true), '')::bigint $$;
CREATE FUNCTION clocks_actor_agency() RETURNS bigint LANGUAGE sql STABLE PARALLEL SAFE AS
  $$ SELECT nullif(current_setting('qorgau.agency_id', true), '')::bigint $$;
CREATE FUNCTION clocks_actor_has(r text) RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS
  $$ SELECT r = ANY (string_to_array(coalesce(current_setting('qorgau.roles', true), ''), ',')) $$;
CREATE FUNCTION clocks_actor_region() RETURNS bigint LANGUAGE sql STABLE PARALLEL SAFE AS
  $$ SELECT a.region_id FROM public.agencies a WHERE a.id = clocks_actor_agency() $$;

-- Who may see a deadline (issue 5; DESIGN.md §4): Qorgau's own system actor; the assignee; the
-- owning agency's supervisors and heads; its caseworkers while the work is unassigned (the
-- agency's queue); oversight of the region. Mirrored by services/clocks/access.py.
CREATE FUNCTION clocks_may_see(p_agency bigint, p_region bigint, p_assignee bigint)
RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT clocks_actor_has('system')
      OR (p_assignee IS NOT NULL AND p_assignee = clocks_actor_id())
      OR (p_agency = clocks_actor_agency() AND clocks_actor_has('supervisor'))
      OR (p_agency = clocks_actor_agency() AND p_assignee IS NULL AND clocks_actor_has('caseworker'))
      OR (clocks_actor_has('oversight') AND p_region = clocks_actor_region())
      OR EXISTS (SELECT 1 FROM agency_heads h
                  WHERE h.agency_id = p_agency AND h.user_id = clocks_actor_id())
$$;
"""

# Starting and stopping a clock are consequences of another capability's action (a referral
# submitted, an assessment completed), which that capability has already authorised. The actor
# often cannot see the clock (a school's referral starts a clock owned by social services), so
# these two functions run as the tables' owner, bypassing row-level security for exactly this
# insert and this update. Both return ids only.
FUNCTIONS = """
CREATE FUNCTION clocks_start(c jsonb) RETURNS TABLE (clock_id bigint, created boolean)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_catalog AS $$
DECLARE
  r clocks;
  new_id bigint;
BEGIN
  r := jsonb_populate_record(NULL::clocks, c);
  INSERT INTO clocks (kind, subject_type, subject_id, child_id, region_id, agency_id,
                      assignee_user_id, priority, policy_id, amount, unit, started_at, started_by,
                      due_at, reminder_at, level_2_at, level_3_at, unacknowledged_at,
                      next_action_at)
  VALUES (r.kind, r.subject_type, r.subject_id, r.child_id, r.region_id, r.agency_id,
          r.assignee_user_id, r.priority, r.policy_id, r.amount, r.unit, r.started_at,
          r.started_by, r.due_at, r.reminder_at, r.level_2_at, r.level_3_at,
          r.unacknowledged_at, r.next_action_at)
  ON CONFLICT (subject_type, subject_id, kind) WHERE stopped_at IS NULL DO NOTHING
  RETURNING id INTO new_id;
  IF new_id IS NOT NULL THEN
    RETURN QUERY SELECT new_id, true;
  ELSE
    RETURN QUERY SELECT k.id, false FROM clocks k
      WHERE k.subject_type = r.subject_type AND k.subject_id = r.subject_id AND k.kind = r.kind
        AND k.stopped_at IS NULL;
  END IF;
END
$$;

CREATE FUNCTION clocks_stop(p_subject_type text, p_subject_id bigint, p_kind text,
                            p_at timestamptz, p_by bigint, p_reason text)
RETURNS TABLE (clock_id bigint, child_id bigint, escalation_id bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_catalog AS $$
BEGIN
  RETURN QUERY
  WITH stopped AS (
    UPDATE clocks k
       SET stopped_at = p_at, stopped_by = p_by, stop_reason = p_reason, next_action_at = NULL,
           escalation_state = CASE WHEN k.escalation_state IN ('open', 'acknowledged')
                                   THEN 'resolved' ELSE k.escalation_state END
     WHERE k.subject_type = p_subject_type AND k.subject_id = p_subject_id
       AND (p_kind IS NULL OR k.kind = p_kind) AND k.stopped_at IS NULL
    RETURNING k.id, k.child_id, k.round
  ), closed AS (
    UPDATE escalations e
       SET state = 'resolved', resolved_at = p_at, resolved_by = p_by, resolution = 'clock_stopped'
      FROM stopped s
     WHERE e.clock_id = s.id AND e.round = s.round AND e.state <> 'resolved'
    RETURNING e.clock_id, e.id
  )
  SELECT s.id, s.child_id, c.id FROM stopped s LEFT JOIN closed c ON c.clock_id = s.id;
END
$$;
"""

POLICIES = """
ALTER TABLE clocks ENABLE ROW LEVEL SECURITY;
CREATE POLICY clocks_read ON clocks FOR SELECT
    USING (clocks_may_see(agency_id, region_id, assignee_user_id));
CREATE POLICY clocks_change ON clocks FOR UPDATE
    USING (clocks_may_see(agency_id, region_id, assignee_user_id));

ALTER TABLE clock_steps ENABLE ROW LEVEL SECURITY;
CREATE POLICY clock_steps_read ON clock_steps FOR SELECT
    USING (EXISTS (SELECT 1 FROM clocks k WHERE k.id = clock_id));
CREATE POLICY clock_steps_write ON clock_steps FOR INSERT WITH CHECK (clocks_actor_has('system'));
CREATE POLICY clock_steps_link ON clock_steps FOR UPDATE USING (clocks_actor_has('system'));

ALTER TABLE clock_changes ENABLE ROW LEVEL SECURITY;
CREATE POLICY clock_changes_read ON clock_changes FOR SELECT
    USING (EXISTS (SELECT 1 FROM clocks k WHERE k.id = clock_id));
CREATE POLICY clock_changes_write ON clock_changes FOR INSERT
    WITH CHECK (EXISTS (SELECT 1 FROM clocks k WHERE k.id = clock_id));

ALTER TABLE escalations ENABLE ROW LEVEL SECURITY;
CREATE POLICY escalations_read ON escalations FOR SELECT
    USING (clocks_may_see(agency_id, region_id, assignee_user_id));
CREATE POLICY escalations_change ON escalations FOR UPDATE
    USING (clocks_may_see(agency_id, region_id, assignee_user_id));
CREATE POLICY escalations_raise ON escalations FOR INSERT WITH CHECK (clocks_actor_has('system'));

-- A disagreement is seen by the two agencies in it, the person who raised it and oversight.
ALTER TABLE disagreements ENABLE ROW LEVEL SECURITY;
CREATE POLICY disagreements_read ON disagreements FOR SELECT USING (
    clocks_actor_has('system')
    OR raised_by = clocks_actor_id()
    OR raised_by_agency_id = clocks_actor_agency()
    OR against_agency_id = clocks_actor_agency()
    OR (clocks_actor_has('oversight') AND region_id = clocks_actor_region()));
CREATE POLICY disagreements_change ON disagreements FOR UPDATE USING (
    clocks_actor_has('system')
    OR raised_by_agency_id = clocks_actor_agency()
    OR against_agency_id = clocks_actor_agency()
    OR (clocks_actor_has('oversight') AND region_id = clocks_actor_region()));
CREATE POLICY disagreements_raise ON disagreements FOR INSERT WITH CHECK (
    raised_by = clocks_actor_id() AND raised_by_agency_id = clocks_actor_agency());

ALTER TABLE disagreement_stages ENABLE ROW LEVEL SECURITY;
CREATE POLICY disagreement_stages_read ON disagreement_stages FOR SELECT
    USING (EXISTS (SELECT 1 FROM disagreements d WHERE d.id = disagreement_id));
CREATE POLICY disagreement_stages_write ON disagreement_stages FOR INSERT
    WITH CHECK (EXISTS (SELECT 1 FROM disagreements d WHERE d.id = disagreement_id));

-- A person sees and marks only their own notifications; only Qorgau's delivery task writes them.
ALTER TABLE notifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY notifications_read ON notifications FOR SELECT
    USING (clocks_actor_has('system') OR user_id = clocks_actor_id());
CREATE POLICY notifications_mark ON notifications FOR UPDATE
    USING (user_id = clocks_actor_id());
CREATE POLICY notifications_deliver ON notifications FOR INSERT
    WITH CHECK (clocks_actor_has('system'));
"""

OWNED_TABLES = ["region_calendars", "calendar_days", "deadline_policies", "deadline_rules",
                "agency_heads", "clocks", "clock_changes", "escalations", "disagreements",
                "disagreement_stages", "outbox", "clock_steps", "notifications", "deliveries"]
OWNED_FUNCTIONS = ["clocks_actor_id()", "clocks_actor_agency()", "clocks_actor_has(text)",
                   "clocks_actor_region()", "clocks_may_see(bigint, bigint, bigint)",
                   "clocks_start(jsonb)",
                   "clocks_stop(text, bigint, text, timestamptz, bigint, text)"]

GRANTS = """
GRANT SELECT, INSERT, UPDATE, DELETE ON region_calendars, calendar_days, agency_heads TO qorgau_app;
GRANT SELECT, INSERT ON deadline_policies, deadline_rules TO qorgau_app;
GRANT SELECT, UPDATE ON clocks TO qorgau_app;
GRANT SELECT, INSERT ON clock_changes, clock_steps, disagreement_stages TO qorgau_app;
GRANT UPDATE (outbox_id) ON clock_steps TO qorgau_app;
GRANT SELECT, INSERT, UPDATE ON escalations, disagreements, outbox, notifications, deliveries
    TO qorgau_app;
REVOKE ALL ON FUNCTION clocks_start(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION clocks_stop(text, bigint, text, timestamptz, bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION clocks_start(jsonb) TO qorgau_app;
GRANT EXECUTE ON FUNCTION clocks_stop(text, bigint, text, timestamptz, bigint, text) TO qorgau_app;
"""

# Kazakhstan's public holidays (Law "On Holidays", Art. 5) and religious days off (Labour Code
# Art. 84 p.5), PRACTICE.md §7. Carry-overs are derived, not listed: for 2026 they give 9 March,
# 24-25 March, 11 May, 31 August and 26 October, which is the official 2026 calendar published
# on egov.kz (Kazinform, 2 January 2026: 119 days off, 246 working days). The Government moved
# no further days off for 2026. For 2027 no decree moving days was found, so none is seeded.
LAW = "Law on Holidays in the RK, Art. 5"
RELIGIOUS_SOURCE = "Labour Code of the RK, Art. 84 p.5"
HOLIDAYS = [
    ("01-01", "New Year"), ("01-02", "New Year"), ("03-08", "International Women's Day"),
    ("03-21", "Nauryz meiramy"), ("03-22", "Nauryz meiramy"), ("03-23", "Nauryz meiramy"),
    ("05-01", "Unity Day of the People of Kazakhstan"), ("05-07", "Defender of the Fatherland Day"),
    ("05-09", "Victory Day"), ("07-06", "Capital Day"), ("08-30", "Constitution Day"),
    ("10-25", "Republic Day"), ("12-16", "Independence Day"),
]
RELIGIOUS = [
    ("2026-01-07", "Orthodox Christmas", RELIGIOUS_SOURCE),
    ("2027-01-07", "Orthodox Christmas", RELIGIOUS_SOURCE),
    ("2026-05-27", "Kurban Ait, first day", RELIGIOUS_SOURCE + "; date per egov.kz 2026 calendar"),
    # [unverified] The Spiritual Administration sets the date each year; 16 May 2027 is the
    # astronomical expectation. It falls on a Sunday, and religious days are not carried over.
    ("2027-05-16", "Kurban Ait, first day", RELIGIOUS_SOURCE + "; expected date [unverified]"),
]

# The national default deadline policy, version 1 (DESIGN.md §3). Units: hours run around the
# clock, working_days count the region's working time (services/calendar.py).
DEFAULT_RULES = [
    # An immediate referral is acknowledged within 1 hour, day and night; its screening
    # decision is due in the same hour.
    ("acknowledgement", "immediate", 1, "hours"),
    ("screening_decision", "immediate", 1, "hours"),
    ("screening_decision", "urgent", 1, "working_days"),
    ("screening_decision", "standard", 1, "working_days"),
    ("screening_decision", "low", 3, "working_days"),
    ("first_contact", "immediate", 4, "hours"),
    ("first_contact", "urgent", 24, "hours"),
    ("first_contact", "standard", 3, "working_days"),
    ("first_contact", "low", 10, "working_days"),
    ("assessment", "any", 10, "working_days"),  # psychological and legal, from acceptance
    ("whole_assessment", "any", 45, "working_days"),  # from the referral (PRACTICE.md §1 row 4)
    ("strategy_meeting", "immediate", 1, "working_days"),
    ("strategy_meeting", "urgent", 1, "working_days"),
    ("first_review", "any", 3, "months"),
    ("review", "any", 6, "months"),
    ("referrer_feedback", "any", 1, "working_days"),
    # Not fixed by DESIGN.md: defaults a region should review.
    ("instruction", "any", 5, "working_days"),
    # Professional disagreement stages (issue 5 item 4; PRACTICE.md §3): practitioners 2 WD,
    # supervisors 5 WD; oversight 5 WD is a default (no source gives one).
    ("disagreement_stage_1", "any", 2, "working_days"),
    ("disagreement_stage_2", "any", 5, "working_days"),
    ("disagreement_stage_3", "any", 5, "working_days"),
]


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def seed_sql() -> str:
    """INSERT statements for the national calendar and the default policy."""
    rows = [f"(DATE '{year}-{md}', 'holiday', {_quote(name)}, {_quote(LAW)})"
            for year in (2026, 2027) for md, name in HOLIDAYS]
    rows += [f"(DATE '{day}', 'religious', {_quote(name)}, {_quote(source)})"
             for day, name, source in RELIGIOUS]
    rules = ", ".join(f"({_quote(k)}, {_quote(p)}, {n}, {_quote(u)})" for k, p, n, u in DEFAULT_RULES)
    return f"""
INSERT INTO calendar_days (day, kind, name, source) VALUES {", ".join(rows)};
WITH policy AS (
  INSERT INTO deadline_policies (region_id, version, reason)
  VALUES (NULL, 1, 'National default from DESIGN.md section 3') RETURNING id
)
INSERT INTO deadline_rules (policy_id, clock_kind, priority, amount, unit)
SELECT policy.id, r.kind, r.priority, r.amount, r.unit
  FROM policy, (VALUES {rules}) AS r(kind, priority, amount, unit);
"""


def upgrade() -> None:
    op.execute(TABLES)
    op.execute(IDENTITY)
    op.execute(FUNCTIONS)
    op.execute(POLICIES)
    for table in OWNED_TABLES:
        op.execute(f"ALTER TABLE {table} OWNER TO qorgau_owner")
    for function in OWNED_FUNCTIONS:
        op.execute(f"ALTER FUNCTION {function} OWNER TO qorgau_owner")
    op.execute(GRANTS)
    op.execute(seed_sql())


def downgrade() -> None:
    for function in reversed(OWNED_FUNCTIONS):
        op.execute(f"DROP FUNCTION {function}")
    op.execute("DROP TABLE deliveries, notifications, clock_steps, outbox, disagreement_stages, "
               "disagreements, escalations, clock_changes, clocks, agency_heads, deadline_rules, "
               "deadline_policies, calendar_days, region_calendars")
