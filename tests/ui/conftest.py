"""Fixtures for the UI: pages over HTTP with the test client, and pages in a real browser.

Browser tests use the real app served by a real HTTP server, driven by Debian's Chromium. The UI
suite has a database of its own (from the migrated template) holding the demo world with a
known password, so the pages are exercised exactly as ``make run`` users meet them. Chromium and
axe-core (``npm ci``) are required: a missing one fails the tests, it never skips them.
"""
from __future__ import annotations

import json
import os
import threading
import time
import uuid
from pathlib import Path

import pyotp
import pytest
from werkzeug.serving import make_server

from tests.case_factories import make_case_world
from tests.conftest import _drop, _recreate, db_url, make_settings, new_client
from tests.platform.helpers import sign_in as sign_in_over_http

CHROMIUM = os.environ.get("QORGAU_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DEMO_PASSWORD = "demo password for browser tests"
ROOT = Path(__file__).resolve().parents[2]
OUTPUT = Path(os.environ.get("QORGAU_UI_OUTPUT", ROOT / "var" / "ui-test-output"))


# --- pages over HTTP (the test client), for rules that need no browser ---------------------------

@pytest.fixture(scope="session")
def cw(app):
    """One world of agencies and users for the UI tests (``case_factories.make_case_world``)."""
    with app.app_context():
        return make_case_world()


@pytest.fixture(scope="session")
def page_as(app, cw):
    """``page_as("social_worker")``: a signed-in English test client, one per user."""
    clients = {}

    def for_user(name: str):
        if name not in clients:
            client = new_client(app)
            with app.app_context():
                sign_in_over_http(client, cw.users[name])
            client.post("/language", data={"lang": "en", "next": "/"})
            clients[name] = client
        return clients[name]

    return for_user


# --- pages in a real browser ---------------------------------------------------------------------

@pytest.fixture(scope="session")
def ui_database_url(template_db):
    """A database of the UI suite's own, migrated, with the demo world loaded."""
    name = f"qorgau_ui_{uuid.uuid4().hex[:10]}"
    _recreate(name, template_db)
    yield db_url(name)
    _drop(name)


@pytest.fixture(scope="session")
def ui_app(ui_database_url, tmp_path_factory):
    """The app as a browser meets it: CSRF on, the demo world loaded."""
    from audit import Actor
    from services import demo
    from services.app import create_app
    from services.db import transaction

    app = create_app(make_settings(ui_database_url, pool_max=8))
    credentials = tmp_path_factory.mktemp("demo") / "demo-credentials.json"
    with app.app_context():
        with transaction(Actor.system("ui-tests")) as conn:
            demo.load(conn, password=DEMO_PASSWORD, path=credentials)
    app.config["DEMO_CREDENTIALS"] = json.loads(credentials.read_text())
    yield app
    app.extensions["qorgau_db"].close()


@pytest.fixture(scope="session")
def live_server(ui_app):
    """The app behind werkzeug's threaded HTTP server on a free loopback port; yields its URL."""
    server = make_server("127.0.0.1", 0, ui_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="ui-live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def chromium():
    """Headless Debian Chromium under Playwright (fails, never skips, when it is missing)."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), (
        f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium chromium-driver)")
    axe = ROOT / "node_modules" / "axe-core" / "axe.min.js"
    assert axe.exists(), "node_modules/axe-core is missing: run `make install` (npm ci)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


class People:
    """Opens a separate browser context per user (like separate people at separate desks)."""

    def __init__(self, chromium, base_url: str, credentials: dict, request):
        self.chromium = chromium
        self.base_url = base_url
        self.credentials = credentials
        self.contexts = []
        self.request = request

    def context(self, *, locale: str = "en-GB", java_script: bool = True, storage_state=None):
        ctx = self.chromium.new_context(base_url=self.base_url, locale=locale,
                                        java_script_enabled=java_script, storage_state=storage_state,
                                        extra_http_headers={"Accept-Language": locale})
        ctx.set_default_timeout(10_000)
        self.contexts.append(ctx)
        return ctx

    def page(self, **kwargs):
        return self.context(**kwargs).new_page()

    def signed_in(self, username: str, *, java_script: bool = True, language: str = "en"):
        """A page of a new context in which ``username`` is signed in and has picked ``language``
        (demo users prefer kk or ru; assertions read English).

        Each user signs in through the forms once per run; later contexts reuse that session's
        cookie, since argon2id makes every password check take most of a second.
        """
        state = _sessions.get(username)
        ctx = self.context(java_script=java_script, storage_state=state)
        page = ctx.new_page()
        if state is None:
            sign_in(page, username, self.credentials)
            _sessions[username] = ctx.storage_state()
        else:
            page.goto("/")
            if "/auth/" in page.url:  # the session was ended (sign-out, role change): sign in again
                sign_in(page, username, self.credentials)
                _sessions[username] = ctx.storage_state()
        choose_language(page, language)
        return page

    def close(self):
        for ctx in self.contexts:
            ctx.close()


@pytest.fixture
def people(chromium, live_server, ui_app, request):
    """A factory of signed-in browser pages, one context per person, closed after the test."""
    crowd = People(chromium, live_server, ui_app.config["DEMO_CREDENTIALS"], request)
    yield crowd
    crowd.close()


_last_step: dict[str, int] = {}
_sessions: dict[str, dict] = {}  # username → Playwright storage state of a signed-in context


def totp_code(username: str, secret: str) -> str:
    """A code not used before for ``username`` (each code is accepted once, ±1 step)."""
    while True:
        current = int(time.time() // 30)
        step = max(current, _last_step.get(username, -1) + 1)
        if step <= current + 1:
            _last_step[username] = step
            return pyotp.TOTP(secret).at(step * 30)
        time.sleep(1)


def sign_in(page, username: str, credentials: dict) -> None:
    """Sign in through the pages (the TOTP step too for roles that need it)."""
    page.goto("/auth/login")
    page.fill("#username", username)
    page.fill("#password", DEMO_PASSWORD)
    with page.expect_navigation():
        page.click("form[action$='/auth/login'] button[type=submit]")
    if page.url.endswith("/auth/totp"):
        page.fill("#code", totp_code(username, credentials[username]["totp_secret"]))
        with page.expect_navigation():
            page.click("form[action$='/auth/totp'] button[type=submit]")
    assert "/auth/" not in page.url, f"{username} could not sign in: {page.url}"


def choose_language(page, lang: str) -> None:
    """Use the language picker on the current page (it also sets a signed-in user's preference)."""
    if page.url == "about:blank":
        page.goto("/auth/login")
    page.select_option("#lang", lang)
    with page.expect_navigation():
        page.click("form.lang button[type=submit]")


def serious_violations(page) -> list[dict]:
    """axe-core's serious and critical findings on the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url="/static/vendor/axe.js")
    found = page.evaluate("""async () => {
        const result = await axe.run(document, {resultTypes: ['violations']});
        return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                             nodes: v.nodes.map(n => n.target.join(' '))}));
    }""")
    return [v for v in found if v["impact"] in ("serious", "critical")]


# `make screenshots` sets QORGAU_SCREENSHOTS=docs/screenshots: the pages the README shows are
# also written there (page name → file name), cut to the top of the page.
README_SCREENSHOTS = {"scenario-1-file-referral": "file-referral", "scenario-2-queue": "queue",
                      "referral": "referral", "child": "child", "case": "case",
                      "scenario-4-escalations": "escalations", "who-has-seen": "reports"}
README_SIZE = (1280, 900)


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under the test output folder (and for the README, if asked)."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    readme = os.environ.get("QORGAU_SCREENSHOTS")
    if readme and name in README_SCREENSHOTS:
        folder = ROOT / readme
        folder.mkdir(parents=True, exist_ok=True)
        height = min(README_SIZE[1], page.evaluate("document.documentElement.scrollHeight"))
        page.screenshot(path=str(folder / f"{README_SCREENSHOTS[name]}.png"), full_page=True,
                        clip={"x": 0, "y": 0, "width": README_SIZE[0], "height": height})
    return path


def deliver_notifications(app) -> int:
    """Relay and deliver every due outbox row now, as the relay and a worker would (e-mail to the
    log); how many rows were delivered."""
    from services.notifications.delivery import deliver
    from workflows.outbox import relay_once

    db = app.extensions["qorgau_db"]
    due: list[int] = []
    with app.app_context():
        relay_once(db, send=lambda task, outbox_id: due.append(outbox_id))
        for outbox_id in due:
            deliver(db, outbox_id, smtp_url=None, mail_from="qorgau@localhost",
                    base_url="http://localhost")
    return len(due)
