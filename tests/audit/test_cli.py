"""``flask audit ...`` end to end: checkpoint, export, verify-checkpoint, verify, keygen."""
from __future__ import annotations

import json

import pytest

from audit import Actor, AuditAction, record, signing
from audit.cli import audit_cli
from services.db import transaction
from tests.audit.conftest import admin_connection, recompute_from, tamper
from tests.conftest import make_settings


@pytest.fixture
def cli_app(fresh_db_url, key_path):
    """An app on a database of its own, signing with a fresh key."""
    from services.app import create_app

    app = create_app(make_settings(fresh_db_url, audit_signing_key=str(key_path)))
    yield app
    app.extensions["qorgau_db"].close()


def run(app, *args):
    return app.test_cli_runner().invoke(audit_cli, list(args))


def record_some(app, count: int) -> None:
    actor = Actor(user_id=9, agency_id=None, roles=frozenset({"caseworker"}))
    with app.app_context():
        for i in range(count):
            with transaction(actor) as conn:
                record(conn, actor=actor, action=AuditAction.CHILD_VIEWED, object_type="child",
                       object_id=i, child_id=i)


@pytest.fixture
def exported(cli_app, tmp_path):
    """Ten events under checkpoint 1, exported to a file."""
    record_some(cli_app, 10)
    result = run(cli_app, "checkpoint")
    assert result.exit_code == 0, result.output
    assert "checkpoint 1: 10 events" in result.output
    assert "nothing new" in run(cli_app, "checkpoint").output
    path = tmp_path / "checkpoint-1.json"
    assert run(cli_app, "export-checkpoint", "1", str(path)).exit_code == 0
    return path


def test_an_exported_checkpoint_verifies_against_the_database(cli_app, exported):
    doc = json.loads(exported.read_text())
    assert doc["checkpoint_id"] == 1 and doc["tree_size"] == 10
    result = run(cli_app, "verify-checkpoint", str(exported))
    assert result.exit_code == 0, result.output
    assert "OK" in result.output


def test_a_rewrite_under_an_exported_checkpoint_is_named(cli_app, exported, fresh_db_url):
    with admin_connection(fresh_db_url) as conn:
        victim = conn.execute("SELECT id, chain, seq FROM audit.events ORDER BY id LIMIT 1"
                              " OFFSET 4").fetchone()
    tamper(fresh_db_url, "UPDATE audit.events SET purpose = 'other' WHERE id = %s",
           (victim["id"],))
    recompute_from(fresh_db_url, victim["chain"], victim["seq"])
    result = run(cli_app, "verify-checkpoint", str(exported))
    assert result.exit_code == 1
    assert "FIRST BAD EVENT" in result.output and "rewritten_after_checkpoint" in result.output


def test_a_checkpoint_does_not_verify_with_someone_elses_key(cli_app, exported, tmp_path):
    _, other_pub = signing.generate_key(tmp_path / "other.key")
    result = run(cli_app, "verify-checkpoint", str(exported), "--public-key", str(other_pub))
    assert result.exit_code == 1
    assert "checkpoint_bad_signature" in result.output


def test_verify_passes_then_names_a_changed_event(cli_app, exported, fresh_db_url):
    result = run(cli_app, "verify")
    assert result.exit_code == 0, result.output
    assert "10 events in 32 chains, 1 checkpoints checked" in result.output
    with admin_connection(fresh_db_url) as conn:
        victim = conn.execute("SELECT id FROM audit.events ORDER BY id LIMIT 1 OFFSET 2"
                              ).fetchone()["id"]
    tamper(fresh_db_url, "UPDATE audit.events SET child_id = 999 WHERE id = %s", (victim,))
    result = run(cli_app, "verify")
    assert result.exit_code == 1
    assert f"FIRST BAD EVENT: {victim} " in result.output


def test_verify_since_an_unknown_checkpoint_says_so(cli_app):
    result = run(cli_app, "verify", "--since", "7")
    assert result.exit_code == 1 and "no checkpoint 7" in result.output


def test_keygen_writes_a_key_pair_and_never_replaces_one(cli_app, tmp_path):
    path = tmp_path / "k" / "signing.key"
    assert run(cli_app, "keygen", str(path)).exit_code == 0
    assert signing.load_public_key(str(path) + ".pub")
    again = run(cli_app, "keygen", str(path))
    assert again.exit_code == 1 and "refusing" in again.output


def test_checkpoint_without_a_key_names_the_setting(fresh_db_url):
    from services.app import create_app

    app = create_app(make_settings(fresh_db_url))
    try:
        result = run(app, "checkpoint")
    finally:
        app.extensions["qorgau_db"].close()
    assert result.exit_code == 1 and "AUDIT_SIGNING_KEY" in result.output
