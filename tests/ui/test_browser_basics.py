"""Sign-in with the keyboard only, the language switch, and the idle time-out warning, in Chromium."""
from __future__ import annotations

import time

from tests.ui.conftest import DEMO_PASSWORD, choose_language, totp_code


def _eventually(check, seconds: float = 5) -> None:
    """Poll from Python: the page's own timers are frozen by the fake clock."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the page did not get there in time"
        time.sleep(0.05)


def _tab_to(page, element_id: str, limit: int = 15) -> None:
    """Press Tab until the element with ``element_id`` has the focus."""
    for _ in range(limit):
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"#{element_id} cannot be reached with the Tab key")


def test_a_supervisor_signs_in_with_the_keyboard_only(people):
    page = people.page()
    page.goto("/auth/login")
    _tab_to(page, "username")
    page.keyboard.type("head.social")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type(DEMO_PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/auth/totp")
    _tab_to(page, "code")
    page.keyboard.type(totp_code("head.social", people.credentials["head.social"]["totp_secret"]))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("#agency-name").inner_text() == "Munaily guardianship and family support"
    # The first Tab from the top of a page reaches the skip link, and it leads to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"


def test_the_language_switch_changes_the_page_and_is_remembered(people):
    page = people.page()
    page.goto("/auth/login")
    choose_language(page, "kk")
    assert page.locator("html").get_attribute("lang") == "kk"
    assert page.locator("h1").inner_text() == "Кіру"
    choose_language(page, "ru")
    assert page.locator("h1").inner_text() == "Войти"
    signed = people.signed_in("worker.social", language="ru")
    assert "Добро пожаловать" in signed.locator("h1").inner_text()
    choose_language(signed, "kk")
    signed.goto("/")
    assert "Қош келдіңіз" in signed.locator("h1").inner_text()
    choose_language(signed, "en")


def test_the_idle_warning_appears_at_25_minutes_and_staying_signed_in_keeps_the_session(people):
    page = people.signed_in("worker.social")
    page.clock.install()
    page.goto("/")
    warning = page.locator("#idle-warning")
    assert warning.is_hidden()
    page.clock.run_for("24:59")
    assert warning.is_hidden()
    page.clock.run_for("00:02")
    assert warning.is_visible()
    assert page.evaluate("document.activeElement.id") == "stay-signed-in"
    with page.expect_response(lambda r: r.url.endswith("/session/keep-alive")) as answer:
        page.click("#stay-signed-in")
    assert answer.value.status == 200
    _eventually(lambda: warning.is_hidden())
    page.clock.run_for("24:00")
    assert warning.is_hidden()
    # Without an answer, the page goes to the sign-in form when the 30 minutes are up (here the
    # server's session is still young in real time, so the form sends the user straight back).
    page.clock.run_for("02:00")
    assert warning.is_visible()
    with page.expect_request(lambda r: "/auth/login" in r.url):
        page.clock.run_for("04:00")
