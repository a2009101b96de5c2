"""Kazakh, Russian and English, picked per user: preference, then the picker, then the browser."""
from __future__ import annotations

from flask import Flask, g, request, session
from flask_babel import Babel, get_locale

LANGUAGES = ("kk", "ru", "en")
LANGUAGE_NAMES = {"kk": "Қазақша", "ru": "Русский", "en": "English"}
babel = Babel()


def select_locale() -> str:
    """The signed-in user's preference, else the language picked on this browser, else Accept-Language."""
    user = g.get("user")
    if user is not None and user.get("preferred_language") in LANGUAGES:
        return user["preferred_language"]
    picked = session.get("lang")
    if picked in LANGUAGES:
        return picked
    return request.accept_languages.best_match(LANGUAGES) or "ru"


def select_timezone() -> str:
    """Display times in the region's zone (storage is UTC)."""
    from flask import current_app

    return current_app.config["QORGAU_SETTINGS"].timezone


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "ru")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "translations")
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)

    @app.context_processor
    def _languages():
        return {"LANGUAGES": LANGUAGES, "LANGUAGE_NAMES": LANGUAGE_NAMES, "get_locale": get_locale}
