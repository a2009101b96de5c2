"""Sign-in through the web pages: success, every failure, sessions and their limits."""
from __future__ import annotations

import re
import time
from datetime import timedelta

import pyotp

from services.auth import passwords
from tests.conftest import new_client
from tests.factories import make_user, unique
from tests.platform.helpers import csrf_token, sign_in


def audit_actions(admin_conn, user_id):
    rows = admin_conn.execute(
        "SELECT action, outcome FROM audit.events WHERE actor_user_id = %s ORDER BY occurred_at, id",
        (user_id,)).fetchall()
    return [(r["action"], r["outcome"]) for r in rows]


def test_caseworker_signs_in_with_password_and_gets_a_hardened_cookie(client, world):
    user = world.users["caseworker"]
    response = sign_in(client, user)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("qorgau=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    home = client.get("/")
    assert home.status_code == 200
    assert "Test Person" in home.get_data(as_text=True)
    assert home.headers["Cache-Control"] == "no-store"


def test_sign_in_is_audited(client, world, admin_conn):
    user = world.users["caseworker"]
    sign_in(client, user)
    assert ("sign_in", "allowed") in audit_actions(admin_conn, user.id)


def test_secure_deployments_use_a_host_prefixed_secure_cookie(settings):
    from services.app import configure
    from flask import Flask

    app = Flask("x")
    configure(app, settings.with_(cookie_secure=True))
    assert app.config["SESSION_COOKIE_NAME"] == "__Host-qorgau"
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_PATH"] == "/"


def test_wrong_password_and_unknown_user_get_the_same_answer(client, world, monkeypatch):
    calls = []
    real = passwords._hasher

    class CountingHasher:
        def verify(self, h, p):
            calls.append(h)
            return real.verify(h, p)

    monkeypatch.setattr(passwords, "_hasher", CountingHasher())
    user = world.users["caseworker"]
    wrong = client.post("/auth/login", data={"username": user.username, "password": "not the password"})
    nobody = unique("nobody").replace("-", ".")
    unknown = client.post("/auth/login", data={"username": nobody, "password": "not the password"})
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong user name or password" in wrong.get_data(as_text=True)
    def page(response, name):  # CSRF tokens are signed with a timestamp, so they differ per page
        return re.sub(r'(csrf[-_]token"? (?:value|content)=)"[^"]+"', r'\1""',
                      response.get_data(as_text=True).replace(name, "X"))

    assert page(wrong, user.username) == page(unknown, nobody)
    # Both paths ran one full argon2 verification: same work, same time.
    assert len(calls) == 2


def test_empty_fields_are_named(client):
    response = client.post("/auth/login", data={"username": "", "password": ""})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert 'id="username-error"' in body and 'id="password-error"' in body


def test_failed_sign_in_is_audited_without_the_password(client, world, admin_conn):
    user = world.users["caseworker"]
    client.post("/auth/login", data={"username": user.username, "password": "canary-pw-123456"})
    assert ("sign_in_failed", "denied") in audit_actions(admin_conn, user.id)
    dump = admin_conn.execute("SELECT string_agg(t::text, ' ') AS s FROM audit.events t").fetchone()["s"]
    assert "canary-pw-123456" not in dump


def test_five_failures_lock_the_name_even_for_the_right_password(client, app, world):
    with app.app_context():
        from services.db import transaction
        from tests.factories import SYSTEM

        with transaction(SYSTEM) as conn:
            user = make_user(conn, world.agencies["school"].id, ["caseworker"])
    for _ in range(5):
        assert client.post("/auth/login", data={"username": user.username, "password": "wrong-password!"}).status_code == 401
    locked = client.post("/auth/login", data={"username": user.username, "password": user.password})
    assert locked.status_code == 429
    assert "Too many failed attempts" in locked.get_data(as_text=True)


def test_unknown_names_lock_the_same_way(client):
    ghost = unique("ghost").replace("-", ".")
    for _ in range(5):
        client.post("/auth/login", data={"username": ghost, "password": "wrong-password!"})
    assert client.post("/auth/login", data={"username": ghost, "password": "x" * 12}).status_code == 429


def test_sign_in_gives_a_new_session_id(client, world):
    user = world.users["caseworker"]
    client.get("/auth/login")
    before = client.get_cookie("qorgau")
    sign_in(client, user)
    after = client.get_cookie("qorgau")
    assert after is not None and (before is None or before.value != after.value)


def test_sign_out_ends_the_session_even_for_a_copied_cookie(client, app, world):
    user = world.users["caseworker"]
    sign_in(client, user)
    stolen = client.get_cookie("qorgau").value
    client.post("/auth/logout")
    other = new_client(app)
    other.set_cookie("qorgau", stolen)
    assert other.get("/").status_code == 302


def test_disabling_an_account_ends_every_session(client, app, world, admin_conn):
    with app.app_context():
        from services.db import transaction
        from tests.factories import SYSTEM

        with transaction(SYSTEM) as conn:
            user = make_user(conn, world.agencies["school"].id, ["caseworker"])
    first, second = new_client(app), new_client(app)
    sign_in(first, user)
    sign_in(second, user)
    assert first.get("/").status_code == 200 and second.get("/").status_code == 200
    with app.app_context():
        from services.agencies import actions, queries
        from services.db import transaction
        from tests.factories import SYSTEM

        with transaction(SYSTEM) as conn:
            actions.disable_user(conn, queries.get_user(conn, user.id), actor=SYSTEM)
    assert first.get("/").status_code == 302
    assert second.get("/").status_code == 302
    assert sign_in(new_client(app), user).status_code == 401


def test_idle_timeout_after_30_minutes(client, world, admin_conn):
    user = world.users["caseworker"]
    sign_in(client, user)
    assert client.get("/").status_code == 200
    admin_conn.execute("UPDATE web_sessions SET last_seen_at = now() - interval '31 minutes' WHERE user_id = %s",
                       (user.id,))
    response = client.get("/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_absolute_timeout_after_12_hours(client, world, admin_conn):
    user = world.users["caseworker"]
    sign_in(client, user)
    admin_conn.execute("UPDATE web_sessions SET created_at = now() - interval '12 hours 1 minute' WHERE user_id = %s",
                       (user.id,))
    assert client.get("/").status_code == 302


def test_supervisor_needs_a_totp_code(client, world):
    user = world.users["supervisor"]
    first = client.post("/auth/login", data={"username": user.username, "password": user.password})
    assert first.status_code == 302 and first.headers["Location"].endswith("/auth/totp")
    assert client.get("/").status_code == 302  # not signed in yet
    bad = client.post("/auth/totp", data={"code": "000000"})
    assert bad.status_code == 401
    good = client.post("/auth/totp", data={"code": user.totp_now()})
    assert good.status_code == 302 and good.headers["Location"] == "/"
    assert client.get("/").status_code == 200


def test_a_totp_code_works_only_once(app, world):
    user = world.users["supervisor"]
    code = user.totp_now()
    first, second = new_client(app), new_client(app)
    first.post("/auth/login", data={"username": user.username, "password": user.password})
    assert first.post("/auth/totp", data={"code": code}).status_code == 302
    second.post("/auth/login", data={"username": user.username, "password": user.password})
    replay = second.post("/auth/totp", data={"code": code})
    assert replay.status_code == 401


def test_unenrolled_admin_enrols_with_a_server_rendered_qr_code(client, app, world):
    with app.app_context():
        from services.db import transaction
        from tests.factories import SYSTEM

        with transaction(SYSTEM) as conn:
            user = make_user(conn, world.agencies["school"].id, ["agency_admin"], enrolled_totp=False)
    first = client.post("/auth/login", data={"username": user.username, "password": user.password})
    assert first.headers["Location"].endswith("/auth/totp/enrol")
    page = client.get("/auth/totp/enrol").get_data(as_text=True)
    assert 'src="data:image/svg+xml' in page
    secret = page.split('id="totp-secret">')[1].split("<")[0]
    assert client.post("/auth/totp/enrol", data={"code": "123456"}).status_code == 401
    done = client.post("/auth/totp/enrol", data={"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 302
    assert client.get("/").status_code == 200


def test_forms_refuse_a_missing_csrf_token(csrf_client, world):
    user = world.users["caseworker"]
    response = csrf_client.post("/auth/login", data={"username": user.username, "password": user.password})
    assert response.status_code == 400
    token = csrf_token(csrf_client)
    ok = csrf_client.post("/auth/login", data={"username": user.username, "password": user.password,
                                               "csrf_token": token})
    assert ok.status_code == 302


def test_security_headers(client):
    response = client.get("/auth/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_hsts_on_secure_deployments(settings):
    from services.app import create_app

    app = create_app(settings.with_(cookie_secure=True))
    try:
        response = new_client(app).get("/auth/login")
        assert "max-age=" in response.headers["Strict-Transport-Security"]
    finally:
        app.extensions["qorgau_db"].close()


def test_open_redirects_are_refused(client, world):
    user = world.users["caseworker"]
    client.get("/auth/login?next=//evil.example/x")
    response = sign_in(client, user)
    assert response.headers["Location"] == "/"


def test_sign_in_returns_to_the_page_asked_for(client, world):
    user = world.users["caseworker"]
    first = client.get("/")
    assert first.status_code == 302
    client.get(first.headers["Location"])
    response = sign_in(client, user)
    assert response.headers["Location"] == "/"


def test_production_hashing_is_argon2id_with_rfc9106_parameters():
    import subprocess
    import sys

    code = ("from services.auth import passwords; h = passwords.hash_password('x' * 12); "
            "print(h.split('$')[1], h.split('$')[3])")
    env = {k: v for k, v in __import__("os").environ.items() if k != "QORGAU_TEST_CHEAP_HASHING"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["argon2id", "m=65536,t=3,p=4"]
