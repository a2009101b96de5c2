"""Fixtures for the Core tests: one world per module with every agency screening needs, and
signed-in clients. Tests make their own children and referrals, so they share the world safely;
audit assertions look only at events written since the test began (``mark``)."""
from __future__ import annotations

import pytest

from tests.core_factories import Api, make_core_world


@pytest.fixture(scope="module")
def core(app):
    """A region with school, social services, police, clinic, psychology and a second school."""
    with app.app_context():
        return make_core_world()


@pytest.fixture(scope="module")
def api(app, core):
    """``api("social_worker")``: that user's JSON client (one token per user and module, because
    a TOTP code is accepted once)."""
    clients: dict[str, Api] = {}

    def for_user(name: str) -> Api:
        if name not in clients:
            clients[name] = Api(app.test_client(), core.users[name])
        return clients[name]

    return for_user


@pytest.fixture
def mark(admin_conn) -> int:
    """The id of the last audit event before the test: ``audit_events(..., since=mark)``."""
    return admin_conn.execute("SELECT coalesce(max(id), 0) AS id FROM audit.events").fetchone()["id"]
