"""Clock lifecycle: one screening clock per receiving agency, the entries that complete work (case
reviews, answers to instructions), and the index that lets old idempotency keys be removed.

- A referral sent to several agencies gives each of them its own ``acknowledgement`` and
  ``screening_decision`` clock, so "one running clock per subject and kind" becomes "per subject,
  kind and owning agency". ``clocks_start`` follows the new key; ``clocks_stop_for`` stops the
  running clocks of one agency (or all) and of some kinds (or all), and says which it stopped;
  ``clocks_running`` tells an action which kinds run for a subject without showing it the rows;
  ``clocks_transfer`` hands a case's running clocks to its new lead agency.
- Chronology entries gain the kinds ``review`` (a case review, which restarts the review clock)
  and ``instruction_response`` (the addressed agency's answer to oversight's instruction).
  ``instruction_responses`` links an answer to its instruction, one answer per instruction.
- ``idempotency_keys`` are removed after their retention by a beat task; it reads them by age.

Revision ID: 0009_clock_lifecycle
Revises: 0008_merge
"""
from alembic import op

revision = "0009_clock_lifecycle"
down_revision = "0008_merge"
branch_labels = None
depends_on = None

CLOCKS = """
DROP INDEX clocks_running_key;
CREATE UNIQUE INDEX clocks_running_key ON clocks (subject_type, subject_id, kind, agency_id)
    WHERE stopped_at IS NULL;

CREATE OR REPLACE FUNCTION clocks_start(c jsonb) RETURNS TABLE (clock_id bigint, created boolean)
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
  ON CONFLICT (subject_type, subject_id, kind, agency_id) WHERE stopped_at IS NULL DO NOTHING
  RETURNING id INTO new_id;
  IF new_id IS NOT NULL THEN
    RETURN QUERY SELECT new_id, true;
  ELSE
    RETURN QUERY SELECT k.id, false FROM clocks k
      WHERE k.subject_type = r.subject_type AND k.subject_id = r.subject_id AND k.kind = r.kind
        AND k.agency_id = r.agency_id AND k.stopped_at IS NULL;
  END IF;
END
$$;

-- As clocks_stop (0003), narrowed to some kinds (NULL: all) and one owning agency (NULL: all),
-- and returning the kind and agency of each clock it stopped, so that a correction can carry
-- them over to the new version without reading clocks its author may not see.
CREATE FUNCTION clocks_stop_for(p_subject_type text, p_subject_id bigint, p_kinds text[],
                                p_agency bigint, p_at timestamptz, p_by bigint, p_reason text)
RETURNS TABLE (clock_id bigint, child_id bigint, escalation_id bigint, kind text,
               agency_id bigint, started_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_catalog AS $$
BEGIN
  RETURN QUERY
  WITH stopped AS (
    UPDATE clocks k
       SET stopped_at = p_at, stopped_by = p_by, stop_reason = p_reason, next_action_at = NULL,
           escalation_state = CASE WHEN k.escalation_state IN ('open', 'acknowledged')
                                   THEN 'resolved' ELSE k.escalation_state END
     WHERE k.subject_type = p_subject_type AND k.subject_id = p_subject_id
       AND (p_kinds IS NULL OR k.kind = ANY (p_kinds))
       AND (p_agency IS NULL OR k.agency_id = p_agency) AND k.stopped_at IS NULL
    RETURNING k.id, k.child_id, k.round, k.kind, k.agency_id, k.started_at
  ), closed AS (
    UPDATE escalations e
       SET state = 'resolved', resolved_at = p_at, resolved_by = p_by, resolution = 'clock_stopped'
      FROM stopped s
     WHERE e.clock_id = s.id AND e.round = s.round AND e.state <> 'resolved'
    RETURNING e.clock_id, e.id
  )
  SELECT s.id, s.child_id, c.id, s.kind, s.agency_id, s.started_at
    FROM stopped s LEFT JOIN closed c ON c.clock_id = s.id ORDER BY s.id;
END
$$;

-- A case's lead changes hands: its running clocks (and their open escalations) go to the new
-- lead's queue, unassigned. Returns what it moved.
CREATE FUNCTION clocks_transfer(p_subject_type text, p_subject_id bigint, p_from bigint,
                                p_to bigint)
RETURNS TABLE (clock_id bigint, child_id bigint, kind text, escalation_id bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_catalog AS $$
BEGIN
  RETURN QUERY
  WITH moved AS (
    UPDATE clocks k SET agency_id = p_to, assignee_user_id = NULL
     WHERE k.subject_type = p_subject_type AND k.subject_id = p_subject_id
       AND k.agency_id = p_from AND k.stopped_at IS NULL
    RETURNING k.id, k.child_id, k.kind, k.round
  ), escalated AS (
    UPDATE escalations e SET agency_id = p_to, assignee_user_id = NULL
      FROM moved m
     WHERE e.clock_id = m.id AND e.round = m.round AND e.state <> 'resolved'
    RETURNING e.clock_id, e.id
  )
  SELECT m.id, m.child_id, m.kind, x.id FROM moved m LEFT JOIN escalated x ON x.clock_id = m.id
   ORDER BY m.id;
END
$$;

-- The kinds running for a subject and the agencies owning them: ids and codes only, for an
-- action deciding whether to start a clock whose rows its actor may not see.
CREATE FUNCTION clocks_running(p_subject_type text, p_subject_id bigint)
RETURNS TABLE (kind text, agency_id bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_catalog AS $$
  SELECT k.kind, k.agency_id FROM clocks k
   WHERE k.subject_type = p_subject_type AND k.subject_id = p_subject_id AND k.stopped_at IS NULL
   ORDER BY k.id
$$;
"""

CLOCK_FUNCTIONS = ("clocks_stop_for(text, bigint, text[], bigint, timestamptz, bigint, text)",
                   "clocks_transfer(text, bigint, bigint, bigint)",
                   "clocks_running(text, bigint)")

ENTRIES = """
ALTER TABLE chronology_entries DROP CONSTRAINT chronology_entries_kind_check,
    ADD CONSTRAINT chronology_entries_kind_check CHECK (kind IN
        ('note', 'contact', 'assessment_result', 'meeting', 'decision', 'instruction', 'review',
         'instruction_response'));

-- One answer per instruction, by the agency it was addressed to. Child data (it points at
-- chronology entries), so row-level security is forced: whoever may know the answer entry
-- exists may see the link; only the answer's author, for their own agency, may write it.
CREATE TABLE instruction_responses (
    instruction_entry_id bigint PRIMARY KEY REFERENCES chronology_entries(id),
    response_entry_id    bigint NOT NULL UNIQUE REFERENCES chronology_entries(id),
    case_id              bigint NOT NULL REFERENCES cases(id),
    agency_id            bigint NOT NULL REFERENCES agencies(id),
    responded_by         bigint NOT NULL REFERENCES users(id),
    responded_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX instruction_responses_case_idx ON instruction_responses (case_id);
ALTER TABLE instruction_responses OWNER TO qorgau_owner;
ALTER TABLE instruction_responses ENABLE ROW LEVEL SECURITY;
ALTER TABLE instruction_responses FORCE ROW LEVEL SECURITY;
CREATE POLICY instruction_responses_read ON instruction_responses FOR SELECT USING (
  EXISTS (SELECT 1 FROM chronology_entries e WHERE e.id = response_entry_id));
CREATE POLICY instruction_responses_insert ON instruction_responses FOR INSERT WITH CHECK (
  responded_by = qorgau_uid() AND agency_id = qorgau_aid() AND qorgau_is_practitioner()
  AND EXISTS (SELECT 1 FROM chronology_entries i WHERE i.id = instruction_entry_id
                 AND i.case_id = instruction_responses.case_id AND i.kind = 'instruction'
                 AND i.addressed_agency_id = qorgau_aid())
  AND EXISTS (SELECT 1 FROM chronology_entries r WHERE r.id = response_entry_id
                 AND r.case_id = instruction_responses.case_id AND r.kind = 'instruction_response'
                 AND r.author_user_id = qorgau_uid()));
CREATE TRIGGER instruction_responses_append_only BEFORE UPDATE OR DELETE ON instruction_responses
    FOR EACH ROW EXECUTE FUNCTION qorgau_refuse_change();
GRANT SELECT, INSERT ON instruction_responses TO qorgau_app;

CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
"""

DOWNGRADE = """
DROP INDEX idempotency_keys_created_idx;
DROP TABLE instruction_responses;
ALTER TABLE chronology_entries DROP CONSTRAINT chronology_entries_kind_check,
    ADD CONSTRAINT chronology_entries_kind_check CHECK (kind IN
        ('note', 'contact', 'assessment_result', 'meeting', 'decision', 'instruction'));
DROP FUNCTION clocks_running(text, bigint);
DROP FUNCTION clocks_transfer(text, bigint, bigint, bigint);
DROP FUNCTION clocks_stop_for(text, bigint, text[], bigint, timestamptz, bigint, text);
DROP INDEX clocks_running_key;
CREATE UNIQUE INDEX clocks_running_key ON clocks (subject_type, subject_id, kind)
    WHERE stopped_at IS NULL;
"""


def _restore_0003_start() -> str:
    """0003's clocks_start, as CREATE OR REPLACE (for the downgrade)."""
    import importlib.util
    import re
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("clocks_0003", Path(__file__).with_name("0003_clocks.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    body = re.search(r"(CREATE FUNCTION clocks_start\(.*?\n\$\$;)", module.FUNCTIONS, re.S).group(1)
    return body.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def upgrade() -> None:
    op.execute(CLOCKS)
    for fn in CLOCK_FUNCTIONS:
        op.execute(f"ALTER FUNCTION {fn} OWNER TO qorgau_owner")
        op.execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO qorgau_app")
    op.execute(ENTRIES)


def downgrade() -> None:
    # Clocks of several agencies on one subject would break the old key: the downgrade fails
    # loudly on them rather than deciding which to keep.
    op.execute(DOWNGRADE)
    op.execute(_restore_0003_start())
