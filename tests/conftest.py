"""Shared fixtures: a real PostgreSQL database migrated once per run, the app, and clients.

The suite never mocks the database. ``make test`` starts PostgreSQL and Redis when they are down.
Tests create their own agencies and users with unique names (see ``factories.py``), so they do
not depend on each other's data; a test that needs an empty database asks for ``fresh_db_url``.
"""
from __future__ import annotations

import os
import uuid

import psycopg
import pytest

# Must be set before services.auth.passwords is imported (see there).
os.environ.setdefault("QORGAU_TEST_CHEAP_HASHING", "1")

from services.migrate import upgrade
from services.settings import Settings, app_url_from

ADMIN_URL = os.environ.get("TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# Per-run names, so that two runs on one server (CI and a developer) never drop each other's data.
RUN = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
TEMPLATE_DB = f"qorgau_tpl_{RUN}"
TEST_DB = f"qorgau_test_{RUN}"
SECRET = "test-secret-key-" + "x" * 40


def db_url(name: str) -> str:
    """The administrative URL of database ``name`` on the test server."""
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


def _recreate(name: str, template: str | None = None) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if template:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        else:
            conn.execute(f'CREATE DATABASE "{name}"')


def _drop(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def template_db() -> str:
    """A database migrated to head, used as the template for every test database."""
    _recreate(TEMPLATE_DB)
    upgrade(db_url(TEMPLATE_DB))
    yield TEMPLATE_DB
    _drop(TEMPLATE_DB)


@pytest.fixture(scope="session")
def database_url(template_db) -> str:
    """Administrative (superuser) URL of the run's shared test database."""
    _recreate(TEST_DB, template_db)
    yield db_url(TEST_DB)
    _drop(TEST_DB)


@pytest.fixture
def fresh_db_url(template_db):
    """A database of its own for a test that needs an empty, migrated database."""
    name = f"qorgau_t_{uuid.uuid4().hex[:10]}"
    _recreate(name, template_db)
    yield db_url(name)
    _drop(name)


def make_settings(url: str, **overrides) -> Settings:
    """Settings for a test app on the database at ``url``."""
    base = Settings(
        database_url=url,
        app_database_url=app_url_from(url, None),
        secret_key=SECRET,
        base_url="http://localhost",
        redis_url=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
        cookie_secure=False,
        testing=True,
        log_level="WARNING",
        pool_max=5,
        sign_in_rate_limit="10000 per second",  # test_rate_limits.py lowers it
    )
    return base.with_(**overrides)


@pytest.fixture(scope="session")
def settings(database_url) -> Settings:
    return make_settings(database_url)


@pytest.fixture(scope="session")
def app(settings):
    """The Flask app on the shared test database, connected as the application role."""
    from services.app import create_app

    app = create_app(settings)
    # Most tests post forms directly; CSRF itself is tested with ``csrf_client``.
    app.config["WTF_CSRF_ENABLED"] = False
    yield app
    app.extensions["qorgau_db"].close()


def new_client(app):
    """A test client that asks for English pages."""
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture
def client(app):
    """A test client (CSRF checks off; see ``csrf_client``)."""
    return new_client(app)


@pytest.fixture
def browser(app):
    """A factory of independent clients, like several browsers."""
    return lambda: new_client(app)


@pytest.fixture
def csrf_client(app):
    """A test client with CSRF protection on, as a browser would meet it."""
    app.config["WTF_CSRF_ENABLED"] = True
    yield new_client(app)
    app.config["WTF_CSRF_ENABLED"] = False


@pytest.fixture
def admin_conn(database_url):
    """A superuser connection to the shared test database, for assertions and tampering."""
    with psycopg.connect(database_url, autocommit=True, row_factory=psycopg.rows.dict_row) as conn:
        yield conn


@pytest.fixture
def world(app):
    """A small region with agencies and users of every role (see factories.make_world)."""
    from tests.factories import make_world

    with app.app_context():
        return make_world()
