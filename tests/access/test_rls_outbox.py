"""PostgreSQL's second line of defence for the outbox and the e-mail deliveries: as the application
role, with a user's identity set by ``services.db.transaction(actor)``, no person can mark a
notification published, delivered or dead, count its attempts, fake an e-mail as sent, read other
people's rows or delete any, so no one can silently suppress a notification; the steps of the
legitimate flows (a person's action enqueues; the relay publishes; the delivery task delivers,
counts failures and dead-letters; the system admin lists the dead letters and tries one again)
pass (migrations/versions/0013_outbox_policies.py). ``clocks_running`` answers only those with a
part in the subject.

The world is authz/model.yaml's (tests/access/test_rls_writes.py), plus outbox rows in each state
(900901 pending and due, 900902 delivered, 900903 dead, 900904 failing twice, 900905 published
and failing three times), e-mail deliveries of 900901 (pending, to sw_lead) and 900902 (sent),
and a running clock of each of the cases c1 and c3. Each scenario runs its statements in order in one transaction
that is rolled back; each is expected to be allowed (it changes or returns at least one row) or
refused (permission denied, or it reaches no row). A statement that fails for any other reason (a
constraint, a typo) fails the test.
"""
from __future__ import annotations

from dataclasses import replace

import psycopg
import pytest
from psycopg.rows import dict_row

from audit import Actor
from services import outbox
from services.db import set_actor
from services.notifications import actions as notification_actions
from services.notifications import delivery
from tests.access.conftest import app_on, copy_database
from tests.access.test_rls_writes import NO, OK, load_migration, outcome, run
from tests.conftest import _drop, db_url

POLICY = "(SELECT id FROM deadline_policies WHERE region_id IS NULL AND version = 1)"

EXTRAS = f"""
INSERT INTO outbox (id, topic, payload, created_at, published_at, publish_count, delivered_at, attempts,
                    next_attempt_at, dead_at, last_error) OVERRIDING SYSTEM VALUE
VALUES (900901, 'referral.received', '{{{{"referral_id": 1}}}}', now() - interval '1 hour', NULL, 0, NULL, 0,
        now() - interval '1 minute', NULL, NULL),
       (900902, 'clock.reminder', '{{{{}}}}', now() - interval '2 hours', now() - interval '2 hours', 1,
        now() - interval '2 hours', 0, now() + interval '8 minutes', NULL, NULL),
       (900903, 'escalation.raised', '{{{{}}}}', now() - interval '2 days', now() - interval '1 day', 8, NULL, 8,
        now() - interval '1 day', now() - interval '1 day', '451 mailbox busy'),
       (900904, 'clock.reminder', '{{{{}}}}', now() - interval '1 hour', now() - interval '30 minutes', 2, NULL, 2,
        now() + interval '10 seconds', NULL, '451 mailbox busy'),
       (900905, 'clock.reminder', '{{{{}}}}', now() - interval '1 hour', now() - interval '30 minutes', 3, NULL, 3,
        now() + interval '20 seconds', NULL, '451 mailbox busy');
INSERT INTO deliveries (id, outbox_id, channel, recipient_user_id, state, attempts, message_id, sent_at)
OVERRIDING SYSTEM VALUE
VALUES (900951, 900901, 'email', {{sw_lead}}, 'pending', 0, NULL, NULL),
       (900952, 900902, 'email', {{sw_lead}}, 'sent', 1, '<qorgau.900902.1@example.kz>', now() - interval '2 hours');
INSERT INTO clocks (id, kind, subject_type, subject_id, child_id, region_id, agency_id, assignee_user_id,
                    priority, policy_id, amount, unit, started_at, reminder_at, due_at, level_2_at, level_3_at,
                    next_action_at)
VALUES (900502, 'whole_assessment', 'case', {{c1}}, {{aliya}}, {{north}}, {{social_n}}, {{sw_lead}}, 'urgent',
        {POLICY}, 1, 'working_days', now() - interval '2 days', now() + interval '1 day', now() + interval '2 days',
        now() + interval '3 days', now() + interval '6 days', now() + interval '1 day'),
       (900503, 'whole_assessment', 'case', {{c3}}, {{farida}}, {{south}}, {{social_s}}, NULL, 'urgent',
        {POLICY}, 1, 'working_days', now() - interval '2 days', now() + interval '1 day', now() + interval '2 days',
        now() + interval '3 days', now() + interval '6 days', now() + interval '1 day');
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
    # Qorgau's own system actor (the relay, the delivery task, the sweep) acts in some scenarios.
    yield app, replace(w, actors={**w.actors, "system": Actor.system("tests")}), ids
    app.extensions["qorgau_db"].close()
    _drop(copy)


# The statements of services/outbox.py and services/notifications/queries.py, as they run.
ENQUEUE = ("WITH added AS (INSERT INTO outbox (topic, payload) VALUES ('referral.received',"
           " '{{\"referral_id\": 900001}}') RETURNING id) SELECT id, pg_notify('qorgau_outbox', id::text) FROM added")
CLAIM_DUE = ("SELECT id, topic, attempts FROM outbox WHERE delivered_at IS NULL AND dead_at IS NULL"
             " AND next_attempt_at <= now() ORDER BY next_attempt_at, id LIMIT 200 FOR UPDATE SKIP LOCKED")
DEAD_LETTERS = ("SELECT id, topic, payload, created_at, attempts, dead_at, last_error FROM outbox"
                " WHERE dead_at IS NOT NULL ORDER BY dead_at DESC LIMIT 200")


def mark_published(row: int) -> str:
    return (f"UPDATE outbox SET published_at = now(), publish_count = publish_count + 1,"
            f" next_attempt_at = now() + interval '10 minutes' WHERE id = ANY(ARRAY[{row}])")


def lock(row: int) -> str:
    return f"SELECT id, topic, payload, attempts, delivered_at, dead_at FROM outbox WHERE id = {row} FOR UPDATE"


def delivered(row: int) -> str:
    return f"UPDATE outbox SET delivered_at = now(), last_error = NULL WHERE id = {row}"


def failed(row: int) -> str:
    return f"UPDATE outbox SET attempts = attempts + 1, last_error = '451 try later' WHERE id = {row} RETURNING attempts"


def dead(row: int) -> str:
    return f"UPDATE outbox SET dead_at = now() WHERE id = {row}"


def requeue(row: int, extra: str = "", due: str = "now()") -> str:
    return (f"UPDATE outbox SET dead_at = NULL, attempts = 0, next_attempt_at = {due}{extra}"
            f" WHERE id = {row} AND dead_at IS NOT NULL")


def enqueue_with(columns: str, values: str) -> str:
    """An outbox row inserted with more than its topic and payload."""
    return f"INSERT INTO outbox (topic, {columns}) VALUES ('clock.reminder', {values})"


def claim(row: int, user: str) -> str:
    return (f"INSERT INTO deliveries (outbox_id, channel, recipient_user_id) VALUES ({row}, 'email', {{{user}}})"
            f" ON CONFLICT (outbox_id, channel, recipient_user_id) DO UPDATE SET attempts = deliveries.attempts"
            f" RETURNING id, state, attempts")


def sent(delivery: int) -> str:
    return (f"UPDATE deliveries SET state = 'sent', sent_at = now(), message_id = '<qorgau.x@example.kz>',"
            f" attempts = attempts + 1 WHERE id = {delivery}")


def running(case: str = "c1") -> str:
    return f"SELECT * FROM clocks_running('case', {{{case}}})"


FORGED_ROWS = [
    (NO, enqueue_with("delivered_at", "now()")),
    (NO, enqueue_with("dead_at, attempts, last_error", "now(), 8, 'x'")),
    (NO, enqueue_with("attempts", "3")),
    (NO, enqueue_with("published_at, publish_count", "now(), 1")),
    (NO, enqueue_with("last_error", "'x'")),
    (NO, enqueue_with("created_at", "now() - interval '1 day'")),
    (NO, enqueue_with("next_attempt_at", "now() + interval '30 days'")),
]
# Every way a person could make a notification look handled, or late, or gone.
SUPPRESSIONS = [
    (NO, delivered(900901)),
    (NO, dead(900901)),
    (NO, mark_published(900901)),
    (NO, failed(900904)),
    (NO, "UPDATE outbox SET attempts = 8 WHERE id = 900904"),
    (NO, "UPDATE outbox SET next_attempt_at = now() + interval '30 days' WHERE id = 900901"),
    (NO, "UPDATE outbox SET payload = '{{}}' WHERE id = 900901"),
    (NO, "DELETE FROM outbox WHERE id = 900901"),
    (NO, "SELECT id FROM outbox WHERE id BETWEEN 900901 AND 900905"),
    (NO, claim(900901, "sw_other")),
    (NO, sent(900951)),
    (NO, "UPDATE deliveries SET state = 'rejected' WHERE id = 900951"),
    (NO, "SELECT id FROM deliveries"),
    (NO, "DELETE FROM deliveries WHERE id = 900951"),
]

SCENARIOS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    # --- people ---------------------------------------------------------------------------------
    "a person's action enqueues a pending row, due now, and reads back its own only": ("sw_lead", [
        *FORGED_ROWS,
        (OK, ENQUEUE),
        (OK, "SELECT id FROM outbox WHERE payload->>'referral_id' = '900001'"),
        (NO, "SELECT id FROM outbox WHERE payload->>'referral_id' = '1'"),
        (NO, DEAD_LETTERS),
    ]),
    "a practitioner suppresses no notification": ("sw_lead", SUPPRESSIONS),
    "a supervisor suppresses no notification": ("social_sup", SUPPRESSIONS),
    "an agency's admin suppresses no notification": ("social_admin", [
        *SUPPRESSIONS,
        (NO, requeue(900903)),
        (NO, DEAD_LETTERS),
    ]),
    "the system admin reads the dead letters and tries one again, nothing more": ("sysadmin", [
        *FORGED_ROWS,
        (OK, DEAD_LETTERS),
        (NO, "SELECT id FROM outbox WHERE id IN (900901, 900902, 900904, 900905)"),
        (NO, "SELECT id FROM deliveries"),
        (NO, delivered(900903)),
        (NO, delivered(900901)),
        (NO, dead(900904)),
        (NO, requeue(900904)),
        (NO, requeue(900902)),
        (NO, requeue(900903, due="now() + interval '30 days'")),
        (NO, requeue(900903, extra=", last_error = NULL")),
        (NO, requeue(900903, extra=", publish_count = 0")),
        (NO, requeue(900903, extra=", topic = 'clock.reminder'")),
        (NO, "UPDATE outbox SET attempts = 0 WHERE id = 900903"),
        (NO, "DELETE FROM outbox WHERE id = 900903"),
        (OK, requeue(900903)),
        (OK, "SELECT id FROM outbox WHERE id = 900903"),
        (NO, requeue(900903)),
        (NO, dead(900903)),
        (NO, sent(900951)),
    ]),
    # --- Qorgau's relay and delivery task -------------------------------------------------------
    "the relay publishes and the delivery task counts, delivers and dead-letters": ("system", [
        (OK, ENQUEUE),
        (OK, CLAIM_DUE),
        (OK, mark_published(900901)),
        (OK, lock(900901)),
        (OK, claim(900901, "sw_other")),
        (OK, claim(900901, "sw_lead")),
        (OK, sent(900951)),
        (OK, "UPDATE deliveries SET state = 'pending', sent_at = NULL, attempts = attempts + 1,"
             " last_error = '451' WHERE id = 900951"),
        (OK, delivered(900901)),
        (OK, failed(900904)),
        (OK, failed(900905)),
        (OK, dead(900905)),
        (OK, DEAD_LETTERS),
        (OK, "SELECT id FROM deliveries WHERE outbox_id = 900901"),
        (OK, claim(900902, "sw_lead")),
    ]),
    "delivered and dead rows never go back, even for Qorgau": ("system", [
        (NO, "UPDATE outbox SET delivered_at = NULL WHERE id = 900902"),
        (NO, delivered(900902)),
        (NO, dead(900902)),
        (NO, failed(900902)),
        (NO, mark_published(900902)),
        (NO, requeue(900903)),
        (NO, delivered(900903)),
        (NO, failed(900903)),
        (NO, "UPDATE outbox SET delivered_at = now(), dead_at = now() WHERE id = 900904"),
        (NO, "UPDATE outbox SET attempts = 0, last_error = NULL WHERE id = 900904"),
        (NO, "UPDATE outbox SET publish_count = 0 WHERE id = 900904"),
        (NO, "UPDATE outbox SET topic = 'escalation.raised' WHERE id = 900901"),
        (NO, "UPDATE outbox SET payload = '{{}}' WHERE id = 900901"),
        (NO, "UPDATE deliveries SET recipient_user_id = {sw_other} WHERE id = 900951"),
        (NO, "UPDATE deliveries SET outbox_id = 900904 WHERE id = 900951"),
        (NO, "INSERT INTO deliveries (outbox_id, channel, recipient_user_id, state, sent_at)"
             " VALUES (900904, 'email', {sw_other}, 'sent', now())"),
        (NO, "DELETE FROM outbox WHERE id = 900902"),
        (NO, "DELETE FROM deliveries WHERE id = 900952"),
        (NO, enqueue_with("delivered_at", "now()")),
    ]),
    # --- clocks_running -------------------------------------------------------------------------
    "only those with a part in a case ask which of its clocks run": ("ngo_cw", [
        (NO, running()),
    ]),
    "an emergency grant does not ask which clocks run": ("duty_cw", [
        (NO, running()),
    ]),
    "oversight and admins do not ask which clocks run": ("oversight_s", [
        (NO, running()),
    ]),
    "the system admin does not ask which clocks run": ("sysadmin", [
        (NO, running()),
    ]),
    "the lead's worker asks which of the case's clocks run": ("sw_lead", [
        (OK, running()),
        (NO, running("c3")),
    ]),
    "the sweep asks about any subject": ("system", [
        (OK, running()),
    ]),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_row_level_security_refuses_what_suppresses_a_notification_and_lets_the_flows_through(site, name):
    user, steps = SCENARIOS[name]
    assert run(site, user, steps) == []


def _kind(sql: str) -> tuple[str, str]:
    words = sql.replace("(", " ").split()
    if words[0] == "WITH":
        return "INSERT", "outbox"
    if words[0] == "SELECT":
        return "SELECT", words[words.index("FROM") + 1]
    return words[0], words[2] if words[0] in ("INSERT", "DELETE") else words[1]


def test_every_kind_of_access_is_tried_both_ways():
    """Each table and command the revision guards has a refused and an allowed statement
    (deletes have no allowed one: nobody deletes)."""
    tried = {}
    for _, steps in SCENARIOS.values():
        for expected, sql in steps:
            tried.setdefault(_kind(sql), set()).add(expected)
    both = {(command, table) for command in ("SELECT", "INSERT", "UPDATE") for table in ("outbox", "deliveries")}
    both.add(("SELECT", "clocks_running"))
    assert {k for k in both if tried.get(k) != {OK, NO}} == set()
    assert tried[("DELETE", "outbox")] == tried[("DELETE", "deliveries")] == {NO}


def _migration():
    return load_migration("0013_outbox_policies.py")


LOOSE = ("a person's action enqueues a pending row, due now, and reads back its own only",
         "a practitioner suppresses no notification",
         "a supervisor suppresses no notification",
         "an agency's admin suppresses no notification",
         "the system admin reads the dead letters and tries one again, nothing more",
         "delivered and dead rows never go back, even for Qorgau",
         "only those with a part in a case ask which of its clocks run",
         "an emergency grant does not ask which clocks run",
         "oversight and admins do not ask which clocks run",
         "the system admin does not ask which clocks run",
         "the lead's worker asks which of the case's clocks run")


def test_the_scenarios_fail_with_the_outbox_under_grants_alone(site):
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
            for name, (user, steps) in SCENARIOS.items():
                with conn.transaction(force_rollback=True):
                    set_actor(conn, w.actors[user])
                    for expected, sql in steps:
                        try:
                            got = outcome(conn, sql.format(**ids))
                        except psycopg.errors.IntegrityError:
                            got = OK  # past row-level security, stopped by a constraint
                        if got != expected:
                            let_through.append(name)
    assert sorted(set(let_through)) == sorted(LOOSE)


def _outbox_row(url: str, row: int) -> dict:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return conn.execute("SELECT attempts, published_at, delivered_at, dead_at, last_error FROM outbox"
                            " WHERE id = %s", (row,)).fetchone()


def test_the_services_run_the_whole_life_of_a_row_as_their_actors(site):
    """services.outbox and the dead-letter actions, unchanged, as the actors that call them: a
    person enqueues, the relay publishes, delivery fails until the row is dead, the system admin
    lists it and tries it again, and it is delivered."""
    app, w, _ = site
    db = app.extensions["qorgau_db"]
    system, admin = w.actors["system"], w.actors["sysadmin"]
    url = app.config["QORGAU_SETTINGS"].database_url
    with app.app_context():
        with db.transaction(w.actors["sw_lead"]) as conn:
            row = outbox.enqueue(conn, "referral.received", referral_id=900002, agency_id=w.agencies["ngo_n"])
        with db.transaction(system) as conn:
            assert row in [r["id"] for r in outbox.claim_due(conn, 1000)]
            outbox.mark_published(conn, [row])
        for attempt in (1, 2):
            with db.transaction(system) as conn:
                assert outbox.lock(conn, row)["attempts"] == attempt - 1
                assert outbox.record_failure(conn, row, "451 try later", max_attempts=2) is (attempt == 2)
        assert _outbox_row(url, row)["dead_at"] is not None
        with db.transaction(admin) as conn:
            assert row in [r["id"] for r in notification_actions.dead_letters(conn, actor=admin)]
            notification_actions.requeue(conn, actor=admin, outbox_id=row)
        again = _outbox_row(url, row)
        assert (again["attempts"], again["dead_at"], again["last_error"]) == (0, None, "451 try later")
        with db.transaction(system) as conn:
            assert row in [r["id"] for r in outbox.claim_due(conn, 1000)]
            outbox.mark_delivered(conn, row)
        assert _outbox_row(url, row)["delivered_at"] is not None


@pytest.mark.parametrize("finished", ["delivered_at", "dead_at"])
def test_a_copy_of_the_delivery_task_finishing_second_changes_nothing(site, monkeypatch, finished):
    """The relay may publish a row twice (killed between publishing and marking; a lease run
    out). When the other copy marks the row delivered or dead while this one sends its e-mails,
    this one leaves the row as it is and says so, instead of counting a failure on (or marking)
    a row that may no longer change."""
    app, w, _ = site
    db = app.extensions["qorgau_db"]
    url = app.config["QORGAU_SETTINGS"].database_url
    with app.app_context(), db.transaction(w.actors["system"]) as conn:
        row = outbox.enqueue(conn, "clock.reminder", user_ids=[w.users["sw_lead"]])

    def other_copy_finishes(*args, **kwargs):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"UPDATE outbox SET {finished} = now() WHERE id = %s", (row,))
        return ["451 try later"]

    monkeypatch.setattr(delivery, "send_emails", other_copy_finishes)
    with app.app_context():
        assert delivery.deliver(db, row, smtp_url=None, mail_from="qorgau@example.kz",
                                base_url="https://qorgau.example.kz") == "done"
    after = _outbox_row(url, row)
    assert (after["attempts"], after["last_error"]) == (0, None)
