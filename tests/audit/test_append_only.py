"""The audit tables are append-only in the database itself, for the app role and for everyone."""
from __future__ import annotations

import psycopg
import pytest

from audit import Actor, signing
from audit.verify import verify
from services.db import set_actor
from tests.audit.conftest import CASEWORKER, admin_connection, app_connection, record_views, \
    write_checkpoint


@pytest.fixture(scope="module")
def seeded(module_db_url, tmp_path_factory):
    """The module's database with a few events and a checkpoint to attack."""
    path, _ = signing.generate_key(tmp_path_factory.mktemp("key") / "k")
    with app_connection(module_db_url) as conn:
        record_views(conn, 5)
        write_checkpoint(conn, signing.load_private_key(path))
    return module_db_url


def test_app_role_holds_only_insert_and_select_on_events(seeded):
    with admin_connection(seeded) as conn:
        def privileges(table):
            return {p for p in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES",
                                "TRIGGER")
                    if conn.execute("SELECT has_table_privilege('qorgau_app', %s, %s) AS ok",
                                    (table, p)).fetchone()["ok"]}

        assert privileges("audit.events") == {"SELECT", "INSERT"}
        assert privileges("audit.checkpoints") == {"SELECT", "INSERT"}
        assert privileges("audit.chain_heads") == {"SELECT"}
        assert privileges("audit.log_info") == {"SELECT"}
        assert privileges("audit.events_default") == set()
        roles = conn.execute("SELECT rolname, rolcanlogin, rolsuper, rolbypassrls FROM pg_roles"
                             " WHERE rolname IN ('qorgau_app', 'qorgau_audit_owner',"
                             " 'qorgau_auditor') ORDER BY rolname").fetchall()
        assert [(r["rolname"], r["rolcanlogin"], r["rolsuper"], r["rolbypassrls"]) for r in roles] == [
            ("qorgau_app", True, False, False),
            ("qorgau_audit_owner", False, False, False),
            ("qorgau_auditor", False, False, False)]
        owners = conn.execute("SELECT DISTINCT tableowner FROM pg_tables"
                              " WHERE schemaname = 'audit'").fetchall()
        assert [o["tableowner"] for o in owners] == ["qorgau_audit_owner"]


@pytest.mark.parametrize("statement", [
    "UPDATE audit.events SET outcome = 'denied'",
    "DELETE FROM audit.events",
    "TRUNCATE audit.events",
    "SELECT * FROM audit.events_default",
    "UPDATE audit.chain_heads SET seq = 0",
    "UPDATE audit.log_info SET chains = 1",
    "DELETE FROM audit.checkpoints",
])
def test_app_role_is_refused_every_change_but_insert(seeded, statement):
    with app_connection(seeded) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)


def _partition(conn) -> str:
    return conn.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                        " WHERE i.inhparent = 'audit.events'::regclass AND c.relname <> "
                        "'events_default' ORDER BY 1 LIMIT 1").fetchone()["relname"]


@pytest.mark.parametrize("statement", [
    "UPDATE audit.events SET outcome = 'denied'",
    "DELETE FROM audit.events",
    "TRUNCATE audit.events",
    "TRUNCATE audit.events_default",
    "TRUNCATE audit.{partition}",
    "UPDATE audit.{partition} SET purpose = 'x'",
    "DELETE FROM audit.checkpoints",
    "TRUNCATE audit.checkpoints",
    "UPDATE audit.log_info SET created_at = now()",
])
def test_triggers_refuse_changes_even_to_a_superuser(seeded, statement):
    with admin_connection(seeded) as conn:
        before = conn.execute("SELECT count(*) AS n FROM audit.events").fetchone()["n"]
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(statement.format(partition=_partition(conn)))
        assert conn.execute("SELECT count(*) AS n FROM audit.events").fetchone()["n"] == before == 5


FORGED = ("INSERT INTO audit.events (id, chain, seq, occurred_at, action, outcome, actor_kind,"
          " actor_roles, actor_mfa, object_type, channel, prev_hash, hash)"
          " VALUES (999999, 0, 1, {at}, 'child_viewed', 'allowed', 'user', '{{}}', false,"
          " 'child', 'web', decode(repeat('00', 32), 'hex'), decode(repeat('11', 32), 'hex'))")


def test_a_writer_cannot_choose_an_events_place_or_hash(fresh_db_url):
    with app_connection(fresh_db_url) as conn:
        with conn.transaction():
            set_actor(conn, Actor.system("tests"))
            conn.execute(FORGED.format(at="DEFAULT"))
    with admin_connection(fresh_db_url) as conn:
        row = conn.execute("SELECT e.id, e.seq, e.hash, h.seq AS head_seq, h.hash AS head_hash"
                           " FROM audit.events e JOIN audit.chain_heads h ON h.chain = e.chain"
                           ).fetchone()
    assert row["id"] != 999999
    assert bytes(row["hash"]) != b"\x11" * 32
    assert (row["seq"], bytes(row["hash"])) == (row["head_seq"], bytes(row["head_hash"])) != (1, b"")
    assert verify(fresh_db_url, workers=1).ok


def test_a_writer_cannot_back_date_an_event(module_db_url):
    with app_connection(module_db_url) as conn, conn.transaction():
        set_actor(conn, CASEWORKER)
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="stamped"):
            conn.execute(FORGED.format(at="now() - interval '1 day'"))


def test_chain_heads_follow_the_events_and_cannot_be_set(seeded):
    with admin_connection(seeded) as conn:
        head = conn.execute("SELECT chain, seq, hash FROM audit.chain_heads WHERE seq > 0"
                            ).fetchone()
        conn.execute("UPDATE audit.chain_heads SET seq = %s, hash = %s WHERE chain = %s",
                     (head["seq"], head["hash"], head["chain"]))  # stating the truth is fine
        with pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="cannot be set"):
            conn.execute("UPDATE audit.chain_heads SET seq = seq - 1 WHERE chain = %s",
                         (head["chain"],))
    assert head["seq"] == 5


def test_the_auditor_role_reads_everything_and_writes_nothing(seeded):
    with admin_connection(seeded) as conn:
        conn.execute("SET ROLE qorgau_auditor")
        assert conn.execute("SELECT count(*) AS n FROM audit.events").fetchone()["n"] == 5
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO audit.checkpoints (id) VALUES (1)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT password_hash FROM users")


def test_row_level_security_shows_the_app_role_only_what_the_actor_may_read(seeded):
    with app_connection(seeded) as conn:
        with conn.transaction():
            set_actor(conn, CASEWORKER)
            assert conn.execute("SELECT count(*) AS n FROM audit.events").fetchone()["n"] == 0
        with conn.transaction():
            set_actor(conn, Actor.system("tests"))
            assert conn.execute("SELECT count(*) AS n FROM audit.events").fetchone()["n"] == 5
