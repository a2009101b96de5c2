"""PostgreSQL's second line of defence for writes: as the application role, with a user's identity
set by ``services.db.transaction(actor)``, every insert and update the access policy forbids is
refused by row-level security, and the ones the application makes in its legitimate flows pass
(migrations/versions/0009_write_policies.py).

The world is authz/model.yaml's, plus a referral about aliya received by the NGO (to accept and
link into her open case c1), two assessments on c1, a closure of c1 that sw_lead asked for and
an entry of sw_lead's written yesterday without its body. Each scenario is a list of statements run
in order in one transaction that is rolled back; each statement is expected to be allowed (it
changes at least one row) or refused (RLS raises, or an UPDATE reaches no row). A statement that
fails for any other reason (a constraint, a typo) fails the test.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from services.db import set_actor, transaction
from tests.access.conftest import app_on, copy_database
from tests.conftest import _drop, db_url

OK, NO = "allowed", "refused"

EXTRAS = """
INSERT INTO referrals (id, state, priority, categories, observed_at, observation, referring_agency_id,
                       region_id, created_by, submitted_at) OVERRIDING SYSTEM VALUE
VALUES (900001, 'screening', 'urgent', '{{neglect}}', now() - interval '1 day', 'seen again', {school_n},
        {north}, {teacher}, now());
INSERT INTO referral_children (referral_id, child_id) VALUES (900001, {aliya});
INSERT INTO referral_recipients (referral_id, agency_id, status) VALUES (900001, {ngo_n}, 'pending');
INSERT INTO assessments (id, case_id, kind, agency_id) OVERRIDING SYSTEM VALUE
VALUES (900011, {c1}, 'legal', {social_n}), (900012, {c1}, 'psychological', {health_n});
INSERT INTO approvals (id, kind, agency_id, case_id, requested_by, reason) OVERRIDING SYSTEM VALUE
VALUES (900021, 'closure', {social_n}, {c1}, {sw_lead}, 'done');
INSERT INTO chronology_entries (id, case_id, child_id, kind, visibility, author_user_id, agency_id, occurred_at,
                                created_at) OVERRIDING SYSTEM VALUE
VALUES (900031, {c1}, {aliya}, 'note', 'all_participants', {sw_lead}, {social_n}, now(), now() - interval '1 day');
"""
EXTRA_IDS = {"r_link": 900001, "as_social": 900011, "as_health": 900012, "ap_closure": 900021,
             "old_entry": 900031}


@pytest.fixture(scope="module")
def site(model_template):
    """A copy of the authorization world (plus EXTRAS) and an app on it: (app, ids by name)."""
    name, w = model_template
    copy = copy_database(name)
    url = db_url(copy)
    ids = {**w.regions, **w.agencies, **w.users, **w.children, **w.referrals, **w.cases, **w.entries,
           **w.grants, **EXTRA_IDS}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(EXTRAS.format(**ids))
    app = app_on(url)
    yield app, w, ids
    app.extensions["qorgau_db"].close()
    _drop(copy)


def outcome(conn, sql: str) -> str:
    """Run one statement in a savepoint: allowed if it changed a row, refused if RLS said no."""
    try:
        with conn.transaction():
            return OK if conn.execute(sql).rowcount > 0 else NO
    except psycopg.errors.InsufficientPrivilege:
        return NO


class _Undo(Exception):
    """Raised to roll back a scenario's transaction."""


def run(site, user: str, steps: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """Each (expected, sql) of ``steps`` as ``user``, in one transaction rolled back at the end;
    the steps whose outcome was not the expected one."""
    app, w, ids = site
    wrong = []
    try:
        with app.app_context(), transaction(w.actors[user]) as conn:
            for expected, sql in steps:
                got = outcome(conn, sql.format(**ids))
                if got != expected:
                    wrong.append((expected, got, " ".join(sql.split())))
            raise _Undo
    except _Undo:
        pass
    return wrong


def new_case(child: str, lead: str, case_id: int = 900100, region: str = "north") -> str:
    return (f"INSERT INTO cases (id, child_id, region_id, lead_agency_id, priority)"
            f" VALUES ({case_id}, {{{child}}}, {{{region}}}, {{{lead}}}, 'urgent')")


def note(case: str, child: str, author: str, agency: str, kind: str = "note",
         visibility: str = "all_participants", corrects: str = "NULL", entry_id: int = 900200) -> str:
    return (f"INSERT INTO chronology_entries (id, case_id, child_id, kind, visibility, author_user_id,"
            f" agency_id, occurred_at, corrects_id) VALUES ({entry_id}, {{{case}}}, {{{child}}}, '{kind}',"
            f" '{visibility}', {{{author}}}, {{{agency}}}, now(), {corrects})")


def body(entry_id: int = 900200) -> str:
    return f"INSERT INTO chronology_bodies (entry_id, body) VALUES ({entry_id}, 'said')"


def accept(referral: str, agency: str, user: str) -> str:
    return (f"UPDATE referral_recipients SET status = 'accepted', decided_by = {{{user}}}, decided_at = now()"
            f" WHERE referral_id = {{{referral}}} AND agency_id = {{{agency}}}")


def participant(case: str, agency: str, assigned: str = "NULL") -> str:
    return (f"INSERT INTO case_participants (case_id, agency_id, assigned_user_id)"
            f" VALUES ({case}, {{{agency}}}, {assigned})")


def assessment(case: str, agency: str, referral: str = "NULL", kind: str = "social") -> str:
    return (f"INSERT INTO assessments (case_id, kind, agency_id, referral_id)"
            f" VALUES ({case}, '{kind}', {{{agency}}}, {referral})")


def referral(agency: str, user: str, region: str = "north", state: str = "draft", rid: int = 900300) -> str:
    return (f"INSERT INTO referrals (id, state, priority, categories, observed_at, observation,"
            f" referring_agency_id, region_id, created_by) OVERRIDING SYSTEM VALUE VALUES ({rid}, '{state}',"
            f" 'standard', '{{{{neglect}}}}', now(), 'seen', {{{agency}}}, {{{region}}}, {{{user}}})")


def approval(kind: str, agency: str, user: str, *, case: str = "NULL", referral_: str = "NULL",
             approval_id: int = 900400) -> str:
    return (f"INSERT INTO approvals (id, kind, agency_id, case_id, referral_id, requested_by, reason)"
            f" OVERRIDING SYSTEM VALUE VALUES ({approval_id}, '{kind}', {{{agency}}}, {case}, {referral_},"
            f" {{{user}}}, 'because')")


def grant(user: str, agency: str, child: str, hours: int = 4, region: str = "north") -> str:
    return (f"INSERT INTO access_grants (user_id, agency_id, region_id, child_id, reason, expires_at)"
            f" VALUES ({{{user}}}, {{{agency}}}, {{{region}}}, {{{child}}},"
            f" 'a child was brought in at night by the police', now() + interval '{hours} hours')")


SCENARIOS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    # --- cases ---------------------------------------------------------------------------------
    "a case is not opened without an accepted referral": ("ngo_cw", [
        (NO, new_case("aliya", "ngo_n")),
        (NO, new_case("bekzat", "ngo_n")),
    ]),
    "a case is not opened again for a referral already linked to the child's case": ("sw_other", [
        (NO, new_case("aliya", "social_n")),
    ]),
    "accepting a referral opens the child's case, led by the accepting agency": ("health_cw", [
        (NO, new_case("bekzat", "health_n")),
        (OK, accept("r_submitted", "health_n", "health_cw")),
        (NO, new_case("bekzat", "prosecutor_n")),
        (NO, new_case("bekzat", "social_s")),
        (NO, new_case("bekzat", "health_n", region="south")),
        (OK, new_case("bekzat", "health_n")),
        (NO, "INSERT INTO case_referrals (case_id, referral_id) VALUES (900100, {r_accepted})"),
        (OK, "INSERT INTO case_referrals (case_id, referral_id) VALUES (900100, {r_submitted})"),
        (NO, participant("900100", "health_n", "{sw_lead}")),
        (OK, participant("900100", "health_n", "{health_cw}")),
        (NO, participant("900100", "prosecutor_n")),
        (OK, assessment("900100", "health_n", "{r_submitted}", "psychological")),
        (NO, assessment("900100", "social_n", "{r_submitted}", "legal")),
    ]),
    "the accepting agency may name another lead, which it brings in": ("sw_other", [
        (OK, accept("r_submitted", "social_n", "sw_other")),
        (OK, new_case("bekzat", "police_n")),
        (OK, "INSERT INTO case_referrals (case_id, referral_id) VALUES (900100, {r_submitted})"),
        (OK, participant("900100", "social_n", "{sw_other}")),
        (NO, participant("900100", "health_n")),
        (OK, participant("900100", "police_n")),
    ]),
    "accepting a referral about a child with an open case links it and joins the case": ("ngo_cw", [
        (NO, "INSERT INTO case_referrals (case_id, referral_id) VALUES ({c1}, {r_link})"),
        (NO, participant("{c1}", "ngo_n", "{ngo_cw}")),
        (OK, accept("r_link", "ngo_n", "ngo_cw")),
        (NO, "INSERT INTO case_referrals (case_id, referral_id) VALUES ({c3}, {r_link})"),
        (OK, "INSERT INTO case_referrals (case_id, referral_id) VALUES ({c1}, {r_link})"),
        (NO, participant("{c1}", "ngo_n", "{sw_lead}")),
        (OK, participant("{c1}", "ngo_n", "{ngo_cw}")),
        (OK, assessment("{c1}", "ngo_n", "{r_link}")),
        (NO, assessment("{c1}", "ngo_n")),
        (OK, note("c1", "aliya", "ngo_cw", "ngo_n")),
    ]),
    "only the agencies working a case update it": ("duty_cw", [
        (NO, "UPDATE cases SET version = version + 1 WHERE id = {c1}"),
        (NO, "UPDATE cases SET state = 'assessment' WHERE id = {c1}"),
        (NO, "UPDATE cases SET lead_agency_id = {ngo_n} WHERE id = {c1}"),
    ]),
    "the lead agency's worker updates the case": ("sw_lead", [
        (OK, "UPDATE cases SET state = 'assessment' WHERE id = {c1}"),
        (NO, "UPDATE cases SET state = 'assessment' WHERE id = {c3}"),
    ]),
    "only the lead agency moves a case, and a supervisor closes it": ("health_cw", [
        (NO, "UPDATE cases SET state = 'assessment' WHERE id = {c1}"),
        (NO, "UPDATE cases SET lead_agency_id = {health_n} WHERE id = {c1}"),
        (OK, "UPDATE cases SET version = version + 1 WHERE id = {c1}"),
    ]),
    "a caseworker of the lead does not close the case, nor move it to another child": ("sw_lead", [
        (NO, "UPDATE cases SET state = 'closed', closed_at = now() WHERE id = {c1}"),
        (NO, "UPDATE cases SET child_id = {bekzat} WHERE id = {c1}"),
        (OK, "UPDATE cases SET closure_requested_at = now(), closure_requested_by = {sw_lead} WHERE id = {c1}"),
    ]),
    "the lead's supervisor closes the case and hands the lead over": ("social_sup", [
        (OK, "UPDATE cases SET lead_agency_id = {health_n} WHERE id = {c1}"),
        (OK, "UPDATE cases SET state = 'closed', closed_at = now() WHERE id = {c2}"),
        (NO, "UPDATE case_participants SET agency_id = {ngo_n} WHERE case_id = {c1} AND agency_id = {police_n}"),
        (NO, "UPDATE approvals SET requested_by = {sw_other} WHERE id = {ap_closure}"),
    ]),
    "oversight and other agencies do not update cases": ("oversight_n", [
        (NO, "UPDATE cases SET state = 'closed', closed_at = now() WHERE id = {c1}"),
    ]),
    # --- participants ---------------------------------------------------------------------------
    "an agency does not add itself to a case": ("ngo_cw", [
        (NO, participant("{c1}", "ngo_n")),
        (NO, participant("{c1}", "ngo_n", "{ngo_cw}")),
    ]),
    "a participating agency that is not the lead brings no one in": ("health_cw", [
        (NO, participant("{c1}", "ngo_n")),
    ]),
    "the lead brings agencies of the region in, unassigned, never the prosecutor's office": ("sw_lead", [
        (NO, participant("{c1}", "prosecutor_n")),
        (NO, participant("{c1}", "social_s")),
        (NO, participant("{c1}", "ngo_n", "{ngo_cw}")),
        (OK, participant("{c1}", "ngo_n")),
    ]),
    "an emergency grant brings no one in": ("duty_cw", [
        (NO, participant("{c1}", "ngo_n")),
    ]),
    "a caseworker takes an unassigned case for themselves, and assigns no one else": ("sw_other", [
        (NO, "UPDATE case_participants SET assigned_user_id = {sw_lead} WHERE case_id = {c2} AND agency_id = {social_n}"),
        (NO, "UPDATE case_participants SET assigned_user_id = {police_cw} WHERE case_id = {c2} AND agency_id = {social_n}"),
        (NO, "UPDATE case_participants SET left_at = now() WHERE case_id = {c2} AND agency_id = {social_n}"),
        (OK, "UPDATE case_participants SET assigned_user_id = {sw_other} WHERE case_id = {c2} AND agency_id = {social_n}"),
    ]),
    "a supervisor assigns a worker of their own agency": ("social_sup", [
        (NO, "UPDATE case_participants SET assigned_user_id = {police_cw} WHERE case_id = {c2} AND agency_id = {social_n}"),
        (OK, "UPDATE case_participants SET assigned_user_id = {sw_lead} WHERE case_id = {c2} AND agency_id = {social_n}"),
    ]),
    "only the lead's supervisor withdraws another agency, and assigns none of its workers": ("social_sup", [
        (NO, "UPDATE case_participants SET assigned_user_id = {police_cw} WHERE case_id = {c1} AND agency_id = {police_n}"),
        (OK, "UPDATE case_participants SET left_at = now(), assigned_user_id = NULL"
             " WHERE case_id = {c1} AND agency_id = {health_n}"),
    ]),
    "a caseworker of the lead withdraws no agency": ("sw_lead", [
        (NO, "UPDATE case_participants SET left_at = now(), assigned_user_id = NULL"
             " WHERE case_id = {c1} AND agency_id = {health_n}"),
    ]),
    "a participant does not touch another agency's participation": ("health_cw", [
        (NO, "UPDATE case_participants SET left_at = now() WHERE case_id = {c1} AND agency_id = {police_n}"),
        (NO, "UPDATE case_participants SET assigned_user_id = NULL WHERE case_id = {c1} AND agency_id = {social_n}"),
    ]),
    # --- assessments ----------------------------------------------------------------------------
    "the lead agency assigns assessments to agencies taking part": ("sw_lead", [
        (NO, assessment("{c1}", "ngo_n")),
        (OK, assessment("{c1}", "health_n")),
    ]),
    "nobody else assigns assessments": ("health_cw", [
        (NO, assessment("{c1}", "health_n")),
        (NO, assessment("{c1}", "health_n", "{r_accepted}")),
    ]),
    "only the assessing agency changes its assessment": ("health_cw", [
        (NO, "UPDATE assessments SET state = 'completed', outcome = 'ok' WHERE id = {as_social}"),
        (NO, "UPDATE assessments SET case_id = {c2} WHERE id = {as_health}"),
        (OK, "UPDATE assessments SET state = 'completed', outcome = 'ok' WHERE id = {as_health}"),
    ]),
    "an emergency grant changes no assessment": ("duty_cw", [
        (NO, "UPDATE assessments SET state = 'completed', outcome = 'ok' WHERE id = {as_health}"),
        (NO, assessment("{c1}", "health_n")),
    ]),
    # --- chronology -----------------------------------------------------------------------------
    "an agency that does not take part writes no entry": ("ngo_cw", [
        (NO, note("c1", "aliya", "ngo_cw", "ngo_n")),
    ]),
    "an agency that left writes no entry": ("psych_cw", [
        (NO, note("c1", "aliya", "psych_cw", "psych_n")),
    ]),
    "a live emergency grant writes no entry": ("duty_cw", [
        (NO, note("c1", "aliya", "duty_cw", "ngo_n")),
    ]),
    "a grant does not let a participant write to a colleague's case": ("sw_grant", [
        (NO, note("c1", "aliya", "sw_grant", "social_n")),
    ]),
    "a participant writes entries on the case's child, correcting entries of the case": ("health_cw", [
        (NO, note("c1", "bekzat", "health_cw", "health_n")),
        (NO, note("c1", "aliya", "sw_lead", "social_n")),
        (NO, note("c1", "aliya", "health_cw", "health_n", corrects="{c2_restricted}")),
        (NO, note("c1", "aliya", "health_cw", "health_n", kind="instruction")),
        (OK, note("c1", "aliya", "health_cw", "health_n", corrects="{c1_all}")),
        (OK, body()),
        (NO, "INSERT INTO chronology_bodies (entry_id, body) VALUES ({c1_own_social}, 'x')"),
    ]),
    "a body is written with its entry, not later": ("sw_lead", [
        (NO, body(900031)),
        (OK, note("c1", "aliya", "sw_lead", "social_n")),
        (OK, body()),
    ]),
    "oversight writes instructions for all participants, and nothing else": ("oversight_n", [
        (NO, note("c1", "aliya", "oversight_n", "prosecutor_n")),
        (NO, note("c1", "aliya", "oversight_n", "prosecutor_n", kind="instruction", visibility="restricted")),
        (NO, note("c3", "farida", "oversight_n", "prosecutor_n", kind="instruction")),
        (OK, note("c1", "aliya", "oversight_n", "prosecutor_n", kind="instruction")),
        (OK, body()),
    ]),
    "oversight of another region does not instruct": ("oversight_s", [
        (NO, note("c1", "aliya", "oversight_s", "prosecutor_s", kind="instruction")),
    ]),
    # --- referrals ------------------------------------------------------------------------------
    "a referral is filed as a draft of one's own agency and region": ("teacher", [
        (NO, referral("social_n", "teacher")),
        (NO, referral("school_n", "teacher2")),
        (NO, referral("school_n", "teacher", region="south")),
        (NO, referral("school_n", "teacher", state="submitted")),
        (OK, referral("school_n", "teacher")),
        (NO, "INSERT INTO referral_referrers (referral_id, user_id, full_name) VALUES (900300, {teacher2}, 'X')"),
        (OK, "INSERT INTO referral_referrers (referral_id, user_id, full_name) VALUES (900300, {teacher}, 'T')"),
        (OK, "INSERT INTO referral_children (referral_id, child_id) VALUES (900300, {aliya})"),
        (OK, "INSERT INTO referral_recipients (referral_id, agency_id) VALUES (900300, {social_n})"),
        (NO, "INSERT INTO referral_children (referral_id, child_id) VALUES ({r_submitted}, {erlan})"),
        (NO, "INSERT INTO referral_recipients (referral_id, agency_id) VALUES ({r_submitted}, {ngo_n})"),
        (OK, "UPDATE referrals SET observation = 'seen twice' WHERE id = {r_draft}"),
    ]),
    "a correction follows only one's own referral being screened": ("teacher2", [
        (NO, "INSERT INTO referrals (id, version, previous_version_id, state, priority, categories, observed_at,"
             " observation, referring_agency_id, region_id, created_by) OVERRIDING SYSTEM VALUE VALUES"
             " (900301, 2, {r_submitted}, 'draft', 'standard', '{{neglect}}', now(), 'x', {school_n}, {north}, {teacher2})"),
        (OK, "INSERT INTO referrals (id, version, previous_version_id, state, priority, categories, observed_at,"
             " observation, referring_agency_id, region_id, created_by) OVERRIDING SYSTEM VALUE VALUES"
             " (900301, 2, {r_redirected}, 'draft', 'standard', '{{neglect}}', now(), 'x', {school_n}, {north}, {teacher2})"),
        (NO, "UPDATE referrals SET observation = 'changed' WHERE id = {r_draft}"),
    ]),
    "an emergency grant or a case changes no referral": ("duty_cw", [
        (NO, "UPDATE referrals SET priority = 'low' WHERE id = {r_accepted}"),
    ]),
    "a participant that did not receive the referral changes none of it": ("police_cw", [
        (NO, "UPDATE referrals SET priority = 'low' WHERE id = {r_accepted}"),
        (NO, "UPDATE referral_recipients SET status = 'pending' WHERE referral_id = {r_accepted}"),
    ]),
    "a receiving agency decides only for itself, and a screen-out is a supervisor's": ("health_cw", [
        (NO, "UPDATE referral_recipients SET status = 'accepted' WHERE referral_id = {r_submitted}"
             " AND agency_id = {social_n}"),
        (NO, "UPDATE referral_recipients SET status = 'screened_out', decided_by = {health_cw}"
             " WHERE referral_id = {r_submitted} AND agency_id = {health_n}"),
        (NO, "UPDATE referral_recipients SET status = 'accepted', decided_by = {sw_lead}"
             " WHERE referral_id = {r_submitted} AND agency_id = {health_n}"),
        (NO, "INSERT INTO referral_recipients (referral_id, agency_id, status) VALUES ({r_submitted}, {ngo_n}, 'accepted')"),
        (OK, "INSERT INTO referral_recipients (referral_id, agency_id) VALUES ({r_submitted}, {ngo_n})"),
        (OK, "UPDATE referrals SET priority = 'urgent' WHERE id = {r_submitted}"),
        (OK, accept("r_submitted", "health_n", "health_cw")),
        (NO, "UPDATE referral_recipients SET status = 'pending' WHERE referral_id = {r_submitted} AND agency_id = {health_n}"),
    ]),
    "an agency redirected away changes nothing more": ("health_cw", [
        (NO, "UPDATE referrals SET priority = 'low' WHERE id = {r_redirected}"),
        (NO, "UPDATE referral_recipients SET status = 'pending' WHERE referral_id = {r_redirected}"),
    ]),
    "an agency that was not sent the referral adds no one to it and tells the referrer nothing": ("ngo_cw", [
        (NO, "INSERT INTO referral_recipients (referral_id, agency_id) VALUES ({r_submitted}, {ngo_n})"),
        (NO, "INSERT INTO referrer_updates (referral_id, referring_agency_id, status)"
             " VALUES ({r_submitted}, {school_n}, 'accepted')"),
    ]),
    "a receiving agency tells the referring agency, not another": ("health_cw", [
        (NO, "INSERT INTO referrer_updates (referral_id, referring_agency_id, status)"
             " VALUES ({r_submitted}, {health_n}, 'accepted')"),
        (OK, "INSERT INTO referrer_updates (referral_id, referring_agency_id, status)"
             " VALUES ({r_submitted}, {school_n}, 'accepted')"),
        (NO, "INSERT INTO referral_attachments (referral_id, filename, content_type, size_bytes, sha256, data,"
             " uploaded_by) VALUES ({r_submitted}, 'a.pdf', 'application/pdf', 1, repeat('a', 64), 'x', {health_cw})"),
    ]),
    "the referring agency attaches files while its referral is screened": ("teacher2", [
        (OK, "INSERT INTO referral_attachments (referral_id, filename, content_type, size_bytes, sha256, data,"
             " uploaded_by) VALUES ({r_submitted}, 'a.pdf', 'application/pdf', 1, repeat('a', 64), 'x', {teacher2})"),
        (NO, "INSERT INTO referral_attachments (referral_id, filename, content_type, size_bytes, sha256, data,"
             " uploaded_by) VALUES ({r_submitted}, 'a.pdf', 'application/pdf', 1, repeat('a', 64), 'x', {teacher})"),
    ]),
    "children are recorded by one's own agency": ("teacher", [
        (NO, "INSERT INTO children (last_name, first_name, date_of_birth, region_id, search_key,"
             " created_by_agency_id, created_by) VALUES ('A', 'B', '2015-01-01', {north}, 'a b', {social_n}, {teacher})"),
        (NO, "INSERT INTO children (last_name, first_name, date_of_birth, region_id, search_key,"
             " created_by_agency_id, created_by) VALUES ('A', 'B', '2015-01-01', {north}, 'a b', {school_n}, {teacher2})"),
    ]),
    # --- approvals ------------------------------------------------------------------------------
    "approvals are asked by the agency that may ask": ("health_cw", [
        (NO, approval("closure", "health_n", "health_cw", case="{c1}")),
        (NO, approval("screen_out", "social_n", "health_cw", referral_="{r_submitted}")),
        (NO, approval("screen_out", "health_n", "health_cw", referral_="{r_accepted}")),
        (OK, approval("screen_out", "health_n", "health_cw", referral_="{r_submitted}")),
    ]),
    "the lead asks for closure, the assessing agency for a skip": ("sw_lead", [
        (NO, approval("closure", "social_n", "sw_lead", case="{c3}")),
        (OK, approval("closure", "social_n", "sw_lead", case="{c1}")),
        (NO, "INSERT INTO approvals (kind, agency_id, case_id, assessment_id, requested_by, reason)"
             " VALUES ('skip_assessment', {social_n}, {c1}, {as_health}, {sw_lead}, 'because')"),
        (OK, "INSERT INTO approvals (kind, agency_id, case_id, assessment_id, requested_by, reason)"
             " VALUES ('skip_assessment', {social_n}, {c1}, {as_social}, {sw_lead}, 'because')"),
    ]),
    "a supervisor does not approve their own request": ("social_sup", [
        (OK, approval("closure", "social_n", "social_sup", case="{c1}")),
        (NO, "UPDATE approvals SET state = 'approved', decided_by = {social_sup}, decided_at = now() WHERE id = 900400"),
        (NO, "UPDATE approvals SET state = 'approved', decided_by = {sw_lead}, decided_at = now() WHERE id = {ap_closure}"),
        (OK, "UPDATE approvals SET state = 'approved', decided_by = {social_sup}, decided_at = now() WHERE id = {ap_closure}"),
    ]),
    "a caseworker decides no approval": ("sw_other", [
        (NO, "UPDATE approvals SET state = 'approved', decided_by = {sw_other}, decided_at = now() WHERE id = {ap_closure}"),
    ]),
    # --- emergency grants -----------------------------------------------------------------------
    "a caseworker asks for their own grant, of their region, for four hours at most": ("ngo_cw", [
        (NO, grant("duty_cw", "ngo_n", "aliya")),
        (NO, grant("ngo_cw", "ngo_n", "aliya", hours=10)),
        (NO, grant("ngo_cw", "ngo_n", "farida", region="south")),
        (NO, grant("ngo_cw", "ngo_n", "farida")),
        (OK, grant("ngo_cw", "ngo_n", "aliya")),
    ]),
    "a supervisor asks for no grant": ("ngo_sup", [
        (NO, grant("ngo_sup", "ngo_n", "aliya")),
    ]),
    "a supervisor reviews a grant once and changes nothing else": ("ngo_sup", [
        (NO, "UPDATE access_grants SET expires_at = now() + interval '3 days' WHERE id = {g_live}"),
        (NO, "UPDATE access_grants SET child_id = {bekzat} WHERE id = {g_live}"),
        (NO, "UPDATE access_grants SET reviewed_by = {duty_cw}, reviewed_at = now(), review_outcome = 'justified'"
             " WHERE id = {g_live}"),
        (OK, "UPDATE access_grants SET reviewed_by = {ngo_sup}, reviewed_at = now(), review_outcome = 'justified'"
             " WHERE id = {g_live}"),
        (NO, "UPDATE access_grants SET reviewed_by = {ngo_sup}, reviewed_at = now(), review_outcome = 'unjustified'"
             " WHERE id = {g_live}"),
    ]),
    "the holder does not review or extend their own grant": ("duty_cw", [
        (NO, "UPDATE access_grants SET expires_at = now() + interval '3 days' WHERE id = {g_live}"),
        (NO, "UPDATE access_grants SET reviewed_by = {duty_cw}, reviewed_at = now(), review_outcome = 'justified'"
             " WHERE id = {g_live}"),
    ]),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_row_level_security_refuses_what_the_policy_refuses_and_lets_the_flows_through(site, name):
    user, steps = SCENARIOS[name]
    assert run(site, user, steps) == []


def test_every_kind_of_write_is_tried_both_ways():
    """Each table the policies guard has at least one refused and one allowed statement."""
    tried = {}
    for _, steps in SCENARIOS.values():
        for expected, sql in steps:
            words = sql.split()
            table = words[2] if words[0] == "INSERT" else words[1]
            tried.setdefault((words[0], table), set()).add(expected)
    guarded = {("INSERT", t) for t in ("cases", "case_referrals", "case_participants", "assessments",
                                       "chronology_entries", "chronology_bodies", "referrals", "referral_referrers",
                                       "referral_recipients", "referral_attachments", "referrer_updates",
                                       "approvals", "access_grants")} | \
              {("UPDATE", t) for t in ("cases", "case_participants", "assessments", "referrals",
                                       "referral_recipients", "approvals", "access_grants")}
    assert {k for k in guarded if tried.get(k) != {OK, NO}} == set()


def load_migration(filename: str):
    """A revision's module from migrations/versions, for the tests that replay its downgrade."""
    path = Path(__file__).resolve().parents[2] / "migrations" / "versions" / filename
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _migration():
    return load_migration("0009_write_policies.py")


def test_the_scenarios_fail_under_the_write_policies_of_0004(site):
    """The check can fail: with 0004's write policies put back (in a transaction rolled back), the
    writes this revision refuses go through, and the scenarios above say so."""
    app, w, ids = site
    m = _migration()
    commands = {name: command for _, name, command, *_ in m.POLICIES}
    old = "\n".join(m._policy(m.TABLE_OF[n], n, commands[n], using, check)
                    for n, (using, check) in m.OLD_POLICIES.items())
    url = app.config["QORGAU_SETTINGS"].database_url
    let_through = []
    with psycopg.connect(url, row_factory=dict_row) as conn:
        with conn.transaction(force_rollback=True):
            conn.execute(old)
            conn.execute("SET LOCAL ROLE qorgau_app")
            for name in ("a case is not opened without an accepted referral", "an agency does not add itself to a case",
                         "a live emergency grant writes no entry", "only the agencies working a case update it",
                         "nobody else assigns assessments", "an emergency grant or a case changes no referral"):
                user, steps = SCENARIOS[name]
                set_actor(conn, w.actors[user])
                for expected, sql in steps:
                    try:
                        got = outcome(conn, sql.format(**ids))
                    except psycopg.errors.IntegrityError:
                        got = OK  # past row-level security, stopped by a constraint
                    if got != expected:
                        let_through.append(name)
    assert sorted(set(let_through)) == sorted({
        "a case is not opened without an accepted referral", "an agency does not add itself to a case",
        "a live emergency grant writes no entry", "only the agencies working a case update it",
        "nobody else assigns assessments", "an emergency grant or a case changes no referral"})


# --- idempotency keys --------------------------------------------------------------------------

def _store(conn, user_key: str, key: str) -> str:
    return outcome(conn, "INSERT INTO idempotency_keys (user_key, key, request_sha256, status_code, response)"
                         f" VALUES ('{user_key}', '{key}', 'h', 201, '{{\"child\": \"Aliya\"}}')")


def test_idempotency_keys_belong_to_the_user_whose_request_stored_them(site):
    from audit import Actor
    from services.idempotency import _user_key

    app, w, ids = site
    teacher, other = w.actors["teacher"], w.actors["sw_lead"]
    system_token = Actor(user_id=None, agency_id=ids["school_n"], roles=frozenset({"scope:referrals:write"}),
                         kind="agency_system", region_id=ids["north"])
    with app.app_context():
        with transaction(teacher) as conn:
            assert _store(conn, _user_key(other), "key-of-another") == NO
            assert _store(conn, _user_key(teacher), "key-of-teacher") == OK
        with transaction(system_token) as conn:
            assert _store(conn, _user_key(teacher), "key-of-teacher-2") == NO
            assert _store(conn, _user_key(system_token), "key-of-token") == OK
        with transaction(other) as conn:
            assert conn.execute("SELECT count(*) AS n FROM idempotency_keys").fetchone()["n"] == 0
            assert outcome(conn, "UPDATE idempotency_keys SET response = '{}'") == NO
            assert outcome(conn, "DELETE FROM idempotency_keys") == NO
        with transaction(teacher) as conn:
            rows = conn.execute("SELECT user_key, response FROM idempotency_keys").fetchall()
            assert rows == [{"user_key": _user_key(teacher), "response": {"child": "Aliya"}}]
        with transaction(system_token) as conn:
            assert [r["key"] for r in conn.execute("SELECT key FROM idempotency_keys").fetchall()] == ["key-of-token"]
        with transaction(None) as conn:  # before authentication: nobody, so nothing
            assert conn.execute("SELECT count(*) AS n FROM idempotency_keys").fetchone()["n"] == 0
            assert conn.execute("DELETE FROM idempotency_keys WHERE key LIKE 'key-of-%'").rowcount == 0
        with transaction(Actor.system()) as conn:  # Qorgau's own system actor removes expired keys
            assert conn.execute("DELETE FROM idempotency_keys WHERE key LIKE 'key-of-%'").rowcount == 2


def test_an_agency_system_token_writes_no_referral(site):
    """Agency-system tokens file nothing (yet): there is no person to be the referral's author and
    referrer, and row-level security knows only practitioners as writers."""
    from audit import Actor

    app, w, ids = site
    token = Actor(user_id=None, agency_id=ids["school_n"], region_id=ids["north"], kind="agency_system",
                  roles=frozenset({"scope:referrals:write"}))
    with app.app_context(), transaction(token) as conn:
        assert outcome(conn, "INSERT INTO referrals (state, priority, categories, observed_at, observation,"
                             f" referring_agency_id, region_id, created_by) VALUES ('draft', 'standard',"
                             f" '{{neglect}}', now(), 'seen', {ids['school_n']}, {ids['north']}, {ids['teacher']})") == NO


def test_before_authentication_nobody_reads_or_writes_child_data(site):
    """``transaction()`` without an actor is the work before sign-in (services/db.py): no user, no
    roles, so row-level security shows it nothing a practitioner of the world can see. (It may
    still enqueue a pending outbox row, as any action may: 0013_outbox_policies.)"""
    app, w, ids = site
    tables = ("children", "referrals", "cases", "chronology_entries")
    with app.app_context():
        with transaction(w.actors["teacher"]) as conn:
            seen = {t: conn.execute(f"SELECT count(*) AS n FROM {t}").fetchone()["n"] for t in tables}
        assert seen["children"] > 0 and seen["referrals"] > 0
        with transaction(None) as conn:
            assert conn.execute("SELECT current_setting('qorgau.actor_kind') AS k").fetchone()["k"] == "anonymous"
            for table in tables:
                assert conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"] == 0, table
