"""Every page type passes axe-core with no serious or critical violation, and renders in kk and ru
with no English message left; a screenshot of each is saved under the test output folder."""
from __future__ import annotations

from tests.ui.conftest import choose_language, screenshot, serious_violations
from tests.ui.pages import PageType, english_messages

PAGES = [
    PageType("sign-in", None, "/auth/login"),
    PageType("home-caseworker", "psychologist.school12", "/"),
    PageType("home-oversight", "prosecutor.mng", "/"),
    PageType("admin-users", "admin.school12", "/admin/users"),
    PageType("admin-agencies", "sysadmin", "/admin/agencies"),
    PageType("admin-calendar", "sysadmin", "/admin/regions/calendar"),
    PageType("admin-deadline-policy", "sysadmin", "/admin/regions/deadline-policy"),
    PageType("admin-dead-letters", "sysadmin", "/admin/outbox/dead"),
    PageType("statistics-council", "secretary.council", "/statistics"),
    PageType("statistics-oversight", "prosecutor.mng", "/statistics"),
    PageType("not-found", "worker.social", "/no/such/page"),
]


def _by_user(pages):
    users: dict[str | None, list[PageType]] = {}
    for page in pages:
        users.setdefault(page.user, []).append(page)
    return users


def sweep(people, pages, ids=None) -> list[str]:
    """Open every page in en (axe, screenshot), kk and ru (no English message); list problems."""
    english = english_messages()
    problems = []
    for user, kinds in _by_user(pages).items():
        page = people.signed_in(user) if user else people.page()
        for lang in ("en", "kk", "ru"):
            choose_language(page, lang)
            for kind in kinds:
                page.goto(kind.path.format(**(ids or {})))
                if page.locator("html").get_attribute("lang") != lang:
                    problems.append(f"{kind.name}: not rendered in {lang}")
                if lang == "en":
                    for v in serious_violations(page):
                        problems.append(f"{kind.name}: axe {v['impact']} {v['id']} ({v['help']})"
                                        f" at {v['nodes'][:3]}")
                    screenshot(page, kind.name)
                else:
                    text = page.locator("body").inner_text()
                    left = sorted(m for m in english if m in text)
                    if left:
                        problems.append(f"{kind.name} in {lang}: untranslated {left[:5]}")
        choose_language(page, "en")
    return problems


def test_every_page_type_passes_axe_and_is_translated(people):
    problems = sweep(people, PAGES)
    assert not problems, "\n".join(problems)
