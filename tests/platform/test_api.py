"""The API skeleton: tokens, problem details for every error, strict bodies, the OpenAPI document."""
from __future__ import annotations

import pytest

from tests.platform.helpers import bearer, token_for


def assert_problem(response, status, field=None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status and body["type"].startswith("https://") and body["title"]
    if field is not None:
        assert body.get("field") == field, body
    return body


def test_personal_token_for_a_caseworker(client, world):
    token = token_for(client, world.users["caseworker"])
    assert token.startswith("qg_")
    me = client.get("/api/v1/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.get_json()["roles"] == ["caseworker"]


def test_token_needs_totp_for_mfa_roles(client, world):
    user = world.users["supervisor"]
    response = client.post("/api/v1/auth/token", json={"username": user.username, "password": user.password})
    assert_problem(response, 401, "totp")
    ok = client.post("/api/v1/auth/token", json={"username": user.username, "password": user.password,
                                                 "totp": user.totp_now()})
    assert ok.status_code == 200
    replay = client.post("/api/v1/auth/token", json={"username": user.username, "password": user.password,
                                                     "totp": user.totp_now()})
    assert_problem(replay, 401, "totp")


def test_wrong_credentials_name_no_user(client, world):
    wrong = client.post("/api/v1/auth/token", json={"username": world.users["caseworker"].username,
                                                    "password": "nope-nope-nope"})
    unknown = client.post("/api/v1/auth/token", json={"username": "no.such.user", "password": "nope-nope-nope"})
    a, b = assert_problem(wrong, 401, "password"), assert_problem(unknown, 401, "password")
    assert a["detail"] == b["detail"]


@pytest.mark.parametrize("kwargs, status, field", [
    ({"data": "username=x", "content_type": "application/x-www-form-urlencoded"}, 415, "Content-Type"),
    ({"data": "{not json", "content_type": "application/json"}, 422, "body"),
    ({"data": "[1, 2]", "content_type": "application/json"}, 422, "body"),
    ({"json": {"username": "a", "password": "b", "extra": 1}}, 422, "extra"),
    ({"json": {"username": 5, "password": "b"}}, 422, "username"),
    ({"json": {"password": "b"}}, 422, "username"),
])
def test_malformed_token_requests(client, kwargs, status, field):
    assert_problem(client.post("/api/v1/auth/token", **kwargs), status, field)


def test_oversize_body_is_413(client, app):
    big = b"{" + b" " * (app.config["MAX_CONTENT_LENGTH"] + 10) + b"}"
    assert_problem(client.post("/api/v1/auth/token", data=big, content_type="application/json"), 413, "body")


def test_unknown_paths_and_methods(client):
    assert_problem(client.get("/api/v1/nothing-here"), 404)
    body = assert_problem(client.get("/api/v1/auth/token"), 405)
    assert body["allowed_methods"] == ["POST"]


@pytest.mark.parametrize("header", ["Bearer qg_not-a-real-token", "Bearer ", "Basic abc", "Bearer " + "x" * 500])
def test_bad_tokens_are_401(client, header):
    assert_problem(client.get("/api/v1/me", headers={"Authorization": header}), 401, "Authorization")


def test_no_token_is_401(client):
    assert_problem(client.get("/api/v1/me"), 401)


def test_unexpected_errors_are_problems_not_bare_500s(settings):
    from services.app import create_app

    app = create_app(settings)

    @app.get("/api/v1/_boom")
    def _boom():
        raise RuntimeError("boom")

    try:
        response = app.test_client().get("/api/v1/_boom")
    finally:
        app.extensions["qorgau_db"].close()
    body = assert_problem(response, 500)
    assert "boom" not in body["detail"]
    assert body["request_id"]


def test_openapi_document(client):
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    assert "/api/v1/auth/token" in doc["paths"]
    op = doc["paths"]["/api/v1/auth/token"]["post"]
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("TokenRequest")
    assert doc["components"]["schemas"]["TokenRequest"]["additionalProperties"] is False
    assert "/api/v1/agencies/{agency_id}/users" in doc["paths"]


def test_openapi_document_is_valid(client):
    from openapi_spec_validator import validate

    validate(client.get("/api/openapi.json").get_json())


def test_interactive_docs_are_served_locally(client):
    page = client.get("/api/docs").get_data(as_text=True)
    assert "https://" not in page.split("<body>")[0]
    for asset in ("/api/docs/assets/js/swagger-ui-bundle.js", "/api/docs/assets/css/swagger-ui.css",
                  "/static/js/swagger-init.js"):
        assert asset in page
        assert client.get(asset).status_code == 200


def test_revoked_token_stops_working(client, app, world, admin_conn):
    token = token_for(client, world.users["caseworker"])
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    admin_conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE user_id = %s",
                       (world.users["caseworker"].id,))
    assert_problem(client.get("/api/v1/me", headers=bearer(token)), 401)


def test_request_id_is_returned_and_accepted(client):
    response = client.get("/api/v1/me", headers={"X-Request-Id": "abcdef1234567890"})
    assert response.headers["X-Request-Id"] == "abcdef1234567890"
    assert response.get_json()["request_id"] == "abcdef1234567890"
