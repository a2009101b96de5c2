"""Configuration fails fast; the data layer runs as a least-privileged role with per-transaction identity."""
from __future__ import annotations

import psycopg
import pytest

from audit import Actor
from services.settings import ConfigError, Settings


def test_missing_database_url_stops_start_up_with_a_clear_message():
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        Settings.from_env({"SECRET_KEY": "x" * 40})


@pytest.mark.parametrize("secret", ["", "short"])
def test_missing_or_short_secret_stops_start_up(secret):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        Settings.from_env({"DATABASE_URL": "postgresql://postgres@127.0.0.1/x", "SECRET_KEY": secret})


def test_app_url_is_derived_for_the_application_role():
    s = Settings.from_env({"DATABASE_URL": "postgresql://postgres:pw@db:5432/qorgau", "SECRET_KEY": "x" * 40,
                           "APP_DB_PASSWORD": "s3cret/+"})
    assert s.app_database_url == "postgresql://qorgau_app:s3cret%2F%2B@db:5432/qorgau"
    assert s.cookie_secure is True


def test_plain_http_localhost_relaxes_only_the_secure_flag():
    s = Settings.from_env({"DATABASE_URL": "postgresql://postgres@127.0.0.1/x", "SECRET_KEY": "x" * 40,
                           "BASE_URL": "http://localhost:8000"})
    assert s.cookie_secure is False


def test_unreachable_database_fails_fast_and_readably(settings):
    from services.app import create_app

    bad = settings.with_(app_database_url="postgresql://qorgau_app@127.0.0.1:1/nowhere")
    with pytest.raises(ConfigError, match="cannot connect to PostgreSQL"):
        create_app(bad)


def test_refuses_to_run_as_a_superuser(settings, database_url):
    from services.app import create_app

    with pytest.raises(ConfigError, match="superuser"):
        create_app(settings.with_(app_database_url=database_url))


def test_app_role_owns_nothing_and_cannot_bypass_rls(admin_conn):
    role = admin_conn.execute("SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles"
                              " WHERE rolname = 'qorgau_app'").fetchone()
    assert role == {"rolsuper": False, "rolbypassrls": False, "rolcanlogin": True}
    owned = admin_conn.execute(
        "SELECT count(*) AS n FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner"
        " WHERE r.rolname = 'qorgau_app'").fetchone()["n"]
    assert owned == 0
    owner = admin_conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'users'").fetchone()
    assert owner["tableowner"] == "qorgau_owner"


def test_every_timestamp_column_is_timestamptz(admin_conn):
    naive = admin_conn.execute(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns"
        " WHERE data_type = 'timestamp without time zone'"
        " AND table_schema NOT IN ('pg_catalog', 'information_schema')").fetchall()
    assert naive == []


def test_identity_is_local_to_the_transaction(app):
    db = app.extensions["qorgau_db"]
    actor = Actor(user_id=42, agency_id=7, roles=frozenset({"caseworker"}))
    with db.transaction(actor) as conn:
        row = conn.execute("SELECT current_setting('qorgau.user_id', true) AS u,"
                           " current_setting('qorgau.agency_id', true) AS a, current_user AS who").fetchone()
        assert row == {"u": "42", "a": "7", "who": "qorgau_app"}
        pid = conn.info.backend_pid
    # The same pooled connections, borrowed again without an actor, carry no identity.
    for _ in range(db.pool.get_stats().get("pool_size", 1) + 1):
        with db.pool.connection() as conn:
            seen = conn.execute("SELECT current_setting('qorgau.user_id', true) AS u").fetchone()["u"]
            assert seen in (None, ""), (conn.info.backend_pid, pid)


def test_pool_recovers_after_connections_are_killed(app, admin_conn):
    db = app.extensions["qorgau_db"]
    with db.transaction() as conn:
        conn.execute("SELECT 1")
    admin_conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                       " WHERE usename = 'qorgau_app' AND datname = current_database()")
    with db.transaction() as conn:
        assert conn.execute("SELECT 1 AS one").fetchone()["one"] == 1


def test_migration_history_has_one_head(template_db, admin_conn):
    from alembic.script import ScriptDirectory

    from services.migrate import alembic_config
    from tests.conftest import db_url

    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, heads
    import psycopg

    with psycopg.connect(db_url(template_db)) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(heads[0],)]
