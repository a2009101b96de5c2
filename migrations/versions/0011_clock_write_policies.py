"""Row-level security for writes on the clocks tables: every insert and update allowed only where
the application allows the change (services/clocks, DESIGN.md §3 and §4).

0003 checked who may *see* clocks closely and who may *change* them loosely: anyone who could see
a clock or an escalation could change any of its columns (its due time, its owner, its level, its
stop), a disagreement could be raised on any case about any child, a stage added to any
disagreement one could see, a change of due time recorded by anyone, and the calendars, deadline
policies and agency heads had no row-level security at all. The SECURITY DEFINER functions that
start, stop and hand over clocks ran for whoever called them. Now:

- clocks: starting, stopping and handing over (clocks_start, clocks_stop, clocks_stop_for,
  clocks_transfer) need an actor related to the subject — for a referral its referring or a
  receiving agency; for a case, an assessment of it, an agency taking part or that accepted a
  referral into it; for an instruction oversight of the region or the agency it is addressed to;
  for a disagreement its two agencies or oversight — and a clock starts only for the owner its
  subject gives it (a receiving agency, the case's lead, the assessing, addressed or disputed
  agency), about the subject's own child and region, in its actor's name. Qorgau's own system
  actor (the sweep, delivery, beat) is not limited.
- A clock's subject, owner, policy, start and stop never change by UPDATE (only the functions
  above stop or hand it over). Its due time is changed by a supervisor or head of the owning agency
  of a running clock, after recording the change (clock_changes, where an extension must say why):
  a new round of the ladder from level 0. Its assignee is changed, to an active caseworker or
  supervisor of the owning agency, by someone on the ladder of its open escalation. Its ladder
  state moves by hand only from open to acknowledged, or to resolved, by someone on the ladder at
  its level; the level, the repeats and the reminder are the sweep's.
- escalations: raised and climbed by the system only; acknowledged once per level and resolved
  once (with a note, or by the due time changing), in the actor's own name, by someone on the
  ladder at its level (the owning agency's supervisors and heads; oversight of the region from
  level 3). A resolved escalation never changes.
- clock_changes: by a supervisor or head of the owning agency of a running clock, in their own name.
- disagreements: raised only by a caseworker or supervisor of an agency taking part in the case,
  against another agency taking part, about the case's own child and region, at stage 1, open.
  Advanced one stage (by a party at stage 1, a supervisor of a party at stage 2) or resolved with a
  note (oversight of the region at stage 3), in the actor's own name; its parties, case, reason
  and opening never change; a resolved one never changes.
- disagreement_stages: the stage the disagreement is at, started when it started, with the
  stage's running clock and its due time, by the person who raised it (stage 1) or moved it on.
- notifications: the person marks their own read; nothing else of a notification changes.
- instruction_responses: also only by an agency taking part, for an answer written in this
  transaction.
- region_calendars, calendar_days, deadline_policies, deadline_rules: read by everyone (every
  clock's due time comes from them); written by the system admin, in their own name, for a region
  (the national calendar and default policy are seeded, not edited). A policy version is never
  edited: rules are added to a version only by the statement that gives it its rules, the
  latest of its region, written by its author (services/clocks/deadline_queries.py inserts them in
  one statement).
- agency_heads: named and removed by the system admin or the agency's own admin; a head is an
  active supervisor of that agency.

Rules that compare a row with what it was are triggers for the application role, like
0009_write_policies; the UPDATE policies keep the read scope as USING, so that an action that
locks a row it may see but not change finds it and answers why it refuses (403, not 404).

Revision ID: 0011_clock_write_policies
Revises: 0010_merge
"""
import importlib.util
import re
from pathlib import Path

from alembic import op

revision = "0011_clock_write_policies"
down_revision = "0010_merge"
branch_labels = None
depends_on = None

HELPER = "LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp"

HELPERS = f"""
-- Is the acting user on the ladder of this owner's escalation at this level: a supervisor of the
-- owning agency, one of its heads, or (from level 3) oversight of the region? Mirrors
-- services/clocks/access.py off_ladder_reason().
CREATE FUNCTION clocks_on_ladder(p_agency bigint, p_region bigint, p_level integer)
RETURNS boolean {HELPER} AS $$
BEGIN
  RETURN (qorgau_has_role('supervisor') AND p_agency = qorgau_aid())
      OR EXISTS (SELECT 1 FROM agency_heads h WHERE h.agency_id = p_agency AND h.user_id = qorgau_uid())
      OR (p_level >= 3 AND qorgau_is_oversight_of(p_region));
END
$$;

-- May the acting user change the due time of this running clock (a supervisor or head of its
-- owning agency; services/clocks/access.py may_change_due())?
CREATE FUNCTION clocks_may_change_due(p_clock bigint) RETURNS boolean {HELPER} AS $$
BEGIN
  RETURN EXISTS (SELECT 1 FROM clocks k WHERE k.id = p_clock AND k.stopped_at IS NULL
                   AND clocks_on_ladder(k.agency_id, NULL, 0));
END
$$;

-- Is the latest recorded change of this clock's due time this one (from p_old, else from its
-- current due time; to p_new, else to any), by the acting user?
CREATE FUNCTION clocks_change_recorded(p_clock bigint, p_old timestamptz, p_new timestamptz)
RETURNS boolean {HELPER} AS $$
BEGIN
  RETURN coalesce((SELECT x.old_due_at = coalesce(p_old, (SELECT k.due_at FROM clocks k WHERE k.id = p_clock))
                          AND (p_new IS NULL OR x.new_due_at = p_new)
                          AND x.changed_by = qorgau_uid()
                     FROM clock_changes x WHERE x.clock_id = p_clock ORDER BY x.id DESC LIMIT 1), false);
END
$$;

-- May work be given to this user: an active caseworker or supervisor of the owning agency?
CREATE FUNCTION clocks_assignable(p_user bigint, p_agency bigint) RETURNS boolean {HELPER} AS $$
BEGIN
  RETURN EXISTS (SELECT 1 FROM users u JOIN user_roles r ON r.user_id = u.id
                  WHERE u.id = p_user AND u.agency_id = p_agency AND u.disabled_at IS NULL
                    AND r.role IN ('caseworker', 'supervisor'));
END
$$;

-- Has this clock an escalation not yet resolved (what a reassignment acts on)?
CREATE FUNCTION clocks_escalated(p_clock bigint) RETURNS boolean {HELPER} AS $$
BEGIN
  RETURN EXISTS (SELECT 1 FROM escalations e WHERE e.clock_id = p_clock AND e.state <> 'resolved');
END
$$;

-- Is the acting user related to a clock's subject, so that their action may start or stop its
-- clocks? Qorgau's system actor always is.
CREATE FUNCTION clocks_may_touch(p_type text, p_id bigint) RETURNS boolean {HELPER} AS $$
DECLARE
  v_case bigint;
BEGIN
  IF clocks_actor_has('system') THEN
    RETURN true;
  END IF;
  IF p_type = 'referral' THEN
    RETURN qorgau_is_practitioner() AND EXISTS (
      SELECT 1 FROM referrals r WHERE r.id = p_id AND (r.referring_agency_id = qorgau_aid()
          OR EXISTS (SELECT 1 FROM referral_recipients t
                      WHERE t.referral_id = r.id AND t.agency_id = qorgau_aid())));
  ELSIF p_type = 'instruction' THEN
    RETURN EXISTS (SELECT 1 FROM chronology_entries e JOIN cases c ON c.id = e.case_id
                    WHERE e.id = p_id AND e.kind = 'instruction'
                      AND (qorgau_is_oversight_of(c.region_id)
                           OR (qorgau_is_practitioner() AND e.addressed_agency_id = qorgau_aid())));
  ELSIF p_type = 'disagreement' THEN
    RETURN EXISTS (SELECT 1 FROM disagreements d WHERE d.id = p_id
                      AND (qorgau_is_oversight_of(d.region_id)
                           OR (qorgau_is_practitioner()
                               AND qorgau_aid() IN (d.raised_by_agency_id, d.against_agency_id))));
  ELSIF p_type = 'case' THEN
    v_case := p_id;
  ELSIF p_type = 'assessment' THEN
    v_case := (SELECT s.case_id FROM assessments s WHERE s.id = p_id);
  END IF;
  RETURN v_case IS NOT NULL AND qorgau_is_practitioner()
     AND (qorgau_takes_part(v_case, qorgau_aid()) OR qorgau_accepted_into(v_case, NULL));
END
$$;

-- May the acting user start this clock: related to its subject, in their own name, for the owner
-- the subject gives it, about the subject's child and region?
CREATE FUNCTION clocks_may_start(p_type text, p_id bigint, p_agency bigint, p_region bigint,
                                 p_child bigint, p_by bigint) RETURNS boolean {HELPER} AS $$
BEGIN
  IF clocks_actor_has('system') THEN
    RETURN true;
  END IF;
  IF p_by IS DISTINCT FROM qorgau_uid() OR NOT clocks_may_touch(p_type, p_id) THEN
    RETURN false;
  END IF;
  IF p_type = 'referral' THEN
    RETURN EXISTS (SELECT 1 FROM referrals r JOIN referral_recipients t ON t.referral_id = r.id
                    WHERE r.id = p_id AND t.agency_id = p_agency AND r.region_id = p_region)
       AND (p_child IS NULL OR EXISTS (SELECT 1 FROM referral_children rc
                                        WHERE rc.referral_id = p_id AND rc.child_id = p_child));
  ELSIF p_type = 'case' THEN
    RETURN EXISTS (SELECT 1 FROM cases c WHERE c.id = p_id AND c.lead_agency_id = p_agency
                      AND c.region_id = p_region AND c.child_id IS NOT DISTINCT FROM p_child);
  ELSIF p_type = 'assessment' THEN
    RETURN EXISTS (SELECT 1 FROM assessments s JOIN cases c ON c.id = s.case_id
                    WHERE s.id = p_id AND s.agency_id = p_agency AND c.region_id = p_region
                      AND c.child_id IS NOT DISTINCT FROM p_child);
  ELSIF p_type = 'instruction' THEN
    RETURN EXISTS (SELECT 1 FROM chronology_entries e JOIN cases c ON c.id = e.case_id
                    WHERE e.id = p_id AND e.addressed_agency_id = p_agency AND c.region_id = p_region
                      AND c.child_id IS NOT DISTINCT FROM p_child);
  ELSIF p_type = 'disagreement' THEN
    RETURN EXISTS (SELECT 1 FROM disagreements d WHERE d.id = p_id AND d.against_agency_id = p_agency
                      AND d.region_id = p_region AND d.child_id IS NOT DISTINCT FROM p_child);
  END IF;
  RETURN false;
END
$$;

-- May the acting user hand the case's clocks from one agency to the case's lead (the lead's own
-- people move the lead first; the cases trigger of 0009_write_policies sees to that)?
CREATE FUNCTION clocks_may_transfer(p_type text, p_id bigint, p_from bigint, p_to bigint)
RETURNS boolean {HELPER} AS $$
BEGIN
  RETURN clocks_actor_has('system')
      OR (p_type = 'case' AND p_from <> p_to AND qorgau_case_lead(p_id) = p_to
          AND qorgau_is_practitioner() AND qorgau_takes_part(p_id, qorgau_aid()));
END
$$;

-- May the acting practitioner raise a disagreement on this case against this agency, about this
-- child in this region? Their agency and the other take part; the child and region are the case's.
CREATE FUNCTION clocks_may_raise(p_case bigint, p_against bigint, p_child bigint, p_region bigint)
RETURNS boolean {HELPER} AS $$
BEGIN
  RETURN qorgau_is_practitioner() AND p_against <> qorgau_aid()
     AND qorgau_takes_part(p_case, qorgau_aid()) AND qorgau_takes_part(p_case, p_against)
     AND EXISTS (SELECT 1 FROM cases c WHERE c.id = p_case AND c.region_id = p_region
                    AND c.child_id IS NOT DISTINCT FROM p_child);
END
$$;

-- May the acting user act on a disagreement at this stage: a party taking part in the case (a
-- supervisor at stage 2), oversight of the region at stage 3? Mirrors _may_act_at() of
-- services/clocks/disagreements.py.
CREATE FUNCTION clocks_may_act_at(p_disagreement bigint, p_stage integer) RETURNS boolean {HELPER} AS $$
BEGIN
  RETURN EXISTS (
    SELECT 1 FROM disagreements d WHERE d.id = p_disagreement AND CASE
      WHEN p_stage >= 3 THEN qorgau_is_oversight_of(d.region_id)
      ELSE qorgau_aid() IN (d.raised_by_agency_id, d.against_agency_id)
           AND qorgau_takes_part(d.case_id, qorgau_aid())
           AND CASE WHEN p_stage = 2 THEN qorgau_has_role('supervisor') ELSE qorgau_is_practitioner() END
    END);
END
$$;

-- May the acting user record this stage: the stage the open disagreement is at, started when it
-- started, with that stage's running clock and its due time; stage 1 by whoever raised it, a
-- later one by whoever could move the previous one on.
CREATE FUNCTION clocks_may_add_stage(p_disagreement bigint, p_stage integer, p_started timestamptz,
                                     p_clock bigint, p_due timestamptz) RETURNS boolean {HELPER} AS $$
BEGIN
  RETURN EXISTS (
    SELECT 1 FROM disagreements d JOIN clocks k ON k.id = p_clock
     WHERE d.id = p_disagreement AND d.state = 'open' AND d.stage = p_stage
       AND d.stage_started_at = p_started
       AND k.subject_type = 'disagreement' AND k.subject_id = d.id AND k.stopped_at IS NULL
       AND k.kind = 'disagreement_stage_' || p_stage AND k.due_at = p_due
       AND CASE WHEN p_stage = 1 THEN d.raised_by = qorgau_uid()
                ELSE clocks_may_act_at(d.id, CASE WHEN p_stage = 2 THEN 1 ELSE 2 END) END);
END
$$;

-- May the acting system admin give this policy version its rules: the latest version of its
-- region, theirs, without rules yet? Called in the one statement that inserts them all, it sees
-- none of them.
CREATE FUNCTION clocks_policy_open(p_policy bigint) RETURNS boolean {HELPER} AS $$
BEGIN
  RETURN qorgau_has_role('system_admin') AND EXISTS (
    SELECT 1 FROM deadline_policies p
     WHERE p.id = p_policy AND p.region_id IS NOT NULL AND p.created_by = qorgau_uid()
       AND NOT EXISTS (SELECT 1 FROM deadline_policies q WHERE q.region_id = p.region_id
                         AND q.version > p.version)
       AND NOT EXISTS (SELECT 1 FROM deadline_rules r WHERE r.policy_id = p.id));
END
$$;
"""

NEW_FUNCTIONS = ["clocks_on_ladder(bigint, bigint, integer)", "clocks_may_change_due(bigint)",
                 "clocks_change_recorded(bigint, timestamptz, timestamptz)",
                 "clocks_assignable(bigint, bigint)", "clocks_escalated(bigint)",
                 "clocks_may_touch(text, bigint)",
                 "clocks_may_start(text, bigint, bigint, bigint, bigint, bigint)",
                 "clocks_may_transfer(text, bigint, bigint, bigint)",
                 "clocks_may_raise(bigint, bigint, bigint, bigint)",
                 "clocks_may_act_at(bigint, integer)",
                 "clocks_may_add_stage(bigint, integer, timestamptz, bigint, timestamptz)",
                 "clocks_policy_open(bigint)"]

# What the helpers (owned by qorgau_policy, which bypasses row-level security) read.
POLICY_READS = ["clocks", "clock_changes", "escalations", "disagreements", "agency_heads",
                "user_roles", "assessments", "deadline_policies", "deadline_rules"]

REFUSE = "USING ERRCODE = 'insufficient_privilege'"

# What a row keeps for life, whoever acts as the application role (the system actor included):
# a clock's subject, owner, policy, start and stop (clocks_stop_for and clocks_transfer, which run
# as the owner, stop and hand it over), an escalation's clock and owner, a disagreement's case,
# parties and reason, and all of a notification but whether it has been read.
KEEP_COLUMNS = {
    "clocks": ("id", "kind", "subject_type", "subject_id", "child_id", "region_id", "agency_id", "priority",
               "policy_id", "amount", "unit", "started_at", "started_by", "created_at", "stopped_at",
               "stopped_by", "stop_reason"),
    "escalations": ("id", "clock_id", "round", "cause", "clock_kind", "priority", "subject_type", "subject_id",
                    "child_id", "region_id", "agency_id", "raised_at"),
    "disagreements": ("id", "case_id", "child_id", "region_id", "decision_type", "decision_id", "raised_by",
                      "raised_by_agency_id", "against_agency_id", "reason", "opened_at"),
    "notifications": ("id", "outbox_id", "user_id", "kind", "subject_type", "subject_id", "child_id", "refs",
                      "created_at"),
}

TRIGGERS = f"""
CREATE FUNCTION clocks_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_user <> 'qorgau_app' THEN
    RETURN NEW;  -- the SECURITY DEFINER functions, the owner's maintenance, the tests' tampering
  END IF;
  IF clocks_actor_has('system') THEN
    RETURN NEW;  -- the sweep walks the ladder
  END IF;
  IF OLD.stopped_at IS NOT NULL AND NEW IS DISTINCT FROM OLD THEN
    RAISE EXCEPTION 'a stopped clock does not change' {REFUSE};
  END IF;
  IF (NEW.due_at, NEW.reminder_at, NEW.level_2_at, NEW.level_3_at, NEW.unacknowledged_at, NEW.round)
     IS DISTINCT FROM
     (OLD.due_at, OLD.reminder_at, OLD.level_2_at, OLD.level_3_at, OLD.unacknowledged_at, OLD.round) THEN
    IF NOT clocks_may_change_due(OLD.id) THEN
      RAISE EXCEPTION 'only a supervisor or head of the owning agency changes a due time' {REFUSE};
    END IF;
    IF NOT clocks_change_recorded(OLD.id, OLD.due_at, NEW.due_at) THEN
      RAISE EXCEPTION 'a due time changes only after the change is recorded' {REFUSE};
    END IF;
    IF NEW.round <> OLD.round + 1 OR NEW.escalation_level <> 0 OR NEW.escalation_state <> 'none'
       OR NEW.repeats <> 0 OR NOT (NEW.reminder_at <= NEW.due_at AND NEW.due_at <= NEW.level_2_at
                                   AND NEW.level_2_at <= NEW.level_3_at)
       OR (NEW.reminded_at IS NOT NULL AND NEW.reminded_at < NEW.reminder_at)
       OR NEW.assignee_user_id IS DISTINCT FROM OLD.assignee_user_id
       OR NEW.next_action_at IS DISTINCT FROM
          least(CASE WHEN NEW.reminded_at IS NULL THEN NEW.reminder_at END,
                coalesce(NEW.unacknowledged_at, NEW.due_at), NEW.level_2_at, NEW.level_3_at) THEN
      RAISE EXCEPTION 'a new due time starts a new round of the ladder from its beginning' {REFUSE};
    END IF;
    RETURN NEW;
  END IF;
  IF NEW.assignee_user_id IS DISTINCT FROM OLD.assignee_user_id
     AND NOT (clocks_on_ladder(OLD.agency_id, OLD.region_id, OLD.escalation_level)
              AND clocks_escalated(OLD.id) AND NEW.assignee_user_id IS NOT NULL
              AND clocks_assignable(NEW.assignee_user_id, OLD.agency_id)) THEN
    RAISE EXCEPTION 'late work is reassigned, within the owning agency, by its escalation''s ladder'
      {REFUSE};
  END IF;
  IF (NEW.reminded_at, NEW.escalation_level, NEW.escalation_state, NEW.repeats, NEW.next_action_at)
     IS DISTINCT FROM
     (OLD.reminded_at, OLD.escalation_level, OLD.escalation_state, OLD.repeats, OLD.next_action_at)
     AND NOT (NEW.reminded_at IS NOT DISTINCT FROM OLD.reminded_at
              AND NEW.escalation_level = OLD.escalation_level AND NEW.repeats = OLD.repeats
              AND clocks_on_ladder(OLD.agency_id, OLD.region_id, OLD.escalation_level)
              AND ((OLD.escalation_state = 'open' AND NEW.escalation_state = 'acknowledged'
                    AND NEW.next_action_at IS NOT DISTINCT FROM
                        least(CASE WHEN OLD.escalation_level < 2 THEN OLD.level_2_at END,
                              CASE WHEN OLD.escalation_level < 3 THEN OLD.level_3_at END))
                   OR (OLD.escalation_state IN ('open', 'acknowledged')
                       AND NEW.escalation_state = 'resolved' AND NEW.next_action_at IS NULL))) THEN
    RAISE EXCEPTION 'the ladder is walked by Qorgau; its people acknowledge or resolve an escalation'
      {REFUSE};
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER clocks_guard BEFORE UPDATE ON clocks FOR EACH ROW EXECUTE FUNCTION clocks_guard();

CREATE FUNCTION escalations_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_user <> 'qorgau_app' THEN
    RETURN NEW;
  END IF;
  IF clocks_actor_has('system') THEN
    RETURN NEW;  -- the sweep climbs the ladder
  END IF;
  IF NEW IS NOT DISTINCT FROM OLD THEN
    RETURN NEW;
  END IF;
  IF OLD.state = 'resolved' THEN
    RAISE EXCEPTION 'a resolved escalation does not change' {REFUSE};
  END IF;
  IF (NEW.level, NEW.level_changed_at) IS DISTINCT FROM (OLD.level, OLD.level_changed_at) THEN
    RAISE EXCEPTION 'an escalation climbs the ladder only by Qorgau' {REFUSE};
  END IF;
  IF NEW.assignee_user_id IS DISTINCT FROM OLD.assignee_user_id
     AND NOT (clocks_on_ladder(OLD.agency_id, OLD.region_id, OLD.level) AND NEW.assignee_user_id IS NOT NULL
              AND clocks_assignable(NEW.assignee_user_id, OLD.agency_id)) THEN
    RAISE EXCEPTION 'late work is reassigned, within the owning agency, by the escalation''s ladder'
      {REFUSE};
  END IF;
  IF NEW.state = OLD.state THEN
    IF (NEW.acknowledged_at, NEW.acknowledged_by, NEW.acknowledged_level, NEW.resolved_at,
        NEW.resolved_by, NEW.resolution, NEW.resolution_note)
       IS DISTINCT FROM
       (OLD.acknowledged_at, OLD.acknowledged_by, OLD.acknowledged_level, OLD.resolved_at,
        OLD.resolved_by, OLD.resolution, OLD.resolution_note) THEN
      RAISE EXCEPTION 'an acknowledgement or resolution is recorded once, when it happens' {REFUSE};
    END IF;
  ELSIF OLD.state = 'open' AND NEW.state = 'acknowledged' THEN
    IF NOT (clocks_on_ladder(OLD.agency_id, OLD.region_id, OLD.level)
            AND NEW.acknowledged_by = qorgau_uid() AND NEW.acknowledged_level = OLD.level
            AND NEW.acknowledged_at IS NOT NULL
            AND (NEW.resolved_at, NEW.resolved_by, NEW.resolution, NEW.resolution_note)
                IS NOT DISTINCT FROM (OLD.resolved_at, OLD.resolved_by, OLD.resolution, OLD.resolution_note)) THEN
      RAISE EXCEPTION 'an escalation is acknowledged at its level by someone on its ladder, in their own name'
        {REFUSE};
    END IF;
  ELSIF NEW.state = 'resolved' THEN
    IF NOT (NEW.resolved_by = qorgau_uid() AND NEW.resolved_at IS NOT NULL
            AND (NEW.acknowledged_at, NEW.acknowledged_by, NEW.acknowledged_level)
                IS NOT DISTINCT FROM (OLD.acknowledged_at, OLD.acknowledged_by, OLD.acknowledged_level)
            AND ((NEW.resolution = 'resolved' AND length(btrim(coalesce(NEW.resolution_note, ''))) > 0
                  AND clocks_on_ladder(OLD.agency_id, OLD.region_id, OLD.level))
                 OR (NEW.resolution = 'due_changed' AND clocks_may_change_due(OLD.clock_id)
                     AND clocks_change_recorded(OLD.clock_id, NULL, NULL)))) THEN
      RAISE EXCEPTION 'an escalation is resolved with a note by someone on its ladder, in their own name'
        {REFUSE};
    END IF;
  ELSE
    RAISE EXCEPTION 'an escalation is acknowledged or resolved, nothing else' {REFUSE};
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER escalations_guard BEFORE UPDATE ON escalations
  FOR EACH ROW EXECUTE FUNCTION escalations_guard();

CREATE FUNCTION disagreements_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_user <> 'qorgau_app' THEN
    RETURN NEW;
  END IF;
  IF clocks_actor_has('system') OR NEW IS NOT DISTINCT FROM OLD THEN
    RETURN NEW;
  END IF;
  IF OLD.state = 'resolved' THEN
    RAISE EXCEPTION 'a resolved disagreement does not change' {REFUSE};
  END IF;
  IF NEW.stage <> OLD.stage THEN
    IF NOT (NEW.stage = OLD.stage + 1 AND NEW.state = 'open' AND NEW.stage_started_at >= OLD.stage_started_at
            AND (NEW.resolved_at, NEW.resolved_by, NEW.resolution_note) IS NOT DISTINCT FROM
                (OLD.resolved_at, OLD.resolved_by, OLD.resolution_note)
            AND clocks_may_act_at(OLD.id, CASE WHEN OLD.stage = 1 THEN 1 ELSE 2 END)) THEN
      RAISE EXCEPTION 'a disagreement moves on one stage, by a party at its current stage' {REFUSE};
    END IF;
  ELSIF NEW.state = 'resolved' THEN
    IF NOT (NEW.resolved_by = qorgau_uid() AND NEW.resolved_at IS NOT NULL
            AND length(btrim(coalesce(NEW.resolution_note, ''))) > 0
            AND NEW.stage_started_at = OLD.stage_started_at AND clocks_may_act_at(OLD.id, OLD.stage)) THEN
      RAISE EXCEPTION 'a disagreement is resolved with a note, by a party at its current stage' {REFUSE};
    END IF;
  ELSE
    RAISE EXCEPTION 'a disagreement moves on or is resolved, nothing else' {REFUSE};
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER disagreements_guard BEFORE UPDATE ON disagreements
  FOR EACH ROW EXECUTE FUNCTION disagreements_guard();

""" + "\n".join(
    f"CREATE TRIGGER {table}_keep_columns BEFORE UPDATE ON {table} FOR EACH ROW"
    f" EXECUTE FUNCTION qorgau_keep_columns({', '.join(repr(c) for c in cols)});"
    for table, cols in KEEP_COLUMNS.items())

ADMIN = "qorgau_has_role('system_admin')"
SYSTEM = "clocks_actor_has('system')"

# (table, policy, command, USING, WITH CHECK) after this revision, for tables that had policies.
POLICIES = [
    ("clocks", "clocks_change", "UPDATE", "clocks_may_see(agency_id, region_id, assignee_user_id)",
     f"{SYSTEM} OR clocks_on_ladder(agency_id, region_id, escalation_level)"),
    ("clock_changes", "clock_changes_write", "INSERT", None,
     f"{SYSTEM} OR (changed_by = qorgau_uid() AND clocks_may_change_due(clock_id))"),
    ("escalations", "escalations_change", "UPDATE",
     "clocks_may_see(agency_id, region_id, assignee_user_id)",
     f"{SYSTEM} OR clocks_on_ladder(agency_id, region_id, level)"),
    ("disagreements", "disagreements_raise", "INSERT", None,
     """raised_by = qorgau_uid() AND raised_by_agency_id = qorgau_aid()
  AND stage = 1 AND state = 'open' AND stage_started_at = opened_at
  AND resolved_at IS NULL AND resolved_by IS NULL AND resolution_note IS NULL
  AND clocks_may_raise(case_id, against_agency_id, child_id, region_id)"""),
    ("disagreement_stages", "disagreement_stages_write", "INSERT", None,
     f"""{SYSTEM} OR (started_by = qorgau_uid()
  AND clocks_may_add_stage(disagreement_id, stage, started_at, clock_id, due_at))"""),
    ("instruction_responses", "instruction_responses_insert", "INSERT", None,
     """responded_by = qorgau_uid() AND agency_id = qorgau_aid() AND qorgau_is_practitioner()
  AND qorgau_takes_part(case_id, qorgau_aid()) AND responded_at = now()
  AND EXISTS (SELECT 1 FROM chronology_entries i WHERE i.id = instruction_entry_id
                 AND i.case_id = instruction_responses.case_id AND i.kind = 'instruction'
                 AND i.addressed_agency_id = qorgau_aid())
  AND EXISTS (SELECT 1 FROM chronology_entries r WHERE r.id = response_entry_id
                 AND r.case_id = instruction_responses.case_id AND r.kind = 'instruction_response'
                 AND r.author_user_id = qorgau_uid() AND r.created_at = now())"""),
]

# The same policies before this revision (0003_clocks, 0009_clock_lifecycle), for the downgrade.
OLD_POLICIES = {
    "clocks_change": ("clocks_may_see(agency_id, region_id, assignee_user_id)", None),
    "clock_changes_write": (None, "EXISTS (SELECT 1 FROM clocks k WHERE k.id = clock_id)"),
    "escalations_change": ("clocks_may_see(agency_id, region_id, assignee_user_id)", None),
    "disagreements_raise": (None, "raised_by = clocks_actor_id() AND raised_by_agency_id = clocks_actor_agency()"),
    "disagreement_stages_write": (None, "EXISTS (SELECT 1 FROM disagreements d WHERE d.id = disagreement_id)"),
    "instruction_responses_insert": (None, """responded_by = qorgau_uid() AND agency_id = qorgau_aid() AND qorgau_is_practitioner()
  AND EXISTS (SELECT 1 FROM chronology_entries i WHERE i.id = instruction_entry_id
                 AND i.case_id = instruction_responses.case_id AND i.kind = 'instruction'
                 AND i.addressed_agency_id = qorgau_aid())
  AND EXISTS (SELECT 1 FROM chronology_entries r WHERE r.id = response_entry_id
                 AND r.case_id = instruction_responses.case_id AND r.kind = 'instruction_response'
                 AND r.author_user_id = qorgau_uid())"""),
}

TABLE_OF = {name: table for table, name, *_ in POLICIES}

# Configuration tables, under row-level security from this revision: everyone reads them.
CONFIGURATION = f"""
ALTER TABLE region_calendars ENABLE ROW LEVEL SECURITY;
CREATE POLICY region_calendars_read ON region_calendars FOR SELECT USING (true);
CREATE POLICY region_calendars_insert ON region_calendars FOR INSERT
  WITH CHECK ({SYSTEM} OR ({ADMIN} AND updated_by = qorgau_uid()));
CREATE POLICY region_calendars_update ON region_calendars FOR UPDATE USING ({SYSTEM} OR {ADMIN})
  WITH CHECK ({SYSTEM} OR ({ADMIN} AND updated_by = qorgau_uid()));
CREATE POLICY region_calendars_delete ON region_calendars FOR DELETE USING ({SYSTEM} OR {ADMIN});

ALTER TABLE calendar_days ENABLE ROW LEVEL SECURITY;
CREATE POLICY calendar_days_read ON calendar_days FOR SELECT USING (true);
CREATE POLICY calendar_days_insert ON calendar_days FOR INSERT
  WITH CHECK ({SYSTEM} OR ({ADMIN} AND region_id IS NOT NULL AND created_by = qorgau_uid()));
CREATE POLICY calendar_days_update ON calendar_days FOR UPDATE
  USING ({SYSTEM} OR ({ADMIN} AND region_id IS NOT NULL))
  WITH CHECK ({SYSTEM} OR ({ADMIN} AND region_id IS NOT NULL AND created_by = qorgau_uid()));
CREATE POLICY calendar_days_delete ON calendar_days FOR DELETE
  USING ({SYSTEM} OR ({ADMIN} AND region_id IS NOT NULL));

ALTER TABLE deadline_policies ENABLE ROW LEVEL SECURITY;
CREATE POLICY deadline_policies_read ON deadline_policies FOR SELECT USING (true);
CREATE POLICY deadline_policies_insert ON deadline_policies FOR INSERT WITH CHECK (
  {SYSTEM} OR ({ADMIN} AND region_id IS NOT NULL AND created_by = qorgau_uid()
    AND NOT EXISTS (SELECT 1 FROM deadline_policies p WHERE p.region_id = deadline_policies.region_id
                      AND p.version >= deadline_policies.version)));

ALTER TABLE deadline_rules ENABLE ROW LEVEL SECURITY;
CREATE POLICY deadline_rules_read ON deadline_rules FOR SELECT USING (true);
CREATE POLICY deadline_rules_insert ON deadline_rules FOR INSERT
  WITH CHECK ({SYSTEM} OR clocks_policy_open(policy_id));

ALTER TABLE agency_heads ENABLE ROW LEVEL SECURITY;
CREATE POLICY agency_heads_read ON agency_heads FOR SELECT USING (true);
CREATE POLICY agency_heads_insert ON agency_heads FOR INSERT WITH CHECK (
  {SYSTEM} OR (({ADMIN} OR (qorgau_has_role('agency_admin') AND agency_id = qorgau_aid()))
               AND assigned_by = qorgau_uid() AND clocks_assignable(user_id, agency_id)
               AND EXISTS (SELECT 1 FROM user_roles r WHERE r.user_id = agency_heads.user_id
                             AND r.role = 'supervisor')));
CREATE POLICY agency_heads_delete ON agency_heads FOR DELETE USING (
  {SYSTEM} OR {ADMIN} OR (qorgau_has_role('agency_admin') AND agency_id = qorgau_aid()));
"""
CONFIGURATION_TABLES = ["region_calendars", "calendar_days", "deadline_policies", "deadline_rules",
                        "agency_heads"]


def _function_source(migration: str, attribute: str, name: str) -> str:
    """A clock function's CREATE statement as an earlier revision wrote it."""
    spec = importlib.util.spec_from_file_location(f"clocks_{name}", Path(__file__).with_name(migration))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = getattr(module, attribute)
    return re.search(rf"(CREATE (?:OR REPLACE )?FUNCTION {name}\(.*?\n\$\$;)", text, re.S).group(1)


def _replace(source: str) -> str:
    return re.sub(r"^CREATE (OR REPLACE )?FUNCTION", "CREATE OR REPLACE FUNCTION", source)


def _guarded(source: str, after: str, condition: str, what: str) -> str:
    """``source`` with a refusal inserted after the line ``after``."""
    guard = (f"{after}\n  IF NOT ({condition}) THEN\n    RAISE EXCEPTION '{what}' {REFUSE};\n  END IF;")
    assert source.count(after) == 1, after
    return _replace(source).replace(after, guard)


# The SECURITY DEFINER functions of 0003 and 0009_clock_lifecycle: (revision, attribute, name,
# the line after which the guard goes, the guard).
DEFINERS = [
    ("0009_clock_lifecycle.py", "CLOCKS", "clocks_start",
     "  r := jsonb_populate_record(NULL::clocks, c);",
     "clocks_may_start(r.subject_type, r.subject_id, r.agency_id, r.region_id, r.child_id, r.started_by)",
     "the action starting this clock has no part in its subject"),
    ("0003_clocks.py", "FUNCTIONS", "clocks_stop", "BEGIN",
     f"clocks_may_touch(p_subject_type, p_subject_id) AND ({SYSTEM} OR p_by = qorgau_uid())",
     "the action stopping this clock has no part in its subject"),
    ("0009_clock_lifecycle.py", "CLOCKS", "clocks_stop_for", "BEGIN",
     f"clocks_may_touch(p_subject_type, p_subject_id) AND ({SYSTEM} OR p_by = qorgau_uid())",
     "the action stopping this clock has no part in its subject"),
    ("0009_clock_lifecycle.py", "CLOCKS", "clocks_transfer", "BEGIN",
     "clocks_may_transfer(p_subject_type, p_subject_id, p_from, p_to)",
     "only the agencies of a case hand its clocks to its new lead"),
]


def _policy(table: str, name: str, command: str, using: str | None, check: str | None) -> str:
    return (f"DROP POLICY {name} ON {table};\nCREATE POLICY {name} ON {table} FOR {command}"
            + (f"\n  USING ({using})" if using else "")
            + (f"\n  WITH CHECK ({check})" if check else "") + ";")


def upgrade() -> None:
    op.execute(f"GRANT SELECT ON {', '.join(POLICY_READS)} TO qorgau_policy")
    op.execute(HELPERS)
    for fn in NEW_FUNCTIONS:
        op.execute(f"ALTER FUNCTION {fn} OWNER TO qorgau_policy")
        op.execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO qorgau_app, qorgau_owner")
    for migration, attribute, name, after, condition, what in DEFINERS:
        op.execute(_guarded(_function_source(migration, attribute, name), after, condition, what))
    op.execute("\n".join(_policy(*p) for p in POLICIES))
    op.execute(CONFIGURATION)
    op.execute(TRIGGERS)


def downgrade_statements() -> list[str]:
    """The SQL that undoes this revision, in order (tests/access/test_rls_clock_writes.py runs it in
    a transaction it rolls back, to show that the scenarios it checks fail without it)."""
    out = [f"DROP TRIGGER {table}_keep_columns ON {table}" for table in KEEP_COLUMNS]
    for table in ("disagreements", "escalations", "clocks"):
        out += [f"DROP TRIGGER {table}_guard ON {table}", f"DROP FUNCTION {table}_guard()"]
    for table in CONFIGURATION_TABLES:
        out += [f"DROP POLICY {policy} ON {table}"
                for policy in re.findall(rf"CREATE POLICY (\w+) ON {table} ", CONFIGURATION)]
        out.append(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    commands = {name: command for _, name, command, *_ in POLICIES}
    out += [_policy(TABLE_OF[name], name, commands[name], using, check)
            for name, (using, check) in OLD_POLICIES.items()]
    out += [_replace(_function_source(migration, attribute, name))
            for migration, attribute, name, *_ in DEFINERS]
    out += [f"DROP FUNCTION {fn}" for fn in reversed(NEW_FUNCTIONS)]
    out.append(f"REVOKE SELECT ON {', '.join(POLICY_READS)} FROM qorgau_policy")
    return out


def downgrade() -> None:
    for statement in downgrade_statements():
        op.execute(statement)
