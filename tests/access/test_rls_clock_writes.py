"""PostgreSQL's second line of defence for writes on the clocks tables: as the application role,
with a user's identity set by ``services.db.transaction(actor)``, every insert, update, delete and
clock function call the application would refuse is refused by row-level security, its triggers
or the functions themselves, and the ones the application makes in its legitimate flows pass
(migrations/versions/0011_clock_write_policies.py).

The world is authz/model.yaml's (tests/access/test_rls_writes.py), plus: a running clock of c1
assigned to sw_lead, breached and escalated to level 1; one escalated to level 3 (oversight's);
one running unescalated; one stopped; a disagreement raised by health_n against social_n at
stage 1 and one at stage 3; oversight's instruction on c1 addressed to social_n and an answer
entry sw_lead wrote yesterday; a notification of sw_lead's. Each scenario runs its statements in
order in one transaction that is rolled back; each is expected to be allowed (it changes or
returns at least one row) or refused (permission denied, or it reaches no row). A statement that
fails for any other reason (a constraint, a typo) fails the test.
"""
from __future__ import annotations

from dataclasses import replace

import psycopg
import pytest
from psycopg.rows import dict_row

from audit import Actor
from services.db import set_actor
from tests.access.conftest import app_on, copy_database
from tests.access.test_rls_writes import NO, OK, load_migration, outcome, run
from tests.conftest import _drop, db_url

POLICY = "(SELECT id FROM deadline_policies WHERE region_id IS NULL AND version = 1)"
LADDER = "now() - interval '2 days', now() - interval '36 hours', now() - interval '1 day'"

EXTRAS = f"""
INSERT INTO clocks (id, kind, subject_type, subject_id, child_id, region_id, agency_id, assignee_user_id,
                    priority, policy_id, amount, unit, started_at, reminder_at, due_at, level_2_at, level_3_at,
                    reminded_at, escalation_level, escalation_state, next_action_at, stopped_at, stop_reason)
VALUES (900501, 'first_contact', 'case', {{c1}}, {{aliya}}, {{north}}, {{social_n}}, {{sw_lead}}, 'urgent',
        {POLICY}, 1, 'working_days', {LADDER}, now() + interval '1 day', now() + interval '4 days',
        now() - interval '36 hours', 1, 'open', now() + interval '1 day', NULL, NULL),
       (900503, 'strategy_meeting', 'case', {{c1}}, {{aliya}}, {{north}}, {{social_n}}, NULL, 'urgent',
        {POLICY}, 1, 'working_days', {LADDER}, now() - interval '12 hours', now() - interval '1 hour',
        now() - interval '36 hours', 3, 'open', NULL, NULL, NULL),
       (900502, 'whole_assessment', 'case', {{c1}}, {{aliya}}, {{north}}, {{social_n}}, {{sw_lead}}, 'urgent',
        {POLICY}, 1, 'working_days', now() - interval '2 days', now() + interval '1 day', now() + interval '2 days',
        now() + interval '3 days', now() + interval '6 days', NULL, 0, 'none', now() + interval '1 day', NULL, NULL),
       (900504, 'first_contact', 'case', {{c2}}, {{erlan}}, {{north}}, {{social_n}}, {{sw_other}}, 'urgent',
        {POLICY}, 1, 'working_days', {LADDER}, now() + interval '1 day', now() + interval '4 days',
        now() - interval '36 hours', 0, 'none', NULL, now() - interval '1 hour', 'completed');
INSERT INTO escalations (id, clock_id, round, cause, level, clock_kind, priority, subject_type, subject_id, child_id,
                         region_id, agency_id, assignee_user_id, raised_at, level_changed_at)
OVERRIDING SYSTEM VALUE
VALUES (900601, 900501, 1, 'deadline_breached', 1, 'first_contact', 'urgent', 'case', {{c1}}, {{aliya}}, {{north}},
        {{social_n}}, {{sw_lead}}, now() - interval '1 day', now() - interval '1 day'),
       (900603, 900503, 1, 'deadline_breached', 3, 'strategy_meeting', 'urgent', 'case', {{c1}}, {{aliya}},
        {{north}}, {{social_n}}, NULL, now() - interval '2 days', now() - interval '1 hour');
INSERT INTO clocks (id, kind, subject_type, subject_id, child_id, region_id, agency_id, priority, policy_id, amount,
                    unit, started_at, reminder_at, due_at, level_2_at, level_3_at, next_action_at)
VALUES (900505, 'disagreement_stage_1', 'disagreement', 900701, {{aliya}}, {{north}}, {{social_n}}, 'standard',
        {POLICY}, 2, 'working_days', now(), now() + interval '1 day', now() + interval '2 days',
        now() + interval '3 days', now() + interval '6 days', now() + interval '1 day');
INSERT INTO disagreements (id, case_id, child_id, region_id, decision_type, raised_by, raised_by_agency_id,
                           against_agency_id, reason, stage, opened_at, stage_started_at) OVERRIDING SYSTEM VALUE
VALUES (900701, {{c1}}, {{aliya}}, {{north}}, 'case_plan', {{health_cw}}, {{health_n}}, {{social_n}},
        'the plan leaves out the school', 1, now() - interval '1 day', now() - interval '1 day'),
       (900703, {{c1}}, {{aliya}}, {{north}}, 'case_plan', {{health_cw}}, {{health_n}}, {{social_n}},
        'the plan leaves out the school', 3, now() - interval '9 days', now() - interval '1 day');
INSERT INTO disagreement_stages (disagreement_id, stage, started_at, started_by, clock_id, due_at)
VALUES (900701, 1, now() - interval '1 day', {{health_cw}}, 900505, now() + interval '2 days');
INSERT INTO chronology_entries (id, case_id, child_id, kind, visibility, author_user_id, agency_id, occurred_at,
                                addressed_agency_id, created_at) OVERRIDING SYSTEM VALUE
VALUES (900801, {{c1}}, {{aliya}}, 'instruction', 'all_participants', {{oversight_n}}, {{prosecutor_n}}, now(),
        {{social_n}}, now() - interval '2 days'),
       (900802, {{c1}}, {{aliya}}, 'instruction_response', 'all_participants', {{sw_lead}}, {{social_n}}, now(),
        NULL, now() - interval '1 day');
INSERT INTO outbox (id, topic) OVERRIDING SYSTEM VALUE VALUES (900901, 'clock.reminder');
INSERT INTO notifications (id, outbox_id, user_id, kind) OVERRIDING SYSTEM VALUE
VALUES (900901, 900901, {{sw_lead}}, 'clock.reminder');
INSERT INTO agency_heads (agency_id, user_id) VALUES ({{ngo_n}}, {{ngo_sup}});
"""


@pytest.fixture(scope="module")
def site(model_template):
    """A copy of the authorization world (plus EXTRAS) and an app on it: (app, world, ids by name)."""
    name, w = model_template
    copy = copy_database(name)
    url = db_url(copy)
    ids = {**w.regions, **w.agencies, **w.users, **w.children, **w.referrals, **w.cases, **w.entries}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(EXTRAS.format(**ids))
    app = app_on(url)
    # Qorgau's own system actor (the sweep, delivery) acts in some scenarios too.
    yield app, replace(w, actors={**w.actors, "system": Actor.system("tests")}), ids
    app.extensions["qorgau_db"].close()
    _drop(copy)


def start(subject_type: str, subject: str, agency: str, by: str, *, kind: str = "first_review",
          child: str = "NULL", region: str = "north", due: str = "now() + interval '2 days'") -> str:
    """Start a clock through clocks_start(), as services.clocks.actions.start_clock does."""
    return (f"SELECT * FROM clocks_start(jsonb_build_object('kind', '{kind}', 'subject_type', '{subject_type}',"
            f" 'subject_id', {subject}, 'child_id', {child}, 'region_id', {{{region}}}, 'agency_id', {{{agency}}},"
            f" 'priority', 'urgent', 'policy_id', {POLICY}, 'amount', 1, 'unit', 'working_days',"
            f" 'started_at', now(), 'started_by', {by}, 'due_at', {due}, 'reminder_at', {due},"
            f" 'level_2_at', {due}, 'level_3_at', {due}, 'next_action_at', {due}))")


def stop(subject_type: str, subject: str, by: str, kinds: str = "NULL") -> str:
    return (f"SELECT * FROM clocks_stop_for('{subject_type}', {subject}, {kinds}, NULL, now(), {by},"
            f" 'completed')")


def record_change(clock: int, by: str, days: int = 3, reason: str = "'waiting for the police report'") -> str:
    return (f"INSERT INTO clock_changes (clock_id, old_due_at, new_due_at, reason, changed_by)"
            f" SELECT id, due_at, due_at + interval '{days} days', {reason}, {by} FROM clocks WHERE id = {clock}")


def reschedule(clock: int, days: int = 3) -> str:
    """A new due time and a new round of the ladder, as services.clocks.queries.reschedule."""
    d = f"interval '{days} days'"
    return (f"UPDATE clocks SET due_at = due_at + {d}, reminder_at = reminder_at + {d},"
            f" level_2_at = level_2_at + {d}, level_3_at = level_3_at + {d}, unacknowledged_at = NULL,"
            f" round = round + 1, reminded_at = NULL, escalation_level = 0, escalation_state = 'none',"
            f" repeats = 0, next_action_at = reminder_at + {d} WHERE id = {clock}")


def acknowledge(escalation: int, by: str, level: int) -> str:
    return (f"UPDATE escalations SET state = 'acknowledged', acknowledged_at = now(), acknowledged_by = {by},"
            f" acknowledged_level = {level} WHERE id = {escalation}")


def resolve(escalation: int, by: str, note: str = "'the visit took place on Monday'",
            resolution: str = "resolved") -> str:
    return (f"UPDATE escalations SET state = 'resolved', resolved_at = now(), resolved_by = {by},"
            f" resolution = '{resolution}', resolution_note = {note} WHERE id = {escalation}")


def disagreement(by: str, agency: str, against: str, *, case: str = "c1", child: str = "aliya",
                 region: str = "north", stage: int = 1, did: int = 900702) -> str:
    return (f"INSERT INTO disagreements (id, case_id, child_id, region_id, decision_type, raised_by,"
            f" raised_by_agency_id, against_agency_id, reason, stage, opened_at, stage_started_at)"
            f" OVERRIDING SYSTEM VALUE VALUES ({did}, {{{case}}}, {{{child}}}, {{{region}}}, 'case_plan', {{{by}}},"
            f" {{{agency}}}, {{{against}}}, 'no', {stage}, '2026-11-20 10:00+05', '2026-11-20 10:00+05')")


STAGE_DUE = "date_trunc('day', now()) + interval '30 days'"


def stage_clock(did: int, stage: int, by: str, against: str = "social_n") -> str:
    return start("disagreement", str(did), against, by, kind=f"disagreement_stage_{stage}", child="{aliya}",
                 due=STAGE_DUE)


def stage_row(did: int, stage: int, by: str, started: str = "'2026-11-20 10:00+05'", due: str = STAGE_DUE,
              against: str = "social_n") -> str:
    """The stage's row with its clock (clocks_start returns the running one)."""
    return (f"INSERT INTO disagreement_stages (disagreement_id, stage, started_at, started_by, clock_id, due_at)"
            f" SELECT {did}, {stage}, {started}, {by}, s.clock_id, {due}"
            f" FROM ({stage_clock(did, stage, by, against)}) s")


def advance(did: int, to: int, at: str = "now()") -> str:
    return f"UPDATE disagreements SET stage = {to}, stage_started_at = {at} WHERE id = {did}"


def settle(did: int, by: str, note: str = "'agreed at the meeting'") -> str:
    return (f"UPDATE disagreements SET state = 'resolved', resolved_at = now(), resolved_by = {by},"
            f" resolution_note = {note} WHERE id = {did}")


def answer_entry(author: str, agency: str, entry_id: int = 900210) -> str:
    return (f"INSERT INTO chronology_entries (id, case_id, child_id, kind, visibility, author_user_id, agency_id,"
            f" occurred_at) VALUES ({entry_id}, {{c1}}, {{aliya}}, 'instruction_response', 'all_participants',"
            f" {{{author}}}, {{{agency}}}, now())")


def link_answer(entry: int, by: str, agency: str) -> str:
    return (f"INSERT INTO instruction_responses (instruction_entry_id, response_entry_id, case_id, agency_id,"
            f" responded_by) VALUES (900801, {entry}, {{c1}}, {{{agency}}}, {{{by}}})")


def day(region: str, when: str, by: str) -> str:
    return (f"INSERT INTO calendar_days (region_id, day, kind, name, source, created_by)"
            f" VALUES ({region}, '{when}', 'day_off', 'Moved day off', 'Government decree', {by})")


def policy(region: str, version: int, by: str, pid: int = 900950) -> str:
    return (f"INSERT INTO deadline_policies (id, region_id, version, reason, created_by) OVERRIDING SYSTEM VALUE"
            f" VALUES ({pid}, {region}, {version}, 'shorter screening in the north', {by})")


def rules(pid: str) -> str:
    return (f"INSERT INTO deadline_rules (policy_id, clock_kind, priority, amount, unit)"
            f" VALUES ({pid}, 'screening_decision', 'any', 1, 'working_days'), ({pid}, 'first_contact', 'any', 3,"
            f" 'working_days')")


def head(agency: str, user: str, by: str) -> str:
    return (f"INSERT INTO agency_heads (agency_id, user_id, assigned_by)"
            f" VALUES ({{{agency}}}, {{{user}}}, {{{by}}})")


SCENARIOS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    # --- starting, stopping, handing over ------------------------------------------------------
    "clocks are started and stopped only by those with a part in their subject": ("ngo_cw", [
        (NO, start("case", "{c1}", "social_n", "{ngo_cw}", child="{aliya}")),
        (NO, stop("case", "{c1}", "{ngo_cw}")),
        (NO, "SELECT * FROM clocks_stop('case', {c1}, NULL, now(), {ngo_cw}, 'completed')"),
        (NO, start("referral", "{r_submitted}", "ngo_n", "{ngo_cw}")),
        (NO, "SELECT * FROM clocks_transfer('case', {c1}, {social_n}, {ngo_n})"),
    ]),
    "an emergency grant starts and stops no clock": ("duty_cw", [
        (NO, stop("case", "{c1}", "{duty_cw}")),
        (NO, start("case", "{c1}", "social_n", "{duty_cw}", child="{aliya}")),
    ]),
    "the lead's worker starts and stops the case's clocks, in their own name": ("sw_lead", [
        (NO, start("case", "{c1}", "social_n", "{social_sup}", child="{aliya}")),
        (NO, start("case", "{c1}", "health_n", "{sw_lead}", child="{aliya}")),
        (NO, start("case", "{c1}", "social_n", "{sw_lead}", child="{bekzat}")),
        (NO, start("case", "{c1}", "social_n", "{sw_lead}", child="{aliya}", region="south")),
        (OK, start("case", "{c1}", "social_n", "{sw_lead}", child="{aliya}")),
        (NO, stop("case", "{c1}", "{social_sup}", "ARRAY['first_contact']")),
        (OK, stop("case", "{c1}", "{sw_lead}", "ARRAY['first_contact']")),
        (OK, "SELECT * FROM clocks_stop('case', {c1}, 'first_review', now(), {sw_lead}, 'completed')"),
    ]),
    "the referrer starts screening clocks for the receiving agencies only": ("teacher", [
        (NO, start("referral", "{r_submitted}", "ngo_n", "{teacher}", kind="screening_decision")),
        (NO, start("referral", "{r_submitted}", "social_n", "{teacher}", kind="screening_decision",
                   child="{farida}")),
        (OK, start("referral", "{r_submitted}", "social_n", "{teacher}", kind="screening_decision",
                   child="{bekzat}")),
        (OK, stop("referral", "{r_submitted}", "{teacher}")),
    ]),
    "oversight starts an instruction's clock for the agency it addressed": ("oversight_n", [
        (NO, start("instruction", "900801", "health_n", "{oversight_n}", kind="instruction", child="{aliya}")),
        (NO, start("case", "{c1}", "social_n", "{oversight_n}", child="{aliya}")),
        (OK, start("instruction", "900801", "social_n", "{oversight_n}", kind="instruction", child="{aliya}")),
    ]),
    "oversight of another region starts no instruction clock": ("oversight_s", [
        (NO, start("instruction", "900801", "social_n", "{oversight_s}", kind="instruction", child="{aliya}")),
    ]),
    "a case's clocks go to its new lead, once the lead has moved": ("social_sup", [
        (NO, "SELECT * FROM clocks_transfer('case', {c1}, {social_n}, {health_n})"),
        (OK, "UPDATE cases SET lead_agency_id = {health_n} WHERE id = {c1}"),
        (NO, "SELECT * FROM clocks_transfer('case', {c1}, {social_n}, {police_n})"),
        (OK, "SELECT * FROM clocks_transfer('case', {c1}, {social_n}, {health_n})"),
    ]),
    # --- clocks --------------------------------------------------------------------------------
    "the assignee changes nothing of their clock": ("sw_lead", [
        (NO, "UPDATE clocks SET due_at = due_at + interval '3 days' WHERE id = 900501"),
        (NO, record_change(900501, "{sw_lead}")),
        (NO, "UPDATE clocks SET stopped_at = now(), stopped_by = {sw_lead}, stop_reason = 'completed',"
             " next_action_at = NULL WHERE id = 900501"),
        (NO, "UPDATE clocks SET next_action_at = NULL WHERE id = 900501"),
        (NO, "UPDATE clocks SET escalation_state = 'acknowledged', next_action_at = level_2_at WHERE id = 900501"),
        (NO, "UPDATE clocks SET assignee_user_id = {sw_other} WHERE id = 900501"),
        (NO, "UPDATE clocks SET agency_id = {health_n} WHERE id = 900501"),
        (NO, "UPDATE clocks SET escalation_level = 0, escalation_state = 'none' WHERE id = 900501"),
    ]),
    "a supervisor of the owning agency moves a due time once the change is recorded": ("social_sup", [
        (NO, reschedule(900501)),
        (OK, record_change(900501, "{social_sup}")),
        (NO, "UPDATE clocks SET due_at = due_at + interval '3 days', round = round + 1 WHERE id = 900501"),
        (NO, reschedule(900501, days=4)),
        (OK, reschedule(900501)),
        (NO, reschedule(900501)),
        (NO, "UPDATE clocks SET kind = 'review' WHERE id = 900502"),
        (NO, "UPDATE clocks SET stopped_at = NULL, stop_reason = NULL WHERE id = 900504"),
        (NO, record_change(900504, "{social_sup}")),
    ]),
    "a change of due time is recorded in one's own name": ("social_sup", [
        (NO, record_change(900502, "{sw_lead}")),
    ]),
    "oversight changes no due time": ("oversight_n", [
        (NO, record_change(900503, "{oversight_n}")),
        (NO, reschedule(900503)),
    ]),
    "a caseworker of the agency changes no due time of its queue": ("sw_other", [
        (NO, record_change(900503, "{sw_other}")),
        (NO, "UPDATE clocks SET due_at = due_at + interval '3 days' WHERE id = 900503"),
    ]),
    "another agency and an emergency grant change no clock": ("duty_cw", [
        (NO, "UPDATE clocks SET due_at = due_at + interval '3 days' WHERE id = 900501"),
        (NO, "UPDATE escalations SET state = 'resolved', resolved_at = now() WHERE id = 900601"),
    ]),
    # --- escalations -----------------------------------------------------------------------------
    "the ladder acknowledges and resolves an escalation once, in their own name": ("social_sup", [
        (NO, acknowledge(900601, "{sw_lead}", 1)),
        (NO, acknowledge(900601, "{social_sup}", 2)),
        (NO, "UPDATE escalations SET level = 3, level_changed_at = now() WHERE id = 900601"),
        (NO, "UPDATE escalations SET agency_id = {health_n} WHERE id = 900601"),
        (NO, "INSERT INTO escalations (clock_id, round, cause, level, clock_kind, priority, subject_type,"
             " subject_id, region_id, agency_id, raised_at, level_changed_at) SELECT id, 2, 'deadline_breached', 1,"
             " kind, priority, subject_type, subject_id, region_id, agency_id, now(), now() FROM clocks"
             " WHERE id = 900502"),
        (OK, acknowledge(900601, "{social_sup}", 1)),
        (NO, "UPDATE clocks SET escalation_state = 'acknowledged', next_action_at = NULL WHERE id = 900501"),
        (OK, "UPDATE clocks SET escalation_state = 'acknowledged', next_action_at = level_2_at WHERE id = 900501"),
        (NO, resolve(900601, "{social_sup}", note="NULL")),
        (NO, resolve(900601, "{social_sup}", note="' '")),
        (NO, resolve(900601, "{sw_lead}")),
        (NO, resolve(900601, "{social_sup}", resolution="clock_stopped")),
        (NO, resolve(900601, "{social_sup}", resolution="due_changed", note="NULL")),
        (OK, resolve(900601, "{social_sup}")),
        (NO, resolve(900601, "{social_sup}", note="'a second resolution'")),
        (NO, "UPDATE clocks SET escalation_state = 'resolved', next_action_at = now() WHERE id = 900501"),
        (OK, "UPDATE clocks SET escalation_state = 'resolved', next_action_at = NULL WHERE id = 900501"),
    ]),
    "a due time changed resolves the escalation of its round": ("social_sup", [
        (OK, record_change(900501, "{social_sup}")),
        (OK, resolve(900601, "{social_sup}", resolution="due_changed", note="NULL")),
        (OK, reschedule(900501)),
    ]),
    "the assignee is not on their own ladder": ("sw_lead", [
        (NO, acknowledge(900601, "{sw_lead}", 1)),
        (NO, resolve(900601, "{sw_lead}")),
        (NO, "UPDATE escalations SET assignee_user_id = {sw_other} WHERE id = 900601"),
    ]),
    "oversight acts on an escalation from level 3": ("oversight_n", [
        (NO, acknowledge(900601, "{oversight_n}", 1)),
        (NO, resolve(900601, "{oversight_n}")),
        (OK, acknowledge(900603, "{oversight_n}", 3)),
        (NO, "UPDATE clocks SET assignee_user_id = {ngo_cw} WHERE id = 900503"),
        (OK, "UPDATE clocks SET assignee_user_id = {sw_other} WHERE id = 900503"),
        (OK, resolve(900603, "{oversight_n}")),
    ]),
    "late work is reassigned within the owning agency, while it is escalated": ("social_sup", [
        (NO, "UPDATE clocks SET assignee_user_id = {police_cw} WHERE id = 900501"),
        (NO, "UPDATE clocks SET assignee_user_id = {social_admin} WHERE id = 900501"),
        (NO, "UPDATE clocks SET assignee_user_id = {sw_other} WHERE id = 900502"),
        (OK, "UPDATE clocks SET assignee_user_id = {sw_other} WHERE id = 900501"),
        (NO, "UPDATE escalations SET assignee_user_id = {health_cw} WHERE id = 900601"),
        (OK, "UPDATE escalations SET assignee_user_id = {sw_other} WHERE id = 900601"),
    ]),
    "the sweep walks the ladder, and it too keeps a clock's subject and owner": ("system", [
        (OK, "UPDATE clocks SET escalation_level = 2, next_action_at = level_3_at WHERE id = 900501"),
        (OK, "UPDATE escalations SET level = 2, level_changed_at = now(), state = 'open' WHERE id = 900601"),
        (OK, "INSERT INTO clock_steps (clock_id, round, step, scheduled_at, done_at, escalation_id)"
             " VALUES (900501, 1, 'level_2', now(), now(), 900601)"),
        (NO, "UPDATE clocks SET agency_id = {health_n} WHERE id = 900501"),
        (NO, "UPDATE escalations SET clock_id = 900502 WHERE id = 900601"),
    ]),
    "people take no ladder step themselves": ("social_sup", [
        (NO, "INSERT INTO clock_steps (clock_id, round, step, scheduled_at, done_at, escalation_id)"
             " VALUES (900501, 1, 'level_2', now(), now(), 900601)"),
    ]),
    # --- disagreements ---------------------------------------------------------------------------
    "a disagreement is raised by a participant against another, about the case's own child": ("police_cw", [
        (NO, disagreement("police_cw", "police_n", "ngo_n")),
        (NO, disagreement("police_cw", "police_n", "police_n")),
        (NO, disagreement("police_cw", "police_n", "psych_n")),
        (NO, disagreement("police_cw", "police_n", "social_s", case="c3", child="farida")),
        (NO, disagreement("police_cw", "police_n", "social_n", child="bekzat")),
        (NO, disagreement("police_cw", "police_n", "social_n", region="south")),
        (NO, disagreement("police_cw", "police_n", "social_n", stage=2)),
        (NO, disagreement("sw_lead", "police_n", "social_n")),
        (NO, disagreement("police_cw", "health_n", "social_n")),
        (OK, disagreement("police_cw", "police_n", "social_n")),
        (OK, stage_clock(900702, 1, "{police_cw}")),
        (NO, stage_row(900702, 1, "{police_cw}", due="date_trunc('day', now()) + interval '31 days'")),
        (NO, stage_row(900702, 1, "{police_cw}", started="now()")),
        (NO, stage_row(900702, 1, "{sw_lead}")),
        (OK, stage_row(900702, 1, "{police_cw}")),
    ]),
    "a caseworker of an agency taking part raises one on a colleague's case": ("sw_other", [
        (OK, disagreement("sw_other", "social_n", "health_n")),
    ]),
    "nobody outside the case raises a disagreement on it": ("ngo_cw", [
        (NO, disagreement("ngo_cw", "ngo_n", "social_n")),
    ]),
    "an agency that left the case raises nothing": ("psych_cw", [
        (NO, disagreement("psych_cw", "psych_n", "social_n")),
    ]),
    "an emergency grant raises no disagreement": ("duty_cw", [
        (NO, disagreement("duty_cw", "ngo_n", "social_n")),
    ]),
    "oversight raises no disagreement and adds no stage": ("oversight_n", [
        (NO, disagreement("oversight_n", "prosecutor_n", "social_n")),
        (NO, stage_row(900701, 2, "{oversight_n}")),
    ]),
    "a party moves a disagreement on one stage at a time and records the stage": ("sw_lead", [
        (NO, advance(900701, 3)),
        (NO, "UPDATE disagreements SET against_agency_id = {police_n} WHERE id = 900701"),
        (NO, "UPDATE disagreements SET reason = 'something else' WHERE id = 900701"),
        (NO, settle(900701, "{sw_lead}", note="NULL")),
        (NO, settle(900701, "{social_sup}")),
        (NO, stage_row(900701, 2, "{sw_lead}", started="now()")),
        (OK, advance(900701, 2)),
        (NO, stage_row(900701, 3, "{sw_lead}", started="now()")),
        (OK, stage_clock(900701, 2, "{sw_lead}")),
        (NO, stage_row(900701, 2, "{sw_lead}", started="now() - interval '1 hour'")),
        (OK, stage_row(900701, 2, "{sw_lead}", started="now()")),
        (NO, advance(900701, 3)),
        (NO, settle(900701, "{sw_lead}")),
    ]),
    "supervisors of the parties take stage 2 further, oversight settles stage 3": ("social_sup", [
        (OK, advance(900701, 2)),
        (OK, advance(900701, 3)),
        (NO, settle(900701, "{social_sup}")),
    ]),
    "a party settles a disagreement at stage 1 with a note, once": ("health_cw", [
        (OK, settle(900701, "{health_cw}")),
        (NO, "UPDATE disagreements SET resolution_note = 'changed later' WHERE id = 900701"),
        (NO, advance(900701, 2)),
    ]),
    "oversight settles only at stage 3": ("oversight_n", [
        (NO, advance(900701, 2)),
        (NO, settle(900701, "{oversight_n}")),
        (OK, settle(900703, "{oversight_n}")),
        (NO, settle(900703, "{oversight_n}", note="'settled twice'")),
    ]),
    "oversight of another region settles nothing": ("oversight_s", [
        (NO, settle(900703, "{oversight_s}")),
    ]),
    "another agency moves no disagreement": ("ngo_sup", [
        (NO, advance(900701, 2)),
        (NO, settle(900701, "{ngo_sup}")),
    ]),
    # --- instruction responses -----------------------------------------------------------------
    "the addressed agency answers an instruction with an entry of this transaction": ("sw_lead", [
        (NO, link_answer(900802, "sw_lead", "social_n")),
        (OK, answer_entry("sw_lead", "social_n")),
        (NO, link_answer(900210, "social_sup", "social_n")),
        (NO, link_answer(900210, "sw_lead", "health_n")),
        (OK, link_answer(900210, "sw_lead", "social_n")),
    ]),
    "another agency does not answer an instruction addressed to the lead": ("health_cw", [
        (OK, answer_entry("health_cw", "health_n")),
        (NO, link_answer(900210, "health_cw", "health_n")),
    ]),
    # --- notifications -------------------------------------------------------------------------
    "a person marks their own notification read and changes nothing else": ("sw_lead", [
        (NO, "UPDATE notifications SET kind = 'escalation.raised' WHERE id = 900901"),
        (NO, "UPDATE notifications SET user_id = {sw_other} WHERE id = 900901"),
        (NO, "INSERT INTO notifications (outbox_id, user_id, kind) VALUES (900901, {sw_other}, 'x')"),
        (OK, "UPDATE notifications SET read_at = now() WHERE id = 900901"),
    ]),
    "nobody marks another's notification": ("sw_other", [
        (NO, "UPDATE notifications SET read_at = now() WHERE id = 900901"),
    ]),
    # --- calendars, deadline policies, agency heads ----------------------------------------------
    "the system admin edits a region's calendar and policy, in their own name": ("sysadmin", [
        (NO, day("NULL", "2026-12-30", "{sysadmin}")),
        (NO, day("{north}", "2026-12-31", "{sw_lead}")),
        (OK, day("{north}", "2026-12-31", "{sysadmin}")),
        (OK, "UPDATE calendar_days SET name = 'Moved', created_by = {sysadmin} WHERE region_id = {north}"
             " AND day = '2026-12-31'"),
        (NO, "UPDATE calendar_days SET created_by = {sw_lead} WHERE region_id = {north} AND day = '2026-12-31'"),
        (NO, "UPDATE calendar_days SET name = 'Not a holiday' WHERE region_id IS NULL AND day = '2026-01-01'"),
        (NO, "DELETE FROM calendar_days WHERE region_id IS NULL AND day = '2026-01-01'"),
        (OK, "DELETE FROM calendar_days WHERE region_id = {north} AND day = '2026-12-31'"),
        (NO, "INSERT INTO region_calendars (region_id, day_start, day_end, updated_by)"
             " VALUES ({north}, '08:00', '17:00', {sw_lead})"),
        (OK, "INSERT INTO region_calendars (region_id, day_start, day_end, updated_by)"
             " VALUES ({north}, '08:00', '17:00', {sysadmin})"),
        (OK, "UPDATE region_calendars SET day_end = '18:00', updated_by = {sysadmin} WHERE region_id = {north}"),
        (NO, policy("NULL", 2, "{sysadmin}")),
        (NO, policy("{north}", 1, "{sw_lead}")),
        (NO, rules(POLICY)),
        (OK, policy("{north}", 1, "{sysadmin}")),
        (OK, rules("900950")),
        (NO, "INSERT INTO deadline_rules (policy_id, clock_kind, priority, amount, unit)"
             " VALUES (900950, 'assessment', 'any', 100, 'working_days')"),
        (NO, "UPDATE deadline_rules SET amount = 100 WHERE policy_id = 900950"),
        (OK, head("social_n", "social_sup", "sysadmin")),
    ]),
    "a practitioner edits no calendar, policy or heads": ("sw_lead", [
        (NO, day("{north}", "2026-12-31", "{sw_lead}")),
        (NO, "UPDATE calendar_days SET name = 'Not a holiday' WHERE day = '2026-01-01'"),
        (NO, "DELETE FROM calendar_days WHERE day = '2026-01-01'"),
        (NO, "INSERT INTO region_calendars (region_id, day_start, day_end, updated_by)"
             " VALUES ({north}, '00:00', '23:59', {sw_lead})"),
        (NO, policy("{north}", 1, "{sw_lead}")),
        (NO, rules(POLICY)),
        (NO, head("social_n", "social_sup", "sw_lead")),
    ]),
    "a supervisor does not make themselves a head": ("social_sup", [
        (NO, head("social_n", "social_sup", "social_sup")),
    ]),
    "an agency's admin names heads among its own supervisors": ("social_admin", [
        (NO, head("social_n", "sw_lead", "social_admin")),
        (NO, head("ngo_n", "ngo_sup", "social_admin")),
        (NO, head("social_n", "social_sup", "sysadmin")),
        (NO, day("{north}", "2026-12-31", "{social_admin}")),
        (OK, head("social_n", "social_sup", "social_admin")),
        (OK, "DELETE FROM agency_heads WHERE agency_id = {social_n}"),
    ]),
    "a head removes no heads": ("ngo_sup", [
        (NO, "DELETE FROM agency_heads"),
    ]),
    "a caseworker removes no heads": ("ngo_cw", [
        (NO, "DELETE FROM agency_heads WHERE agency_id = {ngo_n}"),
    ]),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_row_level_security_refuses_what_the_clocks_refuse_and_lets_the_flows_through(site, name):
    user, steps = SCENARIOS[name]
    assert run(site, user, steps) == []


def _kind(sql: str) -> tuple[str, str]:
    words = sql.replace("(", " ").split()
    if words[0] == "SELECT":
        return "CALL", words[words.index("FROM") + 1]
    return words[0], words[2] if words[0] in ("INSERT", "DELETE") else words[1]


def test_every_kind_of_write_is_tried_both_ways():
    """Each table and clock function the revision guards has a refused and an allowed statement."""
    tried = {}
    for _, steps in SCENARIOS.values():
        for expected, sql in steps:
            tried.setdefault(_kind(sql), set()).add(expected)
    guarded = {("INSERT", t) for t in ("clock_changes", "disagreements", "disagreement_stages",
                                       "instruction_responses", "calendar_days", "region_calendars",
                                       "deadline_policies", "deadline_rules", "agency_heads", "clock_steps")} | \
              {("UPDATE", t) for t in ("clocks", "escalations", "disagreements", "notifications", "calendar_days")} | \
              {("DELETE", t) for t in ("calendar_days", "agency_heads")} | \
              {("CALL", f) for f in ("clocks_start", "clocks_stop", "clocks_stop_for", "clocks_transfer")}
    assert {k for k in guarded if tried.get(k) != {OK, NO}} == set()


def _migration():
    return load_migration("0011_clock_write_policies.py")


LOOSE = ("clocks are started and stopped only by those with a part in their subject",
         "the assignee changes nothing of their clock",
         "the ladder acknowledges and resolves an escalation once, in their own name",
         "oversight acts on an escalation from level 3",
         "a disagreement is raised by a participant against another, about the case's own child",
         "nobody outside the case raises a disagreement on it",
         "a party moves a disagreement on one stage at a time and records the stage",
         "a person marks their own notification read and changes nothing else",
         "a practitioner edits no calendar, policy or heads")


def test_the_scenarios_fail_under_the_clock_policies_of_0003(site):
    """The check can fail: with the revision undone (in a transaction rolled back) the writes it
    refuses go through, and the scenarios above say so."""
    app, w, ids = site
    statements = _migration().downgrade_statements()
    url = app.config["QORGAU_SETTINGS"].database_url
    let_through = []
    with psycopg.connect(url, row_factory=dict_row) as conn:
        with conn.transaction(force_rollback=True):
            for sql in statements:
                conn.execute(sql)
            conn.execute("SET LOCAL ROLE qorgau_app")
            for name in LOOSE:
                user, steps = SCENARIOS[name]
                set_actor(conn, w.actors[user])
                for expected, sql in steps:
                    try:
                        got = outcome(conn, sql.format(**ids))
                    except psycopg.errors.IntegrityError:
                        got = OK  # past row-level security, stopped by a constraint
                    if got != expected:
                        let_through.append(name)
    assert sorted(set(let_through)) == sorted(LOOSE)
