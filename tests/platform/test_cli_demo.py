"""The command line: agencies, users and the demo world (idempotent, credentials written)."""
from __future__ import annotations

import json
import logging
import uuid

from services.logs import JsonFormatter


def test_cli_creates_region_district_agency_and_user(app, admin_conn):
    runner = app.test_cli_runner()
    code = "r-" + uuid.uuid4().hex[:6]
    assert runner.invoke(args=["agencies", "create-region", "--code", code, "--name", "R"]).exit_code == 0
    assert runner.invoke(args=["agencies", "create-district", "--region", code, "--code", "d9",
                               "--name", "D"]).exit_code == 0
    agency = "school-" + uuid.uuid4().hex[:6]
    result = runner.invoke(args=["agencies", "create", "--code", agency, "--name", "School", "--kind",
                                 "school", "--region", code, "--district", "d9"])
    assert result.exit_code == 0, result.output
    username = "cli." + uuid.uuid4().hex[:6]
    result = runner.invoke(args=["users", "create", "--agency", agency, "--username", username,
                                 "--full-name", "Cli User", "--role", "caseworker", "--role", "supervisor",
                                 "--language", "kk", "--password", "a long enough password"])
    assert result.exit_code == 0, result.output
    row = admin_conn.execute("SELECT u.preferred_language, array_agg(r.role ORDER BY r.role) AS roles"
                             " FROM users u JOIN user_roles r ON r.user_id = u.id WHERE u.username = %s"
                             " GROUP BY u.id", (username,)).fetchone()
    assert row == {"preferred_language": "kk", "roles": ["caseworker", "supervisor"]}


def test_cli_names_the_bad_field(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create", "--agency", "no-such-agency", "--username", "x.y.z",
                                 "--full-name", "X", "--role", "caseworker", "--password", "a long enough password"])
    assert result.exit_code != 0 and "agency" in result.output
    result = runner.invoke(args=["agencies", "create", "--code", "a-" + uuid.uuid4().hex[:5], "--name", "A",
                                 "--kind", "school", "--region", "nowhere"])
    assert result.exit_code != 0 and "region" in result.output


def test_demo_load_is_idempotent_and_writes_credentials(fresh_db_url, tmp_path, monkeypatch):
    from services.app import create_app
    from tests.conftest import make_settings

    monkeypatch.setenv("QORGAU_VAR", str(tmp_path))
    app = create_app(make_settings(fresh_db_url))
    try:
        runner = app.test_cli_runner()
        first = runner.invoke(args=["demo", "load"])
        assert first.exit_code == 0, first.output
        creds = json.loads((tmp_path / "demo-credentials.json").read_text())
        assert len(creds) == 13
        assert creds["head.social"]["totp_secret"] and creds["worker.social"]["totp_secret"] is None
        assert (tmp_path / "demo-credentials.json").stat().st_mode & 0o077 == 0
        second = runner.invoke(args=["demo", "load"])
        assert "0 users created" in second.output
        skipped = runner.invoke(args=["demo", "load", "--if-empty"])
        assert "not loaded" in skipped.output
        client = app.test_client()
        ok = client.post("/api/v1/auth/token", json={"username": "worker.social",
                                                     "password": creds["worker.social"]["password"]})
        assert ok.status_code == 200
    finally:
        app.extensions["qorgau_db"].close()
    import psycopg

    with psycopg.connect(fresh_db_url) as conn:
        agencies = conn.execute("SELECT count(*) FROM agencies").fetchone()[0]
        districts = conn.execute("SELECT string_agg(code, ',' ORDER BY code) FROM districts").fetchone()[0]
    assert agencies == 8 and districts == "aktau,munaily,zhanaozen"


def test_logs_are_json_lines_with_the_request_id(client):
    import io

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("qorgau.request")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)  # the test app logs at WARNING
    try:
        response = client.get("/healthz", headers={"X-Request-Id": "feedbeef12345678"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines and lines[-1]["request_id"] == "feedbeef12345678"
    assert lines[-1]["status"] == 200 and lines[-1]["path"] == "/healthz"
    assert response.headers["X-Request-Id"] == "feedbeef12345678"
