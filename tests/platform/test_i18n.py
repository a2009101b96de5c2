"""Every message in the code and templates has a Kazakh and a Russian translation."""
from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> set[str]:
    out = tmp_path_factory.mktemp("i18n") / "messages.pot"
    CommandLineInterface().run(["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"), "-k", "_l",
                                "-o", str(out), str(ROOT)])
    with out.open("rb") as fh:
        return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fh) if m.id}


@pytest.mark.parametrize("lang", ["kk", "ru"])
def test_every_message_is_translated(extracted, lang):
    with (ROOT / "services" / "translations" / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    translated = {(m.id if isinstance(m.id, str) else m.id[0])
                  for m in catalog if m.id and m.string and "fuzzy" not in m.flags}
    missing = sorted(extracted - translated)
    assert not missing, f"{len(missing)} messages lack a {lang} translation, e.g. {missing[:5]}"
    assert len(extracted) > 20
    if lang == "ru":  # a Kazakh-only letter in the Russian catalogue means a misplaced translation
        wrong = [m.id for m in catalog if m.string and set(str(m.string)) & set("әғқңөұүһіӘҒҚҢӨҰҮҺІ")]
        assert not wrong, wrong


def test_language_picker_and_preference(client, world):
    page = client.get("/auth/login", headers={"Accept-Language": "en"})
    assert "Sign in" in page.get_data(as_text=True)
    client.post("/language", data={"lang": "kk", "next": "/auth/login"})
    kk = client.get("/auth/login").get_data(as_text=True)
    assert '<html lang="kk">' in kk and "Кіру" in kk
    client.post("/language", data={"lang": "ru", "next": "/auth/login"})
    assert "Войти" in client.get("/auth/login").get_data(as_text=True)


def test_signed_in_users_preference_is_remembered(client, world, admin_conn):
    from tests.platform.helpers import sign_in

    user = world.users["caseworker"]
    sign_in(client, user)
    client.post("/language", data={"lang": "kk", "next": "/"})
    row = admin_conn.execute("SELECT preferred_language FROM users WHERE id = %s", (user.id,)).fetchone()
    assert row["preferred_language"] == "kk"
    assert "Қош келдіңіз" in client.get("/").get_data(as_text=True)
