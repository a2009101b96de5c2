"""Tampering as a superuser with the triggers off is found, and the first bad event is named.

Each test gets its own database holding three writers' events, two signed checkpoints over most
of them, and a few events recorded after the last checkpoint.
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from audit.canonical import HASH_SQL
from audit.verify import verify
from tests.audit.conftest import (admin_connection, app_connection, recompute_from, record_views,
                                  tamper, write_checkpoint)


@dataclass
class Log:
    url: str
    public_key: object
    chain: int  # a chain with at least six events under checkpoint 1

    def events(self) -> list[dict]:
        with admin_connection(self.url) as conn:
            return conn.execute("SELECT * FROM audit.events WHERE chain = %s ORDER BY seq",
                                (self.chain,)).fetchall()

    def verify(self):
        return verify(self.url, public_key=self.public_key, workers=1)


@pytest.fixture
def log(fresh_db_url, private_key) -> Log:
    with app_connection(fresh_db_url) as a, app_connection(fresh_db_url) as b, \
            app_connection(fresh_db_url) as c:
        for conn in (a, b, c):
            record_views(conn, 6)
        write_checkpoint(a, private_key)
        for conn in (a, b, c):
            record_views(conn, 3, per_transaction=3)
        write_checkpoint(a, private_key)
        record_views(b, 2)
    with admin_connection(fresh_db_url) as conn:
        chain = conn.execute("SELECT chain FROM audit.events GROUP BY chain"
                             " ORDER BY count(*) DESC, chain LIMIT 1").fetchone()["chain"]
    log = Log(fresh_db_url, private_key.public_key(), chain)
    assert log.verify().ok
    return log


def drop_place_index(url: str, event_id: int) -> None:
    """Drop the unique (chain, seq) index of the event's partition, which would refuse a forger's
    duplicate place even with the triggers off."""
    with admin_connection(url) as conn:
        partition = conn.execute("SELECT tableoid::regclass::text AS p FROM audit.events"
                                 " WHERE id = %s", (event_id,)).fetchone()["p"]
    tamper(url, f"DROP INDEX {partition}_chain_seq")


def test_a_changed_field_is_named(log):
    victim = log.events()[2]
    tamper(log.url, "UPDATE audit.events SET outcome = 'denied' WHERE id = %s", (victim["id"],))
    report = log.verify()
    assert report.first_bad_event.event_id == victim["id"]
    assert report.first_bad_event.kind == "altered_event"


def test_a_deleted_event_is_named_by_the_one_after_the_gap(log):
    events = log.events()
    tamper(log.url, "DELETE FROM audit.events WHERE id = %s", (events[2]["id"],))
    report = log.verify()
    assert report.first_bad_event.event_id == events[3]["id"]
    assert report.first_bad_event.kind == "missing_events"
    assert f"expected seq {events[2]['seq']}" in report.first_bad_event.message


def test_an_event_inserted_in_the_middle_is_named(log):
    events = log.events()
    forged_id = 10_000
    drop_place_index(log.url, events[2]["id"])
    tamper(log.url, "INSERT INTO audit.events SELECT (jsonb_populate_record(NULL::audit.events,"
                    " to_jsonb(e) || jsonb_build_object('id', %s, 'purpose', 'forged'))).*"
                    " FROM audit.events e WHERE id = %s", (forged_id, events[2]["id"]))
    tamper(log.url, f"UPDATE audit.events SET hash = {HASH_SQL} WHERE id = %s", (forged_id,))
    report = log.verify()
    assert report.first_bad_event.event_id == forged_id
    assert report.first_bad_event.kind == "duplicate_or_reordered"


def test_two_reordered_events_are_named(log):
    events = log.events()
    first, second = events[2], events[3]
    drop_place_index(log.url, first["id"])
    tamper(log.url, "UPDATE audit.events SET seq = CASE id WHEN %s THEN %s ELSE %s END"
                    " WHERE id IN (%s, %s)",
           (first["id"], second["seq"], first["seq"], first["id"], second["id"]))
    report = log.verify()
    named = {p.event_id for p in report.problems}
    assert {first["id"], second["id"]} <= named
    assert report.first_bad_event.event_id == min(first["id"], second["id"])


def test_a_rewritten_suffix_is_caught_only_by_the_signed_checkpoint(log):
    events = log.events()
    tamper(log.url, "UPDATE audit.events SET outcome = 'denied' WHERE id = %s", (events[2]["id"],))
    recompute_from(log.url, log.chain, events[2]["seq"])
    report = log.verify()
    kinds = {p.kind for p in report.problems}
    assert kinds == {"rewritten_after_checkpoint", "root_mismatch"}  # every chain link holds
    rewritten = next(p for p in report.problems if p.kind == "rewritten_after_checkpoint")
    assert (rewritten.chain, rewritten.checkpoint_id) == (log.chain, 1)
    assert rewritten.event_id == events[0]["id"]  # the first event checkpoint 1 no longer vouches for
    assert report.first_bad_event is rewritten


def test_a_cut_off_chain_end_is_caught_by_the_checkpoint(log):
    events = log.events()  # the chain's events after checkpoint 2 go too
    covered = [e for e in events if e["seq"] <= 6]
    tamper(log.url, "DELETE FROM audit.events WHERE chain = %s AND seq >= %s",
           (log.chain, covered[-1]["seq"]))
    report = log.verify()
    assert "rewritten_after_checkpoint" in {p.kind for p in report.problems}
    assert any("holds 5 of its 6 events" in p.message for p in report.problems)


def test_an_edited_checkpoint_row_is_caught(log):
    tamper(log.url, "UPDATE audit.checkpoints SET tree_size = tree_size - 1 WHERE id = 2")
    assert "checkpoint_altered" in {p.kind for p in log.verify().problems}


def test_a_checkpoint_re_signed_with_another_key_is_caught(log, tmp_path):
    from audit import signing
    from audit.checkpoints import Checkpoint

    other = signing.load_private_key(signing.generate_key(tmp_path / "forger.key")[0])
    with admin_connection(log.url) as conn:
        body = conn.execute("SELECT body FROM audit.checkpoints WHERE id = 1").fetchone()["body"]
    cp = Checkpoint.parse(body)
    forged = Checkpoint(**{**cp.__dict__, "key_id": signing.key_id(other.public_key())})
    tamper(log.url, "UPDATE audit.checkpoints SET body = %s, key_id = %s, signature = %s"
                    " WHERE id = 1", (forged.body(), forged.key_id,
                                      signing.sign(other, forged.body().encode())))
    assert {p.kind for p in log.verify().problems} == {"checkpoint_wrong_key"}


def test_verification_since_a_checkpoint_checks_only_what_follows_it(log):
    events = log.events()
    tamper(log.url, "UPDATE audit.events SET outcome = 'denied' WHERE id = %s", (events[-1]["id"],))
    report = verify(log.url, since=1, public_key=log.public_key, workers=1)
    assert report.first_bad_event.event_id == events[-1]["id"]
    assert report.events < len(events) * 3


def test_verification_since_a_checkpoint_refuses_a_doctored_starting_point(log):
    tamper(log.url, "UPDATE audit.checkpoints SET frontier = array_reverse_frontier.f"
                    " FROM (SELECT array_agg(x ORDER BY o DESC) AS f FROM audit.checkpoints,"
                    " unnest(frontier) WITH ORDINALITY AS u(x, o) WHERE id = 1)"
                    " AS array_reverse_frontier WHERE id = 1")
    report = verify(log.url, since=1, public_key=log.public_key, workers=1)
    assert [p.kind for p in report.problems if p.checkpoint_id == 1] == ["checkpoint_altered"]


def test_a_chain_whose_signed_end_was_replaced_is_not_signed_again(log, private_key):
    from audit.checkpoints import CheckpointRefused

    with admin_connection(log.url) as conn:
        signed_end = conn.execute("SELECT chain_seqs[%s] AS s FROM audit.checkpoints WHERE id = 2",
                                  (log.chain + 1,)).fetchone()["s"]
    tamper(log.url, "DELETE FROM audit.events WHERE chain = %s AND seq = %s",
           (log.chain, signed_end))
    with app_connection(log.url) as conn:
        record_views(conn, 20)  # whichever chains they land on, the checkpoint must refuse
        with pytest.raises(CheckpointRefused, match=f"chain {log.chain} no longer ends"):
            write_checkpoint(conn, private_key)


def test_a_gap_among_new_events_is_not_signed(log, private_key):
    from audit.checkpoints import CheckpointRefused

    with app_connection(log.url) as conn:
        record_views(conn, 3, per_transaction=3)
        with admin_connection(log.url) as admin:
            middle = admin.execute("SELECT id FROM audit.events ORDER BY id DESC LIMIT 1"
                                   " OFFSET 1").fetchone()["id"]
        tamper(log.url, "DELETE FROM audit.events WHERE id = %s", (middle,))
        with pytest.raises(CheckpointRefused, match="gaps or duplicates"):
            write_checkpoint(conn, private_key)
