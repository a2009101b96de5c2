"""Fixtures for the case tests: one world for the whole run, fresh cases per test, per-user clients.

The world is shared by every test here (building one costs seconds of password hashing), so a
test never counts what it did not make: it creates its own cases and looks for them.
"""
from __future__ import annotations

import pytest

from tests.case_factories import Api, make_case, make_case_world


@pytest.fixture(scope="session")
def cw(app):
    """The world of agencies and users (see ``case_factories.make_case_world``)."""
    with app.app_context():
        return make_case_world()


@pytest.fixture(scope="session")
def api(app, cw):
    """``api("social_worker")``: that user's JSON client, one token per user for the run."""
    client = app.test_client()
    clients: dict[str, Api] = {}

    def for_user(name: str) -> Api:
        if name not in clients:
            with app.app_context():
                clients[name] = Api(client, cw.users[name])
        return clients[name]

    return for_user


@pytest.fixture
def new_case(admin_conn, cw):
    """``new_case(**options)``: a fresh case of the shared world (``case_factories.make_case``)."""
    return lambda **options: make_case(admin_conn, cw, **options)
