"""A small generated data set, shared by the generator's smoke tests."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import psycopg
import pytest

from bench.generate import Plan, generate
from tests.conftest import ADMIN_URL, db_url

AS_OF = datetime(2026, 9, 1, tzinfo=timezone.utc)
TINY = Plan(children=120, referrals=400, audit_events=3000, seed=7, as_of=AS_OF)


def _new_db(template: str) -> str:
    name = f"qorgau_t_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return name


def _drop(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def generated(template_db):
    """The administrative URL of a migrated database holding the TINY data set, and its counts."""
    name = _new_db(template_db)
    url = db_url(name)
    result = generate(url, TINY)
    yield url, result
    _drop(name)


@pytest.fixture
def empty_bench_db(template_db):
    """A migrated, empty database of its own."""
    name = _new_db(template_db)
    yield db_url(name)
    _drop(name)
