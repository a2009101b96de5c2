"""Databases for the access tests: the authorization file's world, and copies of it."""
from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg.rows import dict_row

from tests.access.checks import install_probe
from tests.access.world import load, read_model
from tests.conftest import _drop, _recreate, db_url, make_settings


def copy_database(source: str) -> str:
    """A new database copied from ``source`` (which must have no open connections); its name."""
    name = f"qorgau_t_{uuid.uuid4().hex[:10]}"
    _recreate(name, source)
    return name


@pytest.fixture(scope="session")
def model():
    """authz/model.yaml as a dict."""
    return read_model()


@pytest.fixture(scope="session")
def model_template(template_db, model):
    """A database holding the authorization file's world, kept pristine: tests use copies of it.

    Yields the database's name and the ``World`` (names to ids; the copies have the same ids).
    """
    name = copy_database(template_db)
    with psycopg.connect(db_url(name), row_factory=dict_row, autocommit=True) as conn:
        with conn.transaction():
            world = load(conn, model["world"])
            install_probe(conn)
    yield name, world
    _drop(name)


@pytest.fixture(scope="session")
def model_db(model_template):
    """A copy of the world for checks that change nothing: (superuser URL, World)."""
    name, world = model_template
    copy = copy_database(name)
    yield db_url(copy), world
    _drop(copy)


@pytest.fixture
def model_conn(model_db):
    """A superuser connection (dict rows) to the world copy."""
    url, _ = model_db
    with psycopg.connect(url, row_factory=dict_row, autocommit=True) as conn:
        yield conn


def issue_tokens(url: str, world, users) -> dict[str, str]:
    """A personal Bearer token (second factor done) for each of ``users`` in the database at ``url``."""
    from services.auth import tokens

    with psycopg.connect(url, row_factory=dict_row, autocommit=True) as conn:
        with conn.transaction():
            return {u: tokens.issue_personal(conn, world.users[u], world.actors[u].agency_id, minutes=60,
                                             mfa=True)[0] for u in users}


def app_on(url: str):
    """The Flask app on the database at ``url``, connected as the application role."""
    from services.app import create_app

    return create_app(make_settings(url))
