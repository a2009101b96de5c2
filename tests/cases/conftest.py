"""Fixtures for the case tests: one world per module, fresh cases per test, per-user clients."""
from __future__ import annotations

import pytest

from tests.case_factories import Api, make_case, make_case_world


@pytest.fixture(scope="module")
def cw(app):
    """The module's world of agencies and users (see ``case_factories.make_case_world``)."""
    with app.app_context():
        return make_case_world()


@pytest.fixture(scope="module")
def api(app, cw):
    """``api("social_worker")``: that user's JSON client, one token per user and module."""
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
    """``new_case(**options)``: a fresh case of the module's world (``case_factories.make_case``)."""
    return lambda **options: make_case(admin_conn, cw, **options)
